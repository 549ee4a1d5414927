"""Byte-level byte-pair encoding (BPE) in the style of GPT-2.

Take a tokenizer that learned two merges: first (108, 108) -> 256 ("ll"), then
(104, 101) -> 257 ("he"). It encodes "hello world" in three steps:

1. Split the text into chunks with CHUNK_PATTERN. Merges never cross a chunk boundary, so no
   token glues the end of one word to the start of the next:
       "hello world" -> ["hello", " world"]
2. Write each chunk as UTF-8 bytes. The 256 byte values are the first 256 token ids, so any
   text can be encoded, even with no merges at all:
       "hello"  -> [104, 101, 108, 108, 111]
       " world" -> [32, 119, 111, 114, 108, 100]
3. Apply the merges, the earliest learned first. Merge i replaces each adjacent pair (a, b)
   by the id 256 + i:
       [104, 101, 108, 108, 111] -> [104, 101, 256, 111] -> [257, 256, 111]
   " world" contains neither pair and stays as it is.

So "hello world" -> [257, 256, 111, 32, 119, 111, 114, 108, 100]. Decoding looks each id up as
bytes (257 -> b"he", 256 -> b"ll", 111 -> b"o", ...), joins them and decodes them as UTF-8.

Training learns the merges: count the adjacent pairs in the corpus, merge the most frequent
pair everywhere, give it the next id, and repeat.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import pairwise
from typing import NamedTuple

# GPT-2's split pattern with Python's `re` classes in place of \p{L} (letters) and \p{N}
# (numbers). The alternatives cover every character, so the chunks always join back up to
# the text: "Hi, it's 2024!\n" -> ["Hi", ",", " it", "'s", " 2024", "!", "\n"].
CHUNK_PATTERN = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d"  # common English contractions
    r"| ?[^\W\d_]+"  # letters (word characters that are neither digits nor "_")
    r"| ?\d+"  # digits
    r"| ?(?:[^\s\w]|_)+"  # everything else that is not whitespace: punctuation, emoji, "_"
    r"|\s+(?!\S)"  # whitespace, leaving its last character to start the next chunk
    r"|\s+"  # whitespace the alternative above could not take
)
CHUNK_CACHE_SIZE = 1 << 16  # chunk encodings one tokenizer remembers before starting afresh


class MergeStep(NamedTuple):
    """One merge as `BPETokenizer.encode_with_steps` applied it to the whole text."""

    pair: tuple[int, int]  # the adjacent ids that were merged
    new_id: int  # the id they became
    piece: str  # the text of new_id, as BPETokenizer.piece gives it
    count: int  # how many places the pair was merged
    ids: list[int]  # the text's token ids after this step


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of `pair` in `ids`, scanning left to right, by `new_id`.

    merge_pair([5, 6, 6, 6, 7], (6, 6), 256) -> [5, 256, 6, 7]
    """
    merged = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def chunk_bytes(chunk: str) -> list[int]:
    """The UTF-8 bytes of `chunk`, as ids: "hé" -> [104, 195, 169].

    A lone surrogate (half of an emoji, as a broken JavaScript string can carry) is encoded
    as if it were a character, and decodes to "���" instead of raising.
    """
    return list(chunk.encode("utf-8", errors="surrogatepass"))


