"""Bad input to the engine gets a clear error (or a documented, visible behaviour), never a
crash deep inside NumPy. Learning-rate cases live in test_train.py."""

from __future__ import annotations

import numpy as np
import pytest

from engine import CharTokenizer, GPTConfig
from engine.char_tokenizer import UNKNOWN
from engine.sampling import MAX_NEW_TOKENS, SamplingSettings, generate, next_token_probs
from tests.support.models import random_model

TOK = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz .,\n")
CONFIG = GPTConfig(vocab_size=TOK.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)


@pytest.fixture
def model():
    return random_model(CONFIG, seed=1)


def test_empty_prompt_is_refused(model):
    with pytest.raises(ValueError, match="the prompt is empty"):
        generate(model, TOK.encode(""), 5)


def test_unknown_characters_become_the_replacement_token_and_are_reported(model):
    prompt = "héllo, wörld €"
    ids = TOK.encode(prompt)
    assert TOK.unknown_chars(prompt) == [(1, "é"), (8, "ö"), (13, "€")]
    assert TOK.decode(ids) == "h\ufffdllo, w\ufffdrld \ufffd"
    assert TOK.piece(ids[1]) == UNKNOWN
    out = generate(model, ids, 3)  # the model runs on them like any other token
    assert out[:len(ids)] == ids and len(out) == len(ids) + 3


def test_prompt_longer_than_the_context_keeps_its_last_block_size_tokens(model):
    long_prompt = TOK.encode("the quick brown fox jumps")  # 25 tokens, block_size 8
    tail = long_prompt[-CONFIG.block_size:]
    a = generate(model, long_prompt, 6, SamplingSettings(0.0))
    b = generate(model, tail, 6, SamplingSettings(0.0))
    assert a[:len(long_prompt)] == long_prompt and a[len(long_prompt):] == b[len(tail):]
    with pytest.raises(ValueError, match="exceed the context of 8"):
        model.forward(long_prompt)  # the forward pass itself never crops silently


@pytest.mark.parametrize("top_k", [0, -3, 1.5, True])
def test_top_k_must_be_a_positive_whole_number(top_k):
    with pytest.raises(ValueError, match="top_k must be a whole number >= 1"):
        SamplingSettings(top_k=top_k)


def test_top_k_above_the_vocabulary_is_refused(model):
    logits = np.zeros(CONFIG.vocab_size)
    with pytest.raises(ValueError, match=f"between 1 and the vocabulary size {CONFIG.vocab_size}"):
        next_token_probs(logits, SamplingSettings(top_k=CONFIG.vocab_size + 1))
    assert next_token_probs(logits, SamplingSettings(top_k=CONFIG.vocab_size)).sum() == 1.0


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.01, float("nan"), float("inf")])
def test_top_p_must_lie_in_zero_one(top_p):
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\]"):
        SamplingSettings(top_p=top_p)


@pytest.mark.parametrize("temperature", [-0.5, float("nan"), float("inf")])
def test_negative_or_non_finite_temperature_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        SamplingSettings(temperature=temperature)


@pytest.mark.parametrize("n", [-1, MAX_NEW_TOKENS + 1, 10**12, 2.5, "100"])
def test_absurd_max_new_tokens_is_refused_before_any_work(model, n):
    with pytest.raises(ValueError, match=f"max_new_tokens must be a whole number from 0 to "
                                         f"{MAX_NEW_TOKENS}"):
        generate(model, [1, 2], n)


def test_zero_new_tokens_returns_the_prompt(model):
    assert generate(model, [1, 2, 3], 0) == [1, 2, 3]
