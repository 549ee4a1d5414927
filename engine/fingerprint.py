"""A fingerprint of a function's code: what it computes, not how it is laid out or explained.

kernels.py lets a faster kernel stand in for a function of layers.py only while that function
is as shipped. "As shipped" means the same code: the same tokens in the same order, whatever
its comments, docstrings, blank lines and spacing say. So a reader who adds a comment or
rewrites a docstring keeps the fast path, and one who changes a number or an operator gets
exactly their own code.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import tokenize
from types import ModuleType

# tokens that only lay code out: they change nothing it computes
LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
# tokens whose place is structure but whose text is spacing: kept by name only
STRUCTURE = {tokenize.NEWLINE: "<NEWLINE>", tokenize.INDENT: "<INDENT>",
             tokenize.DEDENT: "<DEDENT>"}
FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12 on: f"" in pieces
FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def code_tokens(source: str) -> list[str]:
    """The tokens of `source` that say what it computes, as strings: no comments, blank
    lines or docstrings (a def's or class's first statement when it is a bare string);
    indentation as <INDENT> and <DEDENT>, line ends as <NEWLINE>, whatever their spacing.

        code_tokens('def f(x):\\n    "Doc."\\n    return 2*x  # twice\\n')
        -> ['def', 'f', '(', 'x', ')', ':', '<NEWLINE>', '<INDENT>',
            'return', '2', '*', 'x', '<NEWLINE>', '<DEDENT>']
    """
    lines = _logical_lines(source)
    kept = []
    for i, line in enumerate(lines):
        docstring = (i >= 2 and _opens_body(lines[i - 2]) and _is_indent(lines[i - 1])
                     and _is_bare_string(line))
        if not docstring:
            kept += [s for _, s in line]
    return kept


def _opens_body(line: list[tuple[int, str]]) -> bool:
    """Whether a logical line is a def's or class's header, its body on the lines below."""
    words = [s for _, s in line]
    return ((words[:1] in (["def"], ["class"]) or words[:2] == ["async", "def"])
            and words[-2:] == [":", "<NEWLINE>"])


def _is_indent(line: list[tuple[int, str]]) -> bool:
    return [t for t, _ in line] == [tokenize.INDENT]


def _is_bare_string(line: list[tuple[int, str]]) -> bool:
    """Whether a logical line is a string and nothing else (in parentheses, maybe)."""
    words = [(t, s) for t, s in line[:-1] if s not in "()"]
    return bool(words) and all(t == tokenize.STRING for t, _ in words)


def _logical_lines(source: str) -> list[list[tuple[int, str]]]:
    """(type, string) of the tokens of `source` that are not layout, one list per logical
    line (ended by its <NEWLINE>), <INDENT> and <DEDENT> lines of their own, f-strings
    whole."""
    starts = [0]  # offset of each line's first character
    for text in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(text))
    lines, line, fstring = [], [], []  # fstring: starts of the f-strings open here
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == FSTRING_START:
            fstring.append(tok.start)
        elif tok.type == FSTRING_END:
            (r0, c0), (r1, c1) = fstring.pop(), tok.end
            if not fstring:  # the outermost one: its text as written, as Python 3.11 gives it
                line.append((tokenize.STRING, source[starts[r0 - 1] + c0:starts[r1 - 1] + c1]))
        elif fstring:
            continue
        elif tok.type in STRUCTURE:
            lines.append([*line, (tok.type, STRUCTURE[tok.type])])
            line = []
        elif tok.type not in LAYOUT:
            line.append((tok.type, tok.string))
    return [*lines, line] if line else lines


def fingerprint(module: ModuleType, names: tuple[str, ...]) -> str:
    """sha256 (16 hex digits) of the code of `names` in `module` (code_tokens of each
    function's source); "" if it has none."""
    try:
        tokens = [t for name in names
                  for t in code_tokens(inspect.getsource(getattr(module, name)))]
    except (OSError, TypeError, AttributeError, SyntaxError, tokenize.TokenError):
        return ""
    return hashlib.sha256("\x00".join(tokens).encode("utf-8")).hexdigest()[:16]
