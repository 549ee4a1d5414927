"""The experiments the tour checks a reader's predictions against (engine/experiments.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from engine import GPTConfig, kernels, layers
from engine.experiments import (
    attention_without_mask,
    causal_mask_experiment,
    examples_in_window,
    first_depth_of_final,
    head_ablation,
    strongest_key,
    top_probability,
    uniform_loss,
)
from engine.lens import LensReading
from engine.sampling import SamplingSettings, next_token_probs
from tests.support.models import random_model

READABLE = kernels.readable(layers)


def test_the_strongest_key_is_the_largest_weight_up_to_the_query():
    att = np.array([[1.0, 0, 0, 0], [0.3, 0.7, 0, 0], [0.5, 0.2, 0.3, 0], [0.1, 0.4, 0.4, 0.1]])
    assert [strongest_key(att, q) for q in range(4)] == [0, 1, 0, 1]  # ties: the earlier


def test_the_top_probability_follows_the_sampling_settings():
    logits = np.array([2.0, 1.0, 0.5, -1.0])
    for settings in (SamplingSettings(0.5), SamplingSettings(1.5, top_k=2),
                     SamplingSettings(1.0, top_p=0.6)):
        top, p = top_probability(logits, settings)
        assert top == 0 and p == pytest.approx(next_token_probs(logits, settings).max())
    assert top_probability(logits, SamplingSettings(1.5))[1] < \
        top_probability(logits, SamplingSettings(0.5))[1]
    assert top_probability(logits, SamplingSettings(0.0)) == (0, 1.0)


@pytest.mark.parametrize("vocab_size", [2, 65, 77])
def test_guessing_uniformly_costs_ln_v(vocab_size):
    assert uniform_loss(vocab_size) == pytest.approx(math.log(vocab_size), abs=1e-12)


def test_the_first_depth_of_the_final_guess():
    probs = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    assert first_depth_of_final(LensReading(0, probs, final=1)) == 1
    assert first_depth_of_final(LensReading(0, probs[::-1][:1], final=1)) == 0


def test_a_window_holds_one_example_per_position_with_a_next_token():
    tokens = np.arange(20)
    assert examples_in_window(tokens, 0, 8) == 8
    assert examples_in_window(tokens, 15, 8) == 4  # the last target is token 19
    assert examples_in_window(tokens, 19, 8) == 0


def test_head_ablation_matches_switching_each_head_off_by_hand():
    cfg = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=3, n_embd=12)
    model = random_model(cfg, seed=3, jitter=0.3)
    idx = np.array([1, 4, 2, 9, 4, 2, 7, 1])
    found = head_ablation(model, idx)
    base = layers.softmax(model.forward(idx)[0][-1].astype(np.float64))
    np.testing.assert_allclose(found.base_probs, base)
    assert found.base_top == int(np.argmax(base))
    for layer, head in ((0, 0), (1, 2)):
        mask = np.ones((2, 3))
        mask[layer, head] = 0
        off = layers.softmax(model.forward(idx, head_mask=mask)[0][-1].astype(np.float64))
        assert found.kl[layer, head] == pytest.approx(float(np.sum(base * np.log(base / off))))
        assert found.top[layer, head] == int(np.argmax(off))
        assert found.top_prob[layer, head] == pytest.approx(off[found.base_top])
    assert (found.kl >= 0).all() and found.kl.max() > 0
    assert found.kl[found.strongest] == found.kl.max()


def test_attention_without_its_mask_sees_later_keys_and_its_backward_still_holds():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 2, 5, 4)) for _ in range(3))
    out, cache = attention_without_mask(q, k, v)
    assert (cache.att[0, 0][np.triu_indices(5, 1)] > 0).all()  # the future carries weight
    np.testing.assert_allclose(cache.att.sum(-1), 1.0)
    dout = rng.normal(size=out.shape)
    dq, dk, dv = layers.attention_backward(dout, cache)
    for x, dx in ((q, dq), (k, dk), (v, dv)):  # central differences of sum(out * dout)
        eps, i = 1e-6, (0, 1, 3, 2)
        saved = x[i]
        x[i] = saved + eps
        up = (attention_without_mask(q, k, v)[0] * dout).sum()
        x[i] = saved - eps
        down = (attention_without_mask(q, k, v)[0] * dout).sum()
        x[i] = saved
        assert dx[i] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_without_the_mask_training_loss_falls_and_generation_gets_worse(shipped, corpus_text):
    tokens = np.array(shipped.tokenizer.encode(corpus_text[:40_000]))
    found = causal_mask_experiment(READABLE, tokens, shipped.model.config.vocab_size, seed=0)
    assert found.config.block_size == 4 and found.steps == 100
    assert found.unmasked_train < found.masked_train - 0.3  # it copies the answer
    assert found.unmasked_generation > found.masked_generation + 0.3  # no answer to copy
    # layers whose attention has no mask already: the two runs are the same run
    same = causal_mask_experiment(replace(READABLE, attention=attention_without_mask), tokens,
                                  shipped.model.config.vocab_size, seed=0, steps=10)
    assert same.masked_train == same.unmasked_train
    assert same.masked_generation == same.unmasked_generation


def test_the_mask_experiment_needs_some_text():
    with pytest.raises(ValueError, match="needs at least"):
        causal_mask_experiment(READABLE, np.arange(10) % 5, 5)
