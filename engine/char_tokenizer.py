"""One token per character, as in nanoGPT's Shakespeare example.

The vocabulary is every distinct character of the training text, sorted, followed by "�"
(U+FFFD), which stands in for any character the text never showed. For the corpus
"hello world":

    id     0    1    2    3    4    5    6    7    8
    char  " "  "d"  "e"  "h"  "l"  "o"  "r"  "w"  "�"

    encode("hello")          -> [3, 2, 4, 4, 5]
    encode("help!")          -> [3, 2, 4, 8, 8]    "p" and "!" are unknown: both become "�"
    unknown_chars("help!")   -> [(3, "p"), (4, "!")]
    decode([7, 5, 6, 4, 1])  -> "world"
"""

from __future__ import annotations

from collections.abc import Iterable

UNKNOWN = "\ufffd"  # "�", the token for every character outside the vocabulary


class CharTokenizer:
    """Maps each character to its index in `chars`; unknown characters map to "�"."""

    kind = "char"

    def __init__(self, chars: Iterable[str]):
        """`chars` is the vocabulary in id order; it must contain "�" exactly once."""
        self.chars: list[str] = list(chars)
        self.stoi: dict[str, int] = {}  # character -> id
        for i, ch in enumerate(self.chars):
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"chars[{i}] must be a single character, got {ch!r}")
            if ch in self.stoi:
                raise ValueError(
                    f"duplicate character {ch!r} in chars: at {self.stoi[ch]} and at {i}"
                )
            self.stoi[ch] = i
        if UNKNOWN not in self.stoi:
            raise ValueError(f"chars lacks the unknown token {UNKNOWN!r} (U+FFFD)")
        self.itos: dict[int, str] = dict(enumerate(self.chars))  # id -> character
        self.unknown_id = self.stoi[UNKNOWN]

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted characters of `text`, then "�" (not repeated if `text` contains it)."""
        if not text:
            raise ValueError("cannot build a character vocabulary from an empty corpus")
        return cls([*sorted(set(text) - {UNKNOWN}), UNKNOWN])

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """One id per character; characters outside the vocabulary become "�"."""
        return [self.stoi.get(ch, self.unknown_id) for ch in text]

    def unknown_chars(self, text: str) -> list[tuple[int, str]]:
        """(position, character) of each character that `encode` would turn into "�"."""
        return [(i, ch) for i, ch in enumerate(text) if ch not in self.stoi]

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of `ids`, joined: [7, 5, 6, 4, 1] -> "world" (module doc)."""
        return "".join(self.itos[i] for i in ids)

    def piece(self, id: int) -> str:
        """The character token `id` stands for."""
        return self.itos[id]

    def to_dict(self) -> dict:
        """{"kind": "char", "chars": [" ", "d", "e", ...]}, ready for json.dumps."""
        return {"kind": self.kind, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        """Inverse of `to_dict`; raises ValueError naming what is wrong with `d`."""
        if "chars" not in d:
            raise ValueError("char tokenizer dict is missing 'chars'")
        if not isinstance(d["chars"], list):
            raise ValueError(
                f"'chars' must be a list of single characters, not {type(d['chars']).__name__}"
            )
        return cls(d["chars"])
