"""What every tokenizer offers, and how to load one back from its dict.

A tokenizer turns text into the integer ids a GPT reads, and ids back into text. There are
two kinds; here is what each makes of "hello":

    kind   ids                      vocabulary
    char   [3, 2, 4, 4, 5]          the corpus's characters, sorted, then "�" (CharTokenizer)
    bpe    [104, 101, 256, 111]     the 256 bytes, then learned merges like "ll" (BPETokenizer)

`to_dict()` gives plain JSON-ready data and `tokenizer_from_dict` rebuilds the tokenizer:

    tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))  # works like tok
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from engine.bpe_tokenizer import BPETokenizer
from engine.char_tokenizer import CharTokenizer


@runtime_checkable
class Tokenizer(Protocol):
    """The interface CharTokenizer and BPETokenizer share."""

    kind: str  # "char" or "bpe", as in to_dict()["kind"]

    @property
    def vocab_size(self) -> int:
        """How many ids there are; they run from 0 to vocab_size - 1."""

    def encode(self, text: str) -> list[int]:
        """The ids of `text`. Never raises for any str."""

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; decode(encode(text)) == text for text the vocabulary covers."""

    def piece(self, id: int) -> str:
        """The text one token stands for, readable even when it is part of a character."""

    def to_dict(self) -> dict:
        """JSON-ready data with a "kind" key, for `tokenizer_from_dict`."""


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()`, e.g. {"kind": "bpe", "merges": [[108, 108]]}.

    Raises ValueError naming the problem if `d` is not such a dict.
    """
    if not isinstance(d, dict):
        raise ValueError(f"a tokenizer dict must be a dict, not {type(d).__name__}")
    match d.get("kind"):
        case "char":
            return CharTokenizer.from_dict(d)
        case "bpe":
            return BPETokenizer.from_dict(d)
        case None:
            raise ValueError("tokenizer dict is missing 'kind' ('char' or 'bpe')")
        case kind:
            raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'char' or 'bpe'")
