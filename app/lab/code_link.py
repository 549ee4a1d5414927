"""A code edit in a link: the reader's edited engine files, as a compressed difference
against the shipped source, in the `code` part of a share link's hash.

    #view=code&code=1.eJyLVkrOz0nJ...

The part after "1." (the format's version) is base64url, without padding, of raw DEFLATE of
UTF-8 JSON holding, per edited file, the shipped file it was made against (the first 12 hex
digits of its SHA-256) and the changes, each replacing lines start..end (0-based, end
excluded, line endings kept) of that file:

    {"layers.py": ["3f1c0a9e42b7", [[118, 119, ["    att = softmax(scores)\\n"]]]]}

A link made against another version of a file says so instead of applying its changes to
text they were not made for. Everything in the part is data: it is checked, never run (the
Code view shows it, and the reader presses Run), and every message quotes it escaped.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import zlib

from app.i18n import N_

FORMAT = "1"
MAX_LINK = 8000  # characters of the code part, at most: a link's size a reader can send
MAX_INFLATED = 800_000  # bytes the compressed part may unpack to (a DEFLATE bomb stops here)
MAX_SOURCE = 400_000  # characters of an edited file (the editor's limit, code_runner.py)
DIGEST = 12  # hex digits of SHA-256 that name the shipped file a link was made against

MESSAGES = {
    "too_long": N_("The link's code is {length:,} characters long; a link may carry at most "
                   "{limit:,}. The lab opened without it."),
    "version": N_("The link's code is in format {found!r}; this lab reads format {FORMAT}. "
                  "The lab opened without it."),
    "damaged": N_("The link's code is damaged ({why}). The lab opened without it."),
    "unknown": N_("The link's code changes {name!r}, which is not a file the editor offers. "
                  "The lab opened without it."),
    "other_version": N_("The link's code was made for another version of {name}; applying "
                        "it to this one would give garbage. The lab opened without it."),
    "edit_too_long": N_("Your edits make a link of {length:,} characters; a link may carry "
                        "at most {limit:,}. Download them instead."),
}


class CodeLinkError(ValueError):
    """A code part that cannot be used; the message says why, for the reader (its
    `template` and `values` say it again in the reader's language: app/i18n)."""

    def __init__(self, template: str, **values):
        super().__init__(template.format(**values))
        self.template, self.values = template, values


def digest(source: str) -> str:
    """The name a link gives the shipped file it was made against."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:DIGEST]


def changes(shipped: str, edited: str) -> list[list]:
    """[start, end, new lines] for each run of shipped lines the edit replaced."""
    before, after = shipped.splitlines(keepends=True), edited.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [[i1, i2, after[j1:j2]] for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"]


def encode(edits: dict[str, str], shipped: dict[str, str]) -> str:
    """The code part for `edits` (file name -> edited source), against `shipped`.

    Raises CodeLinkError if it would be longer than MAX_LINK characters.
    """
    payload = {name: [digest(shipped[name]), changes(shipped[name], text)]
               for name, text in sorted(edits.items()) if text != shipped[name]}
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    text = f"{FORMAT}.{base64.urlsafe_b64encode(packed).decode('ascii').rstrip('=')}"
    if len(text) > MAX_LINK:
        raise CodeLinkError(MESSAGES["edit_too_long"], length=len(text), limit=MAX_LINK)
    return text


def decode(text: str, shipped: dict[str, str]) -> dict[str, str]:
    """The edited files (file name -> source) a code part carries, made against `shipped`
    (the files the editor offers, by name). Raises CodeLinkError saying what is wrong."""
    if len(text) > MAX_LINK:
        raise CodeLinkError(MESSAGES["too_long"], length=len(text), limit=MAX_LINK)
    found, dot, body = text.partition(".")
    if not dot or found != FORMAT:
        raise CodeLinkError(MESSAGES["version"], found=found[:12], FORMAT=FORMAT)
    payload = _unpack(body)
    if not isinstance(payload, dict) or not payload:
        raise _damaged("it names no file")
    edits = {}
    for name, entry in payload.items():
        if name not in shipped:
            raise CodeLinkError(MESSAGES["unknown"], name=str(name)[:60])
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], list)):
            raise _damaged(f"the entry for {name} is not [file digest, changes]")
        if entry[0] != digest(shipped[name]):
            raise CodeLinkError(MESSAGES["other_version"], name=name)
        edits[name] = _apply(shipped[name], entry[1], name)
    return edits


def _damaged(why: str) -> CodeLinkError:
    return CodeLinkError(MESSAGES["damaged"], why=why)


def _unpack(body: str):
    """base64url -> DEFLATE -> UTF-8 -> JSON, each step checked, the unpacked size capped."""
    try:
        packed = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_",
                                  validate=True)
    except (binascii.Error, ValueError):
        raise _damaged("not base64") from None
    unpacker = zlib.decompressobj(-15)
    try:
        data = unpacker.decompress(packed, MAX_INFLATED)
    except zlib.error:
        raise _damaged("not compressed data") from None
    if unpacker.unconsumed_tail:
        raise _damaged(f"it unpacks to more than {MAX_INFLATED:,} bytes")
    if not unpacker.eof:
        raise _damaged("cut short")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _damaged("not JSON") from None


def _apply(shipped: str, ops: list, name: str) -> str:
    """`shipped` with each [start, end, new lines] of `ops` applied, in order."""
    lines = shipped.splitlines(keepends=True)
    out, at = [], 0
    for op in ops:
        if not (isinstance(op, list) and len(op) == 3 and all(
                isinstance(i, int) and not isinstance(i, bool) for i in op[:2])
                and isinstance(op[2], list) and all(isinstance(s, str) for s in op[2])):
            raise _damaged(f"a change to {name} is not [start, end, lines]")
        start, end, new = op
        if not at <= start <= end <= len(lines):
            raise _damaged(f"a change to {name} points outside it or out of order")
        out += lines[at:start] + new
        at = end
    text = "".join(out + lines[at:])
    if len(text) > MAX_SOURCE:
        raise _damaged(f"{name} would be longer than {MAX_SOURCE:,} characters")
    return text