class BPETokenizer:
    """Byte-level BPE: ids 0..255 are bytes, id 256 + i is the i-th learned merge."""

    kind = "bpe"

    def __init__(self, merges: Iterable[tuple[int, int]] = ()):
        """`merges` in the order they were learned; each may only use ids defined before it."""
        self.merges: dict[tuple[int, int], int] = {}  # (a, b) -> the id it merges into
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}  # id -> bytes
        for rank, pair in enumerate(merges):
            new_id = 256 + rank
            if not (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
            ):
                raise ValueError(f"merges[{rank}] must be a pair of token ids, got {pair!r}")
            a, b = pair
            if not (0 <= a < new_id and 0 <= b < new_id):
                raise ValueError(
                    f"merges[{rank}] = {pair!r} uses an id that is not defined yet: "
                    f"only ids 0..{new_id - 1} exist before it creates {new_id}"
                )
            if (a, b) in self.merges:
                raise ValueError(
                    f"merges[{rank}] repeats the pair {pair!r} of merges[{self.merges[a, b] - 256}]"
                )
            self.merges[a, b] = new_id
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        self._chunk_cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Learn vocab_size - 256 merges from `text`, or fewer if no pair occurs twice any more.

        Each round merges the most frequent adjacent pair. Ties go to the lowest pair in id
        order, (a, b) < (a, c) < (b, a) for a < b < c, so training is deterministic.
        "aaabdaaabac" learns (97, 97) -> 256 "aa", which occurs 4 times; then (97, 98) -> 257
        "ab", which ties with (256, 97) at 2; then (256, 257) -> 258 "aaab", and stops.

        The counting is done once per distinct chunk, weighted by how often that chunk occurs,
        and a merge only recounts the chunks that contain the pair it merges.
        """
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256 (the bytes), got {vocab_size}")
        chunk_counts = Counter(CHUNK_PATTERN.findall(text))
        words = [chunk_bytes(chunk) for chunk in chunk_counts]  # one per distinct chunk
        weights = list(chunk_counts.values())  # how often each occurs
        pair_counts: Counter[tuple[int, int]] = Counter()
        words_with: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words
        for w, ids in enumerate(words):
            for pair in pairwise(ids):
                pair_counts[pair] += weights[w]
                words_with[pair].add(w)

        merges: list[tuple[int, int]] = []
        while len(merges) < vocab_size - 256 and pair_counts:
            pair = min(pair_counts, key=lambda p: (-pair_counts[p], p))
            if pair_counts[pair] < 2:
                break
            new_id = 256 + len(merges)
            merges.append(pair)
            # Merging removes the pair from every word for good: no later merge makes a or b.
            for w in words_with.pop(pair):
                old, new = words[w], merge_pair(words[w], pair, new_id)
                for p in pairwise(old):
                    pair_counts[p] -= weights[w]
                    if not pair_counts[p]:
                        del pair_counts[p]
                for p in pairwise(new):
                    pair_counts[p] += weights[w]
                    words_with[p].add(w)
                words[w] = new
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`: "hello world" -> [257, 256, 111, 32, 119, ...] (module doc)."""
        ids: list[int] = []
        for chunk in CHUNK_PATTERN.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Repeatedly merge the earliest-learned pair present, as GPT-2 does (cached)."""
        if chunk in self._chunk_cache:
            return self._chunk_cache[chunk]
        ids = chunk_bytes(chunk)
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: self.merges.get(p, math.inf))
            if pair not in self.merges:
                break
            ids = merge_pair(ids, pair, self.merges[pair])
        if len(self._chunk_cache) >= CHUNK_CACHE_SIZE:
            self._chunk_cache.clear()
        self._chunk_cache[chunk] = ids
        return ids

    def encode_with_steps(self, text: str) -> tuple[list[int], list[MergeStep]]:
        """`encode(text)` and the merges that produced it, one MergeStep each, in order.

        Same rule as `encode`, applied to all chunks at once: merge the earliest-learned pair
        present anywhere. With the two merges of the module doc, "hello hello" goes
            [104, 101, 108, 108, 111, 32, 104, 101, 108, 108, 111]
            -> [104, 101, 256, 111, 32, 104, 101, 256, 111]   (108, 108) -> 256 "ll", 2 places
            -> [257, 256, 111, 32, 257, 256, 111]             (104, 101) -> 257 "he", 2 places
        and the first of the two steps is
            MergeStep(pair=(108, 108), new_id=256, piece="ll", count=2, ids=[104, 101, 256, ...])
        Every step keeps a full copy of the ids: meant for prompts, not for corpora.
        """
        chunks = [chunk_bytes(chunk) for chunk in CHUNK_PATTERN.findall(text)]
        ids = [i for chunk in chunks for i in chunk]
        steps: list[MergeStep] = []
        while present := {p for chunk in chunks for p in pairwise(chunk) if p in self.merges}:
            pair = min(present, key=self.merges.__getitem__)
            new_id = self.merges[pair]
            chunks = [merge_pair(chunk, pair, new_id) for chunk in chunks]
            merged_ids = [i for chunk in chunks for i in chunk]
            count = len(ids) - len(merged_ids)
            steps.append(MergeStep(pair, new_id, self.piece(new_id), count, merged_ids))
            ids = merged_ids
        return ids, steps

    def decode(self, ids: Iterable[int]) -> str:
        """Join the ids' bytes and decode them; invalid UTF-8 becomes "�"."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def piece(self, id: int) -> str:
        """The text of token `id`, e.g. 256 -> "ll". Bytes that make no whole UTF-8 character
        show as escapes: b"\\xe2\\x82", the start of "€", -> the 8 characters \\xe2\\x82."""
        return self.vocab[id].decode("utf-8", errors="backslashreplace")

    def to_dict(self) -> dict:
        """{"kind": "bpe", "merges": [[108, 108], [104, 101], ...]}, ready for json.dumps."""
        return {"kind": self.kind, "merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_dict(cls, d: dict) -> BPETokenizer:
        """Inverse of `to_dict`; raises ValueError naming what is wrong with `d`."""
        if "merges" not in d:
            raise ValueError("bpe tokenizer dict is missing 'merges'")
        if not isinstance(d["merges"], list):
            raise ValueError(
                f"'merges' must be a list of [a, b] pairs, not {type(d['merges']).__name__}"
            )
        return cls(d["merges"])
