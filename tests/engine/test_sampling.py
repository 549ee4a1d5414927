"""Sampling and generation: the KV cache, seeds, greedy decoding, top-k and top-p."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig, KVCache
from engine.sampling import (
    SamplingSettings,
    generate,
    generate_steps,
    next_token_probs,
    sample_token,
)
from tests.support.models import random_model

CONFIG = GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)


@pytest.fixture
def model():
    return random_model(CONFIG, seed=21, jitter=0.3)


def test_cached_logits_equal_full_recomputation(model):
    idx = np.random.default_rng(0).integers(0, CONFIG.vocab_size, 16)
    full, _ = model.forward(idx)
    cache = KVCache()
    first, _ = model.forward(idx[:5], cache=cache)
    rows = [first]
    for t in range(5, 16):
        step, trace = model.forward(idx[t:t + 1], cache=cache)
        assert trace.blocks[0].k.shape[2] == t + 1 and len(cache) == t + 1
        rows.append(step)
    np.testing.assert_allclose(np.concatenate(rows), full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("settings", [SamplingSettings(0.0), SamplingSettings(1.0),
                                      SamplingSettings(0.7, top_k=5, top_p=0.9)],
                         ids=["greedy", "t=1", "t=0.7,k=5,p=0.9"])
def test_kv_cache_generation_equals_recomputation_past_the_context(model, settings):
    prompt = [3, 1, 4, 1, 5]
    n = 30  # runs past block_size = 16, where the window starts to slide
    cached = generate(model, prompt, n, settings, seed=7, use_cache=True)
    recomputed = generate(model, prompt, n, settings, seed=7, use_cache=False)
    assert cached == recomputed
    assert len(cached) == len(prompt) + n and cached[:5] == prompt


def test_seeded_sampling_is_reproducible_and_seeds_differ(model):
    a = generate(model, [1, 2], 40, SamplingSettings(1.5), seed=1)
    b = generate(model, [1, 2], 40, SamplingSettings(1.5), seed=1)
    c = generate(model, [1, 2], 40, SamplingSettings(1.5), seed=2)
    assert a == b and a != c


def test_temperature_zero_and_top_k_one_are_argmax(model):
    prompt = [7, 8, 9]
    greedy = generate(model, prompt, 12, SamplingSettings(0.0), seed=None)
    top1 = generate(model, prompt, 12, SamplingSettings(1.0, top_k=1), seed=123)
    ids = list(prompt)
    for _ in range(12):
        logits, _ = model.forward(np.array(ids[-CONFIG.block_size:]))
        ids.append(int(np.argmax(logits[-1])))
    assert greedy == top1 == ids


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = np.log(np.array([0.1, 0.4, 0.05, 0.3, 0.15]))
    k2 = next_token_probs(logits, SamplingSettings(1.0, top_k=2))
    np.testing.assert_allclose(k2, [0, 0.4 / 0.7, 0, 0.3 / 0.7, 0])
    # sorted: 0.4, 0.3, 0.15, 0.1, 0.05; mass reaches 0.8 after three tokens
    p8 = next_token_probs(logits, SamplingSettings(1.0, top_p=0.8))
    np.testing.assert_allclose(p8, [0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85])
    p_tiny = next_token_probs(logits, SamplingSettings(1.0, top_p=1e-9))
    np.testing.assert_allclose(p_tiny, [0, 1, 0, 0, 0])  # the most likely token always stays
    hot = next_token_probs(logits, SamplingSettings(2.0))
    np.testing.assert_allclose(hot, np.sqrt([0.1, 0.4, 0.05, 0.3, 0.15]) /
                               np.sqrt([0.1, 0.4, 0.05, 0.3, 0.15]).sum())


def test_sample_token_follows_the_distribution():
    probs = np.array([0.2, 0.0, 0.5, 0.3])
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_token(probs, rng) for _ in range(20000)], minlength=4)
    assert counts[1] == 0
    np.testing.assert_allclose(counts / 20000, probs, atol=0.015)


def test_generation_steps_report_the_distribution_each_token_was_drawn_from(model):
    steps = list(generate_steps(model, [1], 5, SamplingSettings(0.9, top_k=4), seed=3))
    assert len(steps) == 5
    for s in steps:
        assert s.probs[s.token] > 0 and np.count_nonzero(s.probs) <= 4
        assert s.probs.sum() == pytest.approx(1.0)
