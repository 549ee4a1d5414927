"""Tests for the character and byte-level BPE tokenizers and their saved form."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from engine.bpe_tokenizer import CHUNK_PATTERN, BPETokenizer
from engine.char_tokenizer import CharTokenizer
from engine.tokenizer import Tokenizer, tokenizer_from_dict

CORPUS = """\
First Citizen:
Before we proceed any further, hear me speak.

All:
Speak, speak.

First Citizen:
You are all resolved rather to die than to famish? It's 2 o'clock -- they'll say we're late.
"""

NASTY_TEXTS = [
    "",
    "hello world",
    "naïve café, déjà vu",
    "e\u0301 a\u0308\u0304 Z\u0351\u0352",  # combining marks after their base letters
    "日本語のテキストと中文",  # CJK
    "👩‍👩‍👧 family 🏳️‍🌈 flag 👍🏽",  # emoji, zero-width joiners, skin tone, variation selector
    "NUL\x00in\x00the middle\x00",
    "Windows\r\nline\r\nendings\r\n",
    "  \t leading and trailing whitespace \n\n ",
    "snake_case __dunder__ x²½ Ⅻ 123,456.78",
    "\ufffd is the replacement character",
]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(CORPUS * 3, vocab_size=256 + 60)


def reference_merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """The test's own merge, left to right, to check the tokenizer against."""
    out: list[int] = []
    for i in ids:
        if out and (out[-1], i) == pair:  # out[-1] is never a new_id: it equals neither a nor b
            out[-1] = new_id
        else:
            out.append(i)
    return out


# ---- CharTokenizer ------------------------------------------------------------------------


def test_char_vocabulary_is_sorted_characters_then_unknown():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w", "\ufffd"]
    assert tok.vocab_size == 9
    assert tok.encode("hello") == [3, 2, 4, 4, 5]


def test_char_round_trip():
    tok = CharTokenizer.from_text(CORPUS)
    ids = tok.encode(CORPUS)
    assert len(ids) == len(CORPUS)
    assert tok.decode(ids) == CORPUS
    assert tok.decode(np.array(ids)) == CORPUS  # the model hands back NumPy arrays


def test_char_unknown_characters_become_replacement_and_are_reported():
    tok = CharTokenizer.from_text("abc")
    text = "abz€c👍"
    assert tok.encode(text) == [0, 1, 3, 3, 2, 3]
    assert tok.decode(tok.encode(text)) == "ab��c�"
    assert tok.unknown_chars(text) == [(2, "z"), (3, "€"), (5, "👍")]
    assert tok.unknown_chars("cab") == []


@pytest.mark.parametrize("text", [*NASTY_TEXTS, "lone \ud800 surrogate"])
def test_char_encode_never_raises(text):
    tok = CharTokenizer.from_text("abc")
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert len(tok.unknown_chars(text)) == sum(ch not in "abc\ufffd" for ch in text)


def test_char_replacement_character_in_corpus_is_not_duplicated():
    tok = CharTokenizer.from_text("b\ufffda")
    assert tok.chars == ["a", "b", "\ufffd"]
    assert tok.unknown_chars("\ufffd") == []  # "�" itself is in the vocabulary


def test_char_empty_corpus_is_an_error():
    with pytest.raises(ValueError, match="empty corpus"):
        CharTokenizer.from_text("")


# ---- chunking -----------------------------------------------------------------------------


def test_chunks_split_words_numbers_punctuation_and_whitespace():
    text = "Hello, world! It's 2024...  foo_bar\n\nx"
    assert CHUNK_PATTERN.findall(text) == [
        "Hello", ",", " world", "!", " It", "'s", " 2024", "...", " ", " foo", "_", "bar",
        "\n", "\n", "x",
    ]  # fmt: skip


@pytest.mark.parametrize("text", NASTY_TEXTS)
def test_chunks_join_back_to_the_text(text):
    assert "".join(CHUNK_PATTERN.findall(text)) == text


def random_text(rng: random.Random, surrogates: bool) -> str:
    """Up to 40 characters, each ASCII or anywhere in Unicode; lone surrogates only if asked."""
    codes = [
        rng.randrange(0x80) if rng.random() < 0.5 else rng.randrange(0x110000)
        for _ in range(rng.randrange(41))
    ]
    return "".join(chr(c) for c in codes if surrogates or not 0xD800 <= c < 0xE000)


def test_chunks_join_back_for_random_unicode():
    rng = random.Random(0)
    for _ in range(300):
        text = random_text(rng, surrogates=True)
        assert "".join(CHUNK_PATTERN.findall(text)) == text


# ---- BPETokenizer: training ---------------------------------------------------------------


