"""Properties of the forward pass: causality, attention weights, head masks, the trace."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.model import KVCache
from tests.support.models import LAYER_PATHS, random_model

CONFIG = GPTConfig(vocab_size=17, block_size=12, n_layer=2, n_head=3, n_embd=12)


@pytest.fixture
def model():
    return random_model(CONFIG, seed=11)


def test_changing_later_tokens_leaves_earlier_logits_unchanged(model):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, CONFIG.vocab_size, 12)
    logits, _ = model.forward(idx)
    for t in range(11):
        changed = idx.copy()
        changed[t + 1:] = (idx[t + 1:] + rng.integers(1, CONFIG.vocab_size, 11 - t)) % 17
        other, _ = model.forward(changed)
        np.testing.assert_allclose(other[:t + 1], logits[:t + 1], rtol=1e-13, atol=1e-13)
        assert not np.allclose(other[t + 1:], logits[t + 1:])  # the change does reach later


def test_attention_rows_sum_to_one_and_are_zero_above_the_diagonal(model):
    idx = np.random.default_rng(1).integers(0, CONFIG.vocab_size, (2, 9))
    _, trace = model.forward(idx)
    upper = ~np.tri(9, dtype=bool)
    for block in trace.blocks:
        assert block.att.shape == (2, CONFIG.n_head, 9, 9)
        np.testing.assert_allclose(block.att.sum(axis=-1), 1.0, rtol=1e-12)
        assert (block.att[..., upper] == 0).all()
        assert np.isneginf(block.masked_scores[..., upper]).all()
        np.testing.assert_array_equal(block.masked_scores[..., ~upper], block.scores[..., ~upper])


def test_switching_a_head_off_equals_zeroing_its_slice_of_c_proj(model):
    """A head's output enters the stream only through its rows of c_proj.w."""
    idx = np.random.default_rng(2).integers(0, CONFIG.vocab_size, 10)
    mask = np.ones((CONFIG.n_layer, CONFIG.n_head))
    mask[1, 1] = 0.0
    masked, _ = model.forward(idx, head_mask=mask)
    hs = CONFIG.head_size
    model.params["h.1.attn.c_proj.w"][hs:2 * hs] = 0.0
    zeroed, _ = model.forward(idx)
    np.testing.assert_allclose(masked, zeroed, rtol=1e-12, atol=1e-12)


def test_trace_holds_every_intermediate_with_its_shape(model):
    B, T = 2, 7
    C, nh, hs, V = CONFIG.n_embd, CONFIG.n_head, CONFIG.head_size, CONFIG.vocab_size
    idx = np.random.default_rng(3).integers(0, V, (B, T))
    logits, trace = model.forward(idx)
    assert trace.idx.shape == (B, T) and (trace.idx == idx).all()
    np.testing.assert_array_equal(trace.tok_emb, model.params["wte"][idx])
    np.testing.assert_array_equal(trace.pos_emb, model.params["wpe"][:T])
    np.testing.assert_array_equal(trace.emb, trace.tok_emb + trace.pos_emb)
    for block in trace.blocks:
        for name in ("q", "k", "v", "heads"):
            assert getattr(block, name).shape == (B, nh, T, hs), name
        for name in ("scores", "att"):
            assert getattr(block, name).shape == (B, nh, T, T), name
        for name in ("x", "attn_out", "resid_mid", "mlp_out", "resid_out"):
            assert getattr(block, name).shape == (B, T, C), name
        assert block.mlp_pre.shape == block.mlp_post.shape == (B, T, 4 * C)
        np.testing.assert_allclose(block.resid_out, block.resid_mid + block.mlp_out)
    assert len(trace.residual_stream()) == 1 + 2 * CONFIG.n_layer
    assert trace.logits.shape == (B, T, V) and logits is trace.logits
    np.testing.assert_allclose(trace.probs.sum(axis=-1), 1.0)


def test_single_sequence_gives_unbatched_logits_and_a_batched_trace(model):
    logits, trace = model.forward([1, 2, 3])
    assert logits.shape == (3, CONFIG.vocab_size)
    assert trace.logits.shape == (1, 3, CONFIG.vocab_size)


def test_float32_is_the_default_and_float64_agrees():
    f32 = random_model(CONFIG, seed=4, dtype=np.float32)
    f64 = random_model(CONFIG, seed=4, dtype=np.float64)
    assert f32.dtype == np.float32 and f64.dtype == np.float64
    idx = np.arange(10) % CONFIG.vocab_size
    a, trace = f32.forward(idx)
    assert a.dtype == np.float32 and trace.blocks[0].att.dtype == np.float32
    np.testing.assert_allclose(a, f64.forward(idx)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad, message", [
    ([], "T >= 1"),
    ([[[0, 1]]], "shape"),
    ([0.5, 1.0], "integers"),
    ([0, 17], r"\[0, 17\)"),
    ([-1], r"\[0, 17\)"),
    (list(range(13)), "block_size"),
])
def test_bad_token_ids_are_refused_with_a_message(model, bad, message):
    with pytest.raises(ValueError, match=message):
        model.forward(bad)


@pytest.mark.parametrize("path", list(LAYER_PATHS))
def test_every_path_gives_the_same_logits_with_a_kv_cache(path):
    """Queries fewer than keys (the cached ones come first) on every way the layers run."""
    model = random_model(CONFIG, seed=6, layers=LAYER_PATHS[path])
    idx = np.random.default_rng(4).integers(0, CONFIG.vocab_size, 12)
    full, _ = model.forward(idx)
    cache = KVCache()
    model.forward(idx[:7], cache=cache)
    for t in range(7, 12):
        step, trace = model.forward(idx[t:t + 1], cache=cache)
        np.testing.assert_allclose(step[0], full[t], rtol=1e-12, atol=1e-12)
        assert trace.blocks[0].att.shape == (1, CONFIG.n_head, 1, t + 1)


@pytest.mark.parametrize("tile", [None, 16, 7], ids=["whole", "tiles of 16", "tiles of 7"])
@pytest.mark.parametrize("Tq, Tk", [(40, 40), (20, 30), (1, 30), (17, 17)])
def test_the_attention_kernel_attends_like_the_readable_function(tile, Tq, Tk):
    """The kernel whole and in tiles of queries (skipping what the mask hides), against
    layers.attention, with and without earlier keys from a cache."""
    from engine import kernels, layers

    rng = np.random.default_rng(Tq)
    q = rng.normal(size=(2, 3, Tq, 4))
    k, v = rng.normal(size=(2, 3, Tk, 4)), rng.normal(size=(2, 3, Tk, 4))
    dout = rng.normal(size=q.shape)
    (y, cache), (y_ref, cache_ref) = kernels.attention(q, k, v, tile), layers.attention(q, k, v)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.att, cache_ref.att, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.scores, cache_ref.scores, rtol=1e-12, atol=1e-12)
    for got, want in zip(kernels.attention_backward(dout, cache, tile),
                         layers.attention_backward(dout, cache_ref), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_browser_runs_attention_in_tiles_from_four_windows_on(monkeypatch):
    from engine import kernels

    tiles, original = [], kernels.attention

    def spy(q, k, v, tile=None):
        tiles.append(tile)
        return original(q, k, v, tile)

    monkeypatch.setattr(kernels, "attention", spy)
    for B in (2, 8):  # windows of 64 tokens, 4 heads
        q = np.zeros((B, 4, 64, 16))
        kernels.attention_in_tiles(q, q, q)
    assert tiles == [None, 16]
