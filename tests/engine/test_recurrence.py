"""Memory and FLOPs per generated token (engine/scale.py): a KV cache against a recurrent
state of the same width, checked against a real KV cache and a real recurrence."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPT, GPTConfig, KVCache
from engine.scale import (
    GPT3_175B,
    break_even_contexts,
    forward_flops_per_token,
    kv_cache_numbers,
    kv_flops_per_token,
    matmul_weights,
    recurrent_flops_per_token,
    recurrent_state_numbers,
)

OURS = GPTConfig(vocab_size=77, block_size=64, n_layer=3, n_head=4, n_embd=64)


@pytest.mark.parametrize("context", [1, 17, 64])
def test_kv_cache_numbers_are_what_a_real_cache_holds(context):
    model = GPT(OURS, seed=0)
    cache = KVCache()
    model.forward(np.zeros(context, dtype=np.int64), cache=cache)
    held = sum(k.size + v.size for k, v in cache.kv)
    assert held == kv_cache_numbers(OURS, context) == 2 * 3 * context * 64


def test_a_recurrent_state_of_hs_by_hs_per_head_computes_linear_attention():
    """The state the counts assume is enough: S_t = Σ_{s<=t} k_s v_sᵀ, read as q_tᵀ S_t,
    gives exactly causal (unnormalised) linear attention, one token at a time; its size is
    hs² per head, and each token costs two multiply-adds per number of it."""
    rng = np.random.default_rng(0)
    T, hs = 20, OURS.head_size
    q, k, v = (rng.normal(size=(T, hs)) for _ in range(3))
    parallel = np.tril(q @ k.T) @ v  # (T, hs): every query against all earlier keys
    state = np.zeros((hs, hs))
    flops = 0
    outs = []
    for t in range(T):
        state += np.outer(k[t], v[t])  # hs² multiply-adds
        outs.append(q[t] @ state)  # hs² multiply-adds
        flops += 2 * hs * hs + 2 * hs * hs
    np.testing.assert_allclose(np.array(outs), parallel, atol=1e-10)
    assert OURS.n_layer * OURS.n_head * state.size == recurrent_state_numbers(OURS) == 3072
    per_token = flops // T * OURS.n_head * OURS.n_layer
    assert recurrent_flops_per_token(OURS) == 2 * matmul_weights(OURS) + per_token


def test_kv_flops_grow_by_one_q_dot_k_and_one_weighted_v_per_earlier_token():
    # per extra key, per block: q·k over n_embd numbers (all heads) and att·v the same,
    # each a multiply-add (2 FLOPs)
    step = 2 * OURS.n_embd * 2 * OURS.n_layer
    for t in (1, 10, 63):
        assert kv_flops_per_token(OURS, t + 1) - kv_flops_per_token(OURS, t) == step
    assert kv_flops_per_token(OURS, 64) == forward_flops_per_token(OURS)


@pytest.mark.parametrize("config", [OURS, GPT3_175B], ids=["ours", "gpt3"])
def test_the_break_even_contexts(config):
    memory_t, flops_t = break_even_contexts(config)
    assert memory_t == config.head_size / 2 and flops_t == config.head_size
    assert kv_cache_numbers(config, int(memory_t)) == recurrent_state_numbers(config)
    assert kv_flops_per_token(config, int(flops_t)) == recurrent_flops_per_token(config)
    assert kv_cache_numbers(config, int(memory_t) + 1) > recurrent_state_numbers(config)


def test_gpt3_figures_by_hand():
    # 2 (k and v) x 96 blocks x 12,288 numbers per token, at 2 bytes: 4.7 MB per token
    assert kv_cache_numbers(GPT3_175B, 1) * 2 == 4_718_592
    assert kv_cache_numbers(GPT3_175B, 2048) * 2 == 9_663_676_416  # 9.66 GB per sequence
    assert recurrent_state_numbers(GPT3_175B) == 96 * 96 * 128 * 128