def test_bpe_learns_the_textbook_merges():
    # "aaabdaaabac" is one chunk (all letters); a=97, b=98, c=99, d=100.
    # 1. Pair counts: aa 4 (overlapping: aaa holds two), ab 2, bd, da, ba, ac 1 each
    #    -> (97, 97) becomes 256. Merging left to right: 256 a b d 256 a b a c.
    # 2. (256, 97) and (97, 98) both occur twice; the tie goes to the lower pair, (97, 98),
    #    which becomes 257: 256 257 d 256 257 a c.
    # 3. (256, 257) occurs twice -> 258 ("aaab"): 258 d 258 a c.
    # 4. Every pair now occurs once, so training stops early, far below vocab_size.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=1000)
    assert list(tok.merges) == [(97, 97), (97, 98), (256, 257)]
    assert tok.vocab_size == 259
    assert [tok.piece(i) for i in (256, 257, 258)] == ["aa", "ab", "aaab"]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]


def test_bpe_training_matches_recounting_every_pair_every_round():
    # train() updates its pair counts incrementally; recounting from scratch must agree.
    text = CORPUS + " ".join(NASTY_TEXTS) * 2
    chunks = [list(chunk.encode()) for chunk in CHUNK_PATTERN.findall(text)]
    expected = []
    for new_id in range(256, 256 + 100):
        counts = Counter(pair for chunk in chunks for pair in pairwise(chunk))
        pair = min(counts, key=lambda p: (-counts[p], p))
        if counts[pair] < 2:
            break
        expected.append(pair)
        chunks = [reference_merge(chunk, pair, new_id) for chunk in chunks]
    assert list(BPETokenizer.train(text, vocab_size=256 + 100).merges) == expected


def test_bpe_stops_at_vocab_size():
    assert list(BPETokenizer.train("aaabdaaabac", vocab_size=257).merges) == [(97, 97)]
    assert BPETokenizer.train("aaabdaaabac", vocab_size=256).merges == {}


def test_bpe_vocab_size_below_256_is_an_error():
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("abc", vocab_size=255)


def test_bpe_ties_go_to_the_lowest_pair_whatever_the_text_order():
    # Chunks "ab", ".", "ab", ".", "cd", ...: (97, 98) "ab" and (99, 100) "cd" both occur
    # twice and nothing else does; the lower pair is merged first, whichever comes first.
    for text in ("ab.ab.cd.cd", "cd.cd.ab.ab"):
        assert list(BPETokenizer.train(text, vocab_size=300).merges) == [(97, 98), (99, 100)]


def test_bpe_can_learn_partial_characters():
    # "€" is b"\xe2\x82\xac". In "€€€€" (one chunk) (0x82, 0xac) and (0xe2, 0x82) both occur
    # four times and the lower pair (130, 172) wins: a token that is not a whole character.
    tok = BPETokenizer.train("€€€€", vocab_size=1000)
    assert list(tok.merges) == [(130, 172), (226, 256), (257, 257)]
    assert tok.piece(256) == "\\x82\\xac"
    assert [tok.piece(i) for i in (257, 258)] == ["€", "€€"]


def test_bpe_merges_do_not_cross_chunk_boundaries():
    # Without chunks, (97, 33) "a!" would be merged at once: it occurs four times.
    assert BPETokenizer.train("a!a!a!a!", vocab_size=300).merges == {}
    # "dog", " dog", " dog": (103, 32) "g " occurs twice but spans two chunks.
    tok = BPETokenizer.train("dog dog dog", vocab_size=1000)
    assert (103, 32) not in tok.merges
    assert [tok.piece(i) for i in tok.merges.values()] == ["do", "dog", " dog"]
    # Encoding ignores a merge across chunks too, even one the tokenizer knows.
    assert BPETokenizer([(98, 32)]).encode("ab ab") == [97, 98, 32, 97, 98]


def test_bpe_training_is_deterministic_and_independent_of_text_order():
    # Every chunk of " w1 w2 w3 ..." is " w" for a word w, so shuffling the words keeps the
    # chunk counts, and with them the merges. Breaking ties by first appearance would not.
    words = re.findall("[a-z]+", CORPUS.lower())
    shuffled = random.Random(0).sample(words, len(words))
    merges = BPETokenizer.train(" " + " ".join(words), vocab_size=300).to_dict()["merges"]
    assert len(merges) == 31  # it stops early: no pair is left that occurs twice
    for text in (" " + " ".join(words), " " + " ".join(shuffled)):
        assert BPETokenizer.train(text, vocab_size=300).to_dict()["merges"] == merges


# ---- BPETokenizer: encoding ---------------------------------------------------------------


def test_bpe_compresses_and_round_trips_its_corpus(bpe):
    ids = bpe.encode(CORPUS)
    assert len(ids) < len(CORPUS.encode()) * 0.7
    assert bpe.decode(ids) == CORPUS
    assert bpe.decode(np.array(ids)) == CORPUS
    assert bpe.encode(CORPUS) == ids  # a second time, from the chunk cache


@pytest.mark.parametrize("text", NASTY_TEXTS)
def test_bpe_round_trips_any_unicode(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


@pytest.mark.parametrize("text", NASTY_TEXTS[1:])
def test_char_round_trips_any_unicode_it_was_built_from(text):
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text


def test_bpe_round_trips_random_unicode(bpe):
    rng = random.Random(1)
    for _ in range(300):
        text = random_text(rng, surrogates=False)
        assert bpe.decode(bpe.encode(text)) == text


def test_bpe_lone_surrogate_does_not_raise(bpe):
    assert bpe.decode(bpe.encode("a\ud800b")) == "a\ufffd\ufffd\ufffdb"


def test_encode_with_steps_matches_encode_and_replays(bpe):
    text = "Speak, speak! You are all resolved; they'll die.\r\n日本 👍"
    ids, steps = bpe.encode_with_steps(text)
    assert ids == bpe.encode(text)
    assert steps, "the corpus's merges should apply to this text"

    chunks = [list(chunk.encode()) for chunk in CHUNK_PATTERN.findall(text)]
    ranks = [step.new_id for step in steps]
    assert ranks == sorted(set(ranks))  # each merge at most once, in the order learned
    for step in steps:
        assert bpe.merges[step.pair] == step.new_id
        assert step.piece == bpe.piece(step.new_id)
        before = sum(map(len, chunks))
        chunks = [reference_merge(chunk, step.pair, step.new_id) for chunk in chunks]
        assert step.ids == [i for chunk in chunks for i in chunk]
        assert step.count == before - len(step.ids) > 0
    assert steps[-1].ids == ids


def test_encode_with_steps_of_text_without_merges(bpe):
    assert bpe.encode_with_steps("") == ([], [])
    assert bpe.encode_with_steps("\x00") == ([0], [])


# ---- the common interface and saving ------------------------------------------------------


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_to_dict_round_trips_through_json(kind, bpe):
    tok = CharTokenizer.from_text(CORPUS) if kind == "char" else bpe
    d = tok.to_dict()
    assert d["kind"] == kind
    loaded = tokenizer_from_dict(json.loads(json.dumps(d)))
    assert type(loaded) is type(tok)
    assert loaded.to_dict() == d
    assert loaded.vocab_size == tok.vocab_size
    for text in [CORPUS, *NASTY_TEXTS]:
        assert loaded.encode(text) == tok.encode(text)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_every_piece_is_a_str_and_the_interface_holds(kind, bpe):
    tok = CharTokenizer.from_text(CORPUS) if kind == "char" else bpe
    assert isinstance(tok, Tokenizer)
    assert tok.kind == kind
    pieces = [tok.piece(i) for i in range(tok.vocab_size)]
    assert all(isinstance(p, str) and p for p in pieces)
    if kind == "bpe":
        assert pieces[ord("a")] == "a"
        assert pieces[0xE2] == "\\xe2"  # a lone UTF-8 lead byte, shown as an escape


@pytest.mark.parametrize(
    ("d", "problem"),
    [
        ([], "must be a dict"),
        ({}, "missing 'kind'"),
        ({"kind": "word"}, "unknown tokenizer kind 'word'"),
        ({"kind": ["char"]}, r"unknown tokenizer kind \['char'\]"),
        ({"kind": "char"}, "missing 'chars'"),
        ({"kind": "char", "chars": "ab\ufffd"}, "'chars' must be a list"),
        ({"kind": "char", "chars": ["a", "bc", "\ufffd"]}, r"chars\[1\] must be a single char"),
        ({"kind": "char", "chars": ["a", 1, "\ufffd"]}, r"chars\[1\] must be a single char"),
        ({"kind": "char", "chars": ["a", "b", "a", "\ufffd"]}, "duplicate character 'a'"),
        ({"kind": "char", "chars": ["a", "b"]}, "lacks the unknown token"),
        ({"kind": "bpe"}, "missing 'merges'"),
        ({"kind": "bpe", "merges": {"97": 98}}, "'merges' must be a list"),
        ({"kind": "bpe", "merges": [[97]]}, r"merges\[0\] must be a pair of token ids"),
        ({"kind": "bpe", "merges": [[97, "b"]]}, r"merges\[0\] must be a pair of token ids"),
        ({"kind": "bpe", "merges": [[97, True]]}, r"merges\[0\] must be a pair of token ids"),
        ({"kind": "bpe", "merges": [[97, 256]]}, r"merges\[0\] .* not defined yet"),
        ({"kind": "bpe", "merges": [[97, 98], [256, 258]]}, r"merges\[1\] .* not defined yet"),
        ({"kind": "bpe", "merges": [[-1, 97]]}, r"merges\[0\] .* not defined yet"),
        ({"kind": "bpe", "merges": [[97, 98], [97, 98]]}, r"merges\[1\] repeats .* merges\[0\]"),
    ],
)
def test_malformed_dicts_raise_value_errors_naming_the_problem(d, problem):
    with pytest.raises(ValueError, match=problem):
        tokenizer_from_dict(d)
