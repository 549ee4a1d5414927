"""The logit lens (engine/lens.py): the residual stream decoded at every depth."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.layers import softmax
from engine.lens import depth_names, lens_logits, logit_lens
from tests.support.models import random_model

CONFIG = GPTConfig(vocab_size=11, block_size=12, n_layer=3, n_head=2, n_embd=8)


@pytest.fixture
def model():
    return random_model(CONFIG, seed=3)


def test_the_last_depth_is_the_models_own_prediction(model):
    idx = np.random.default_rng(0).integers(0, 11, 9)
    _, trace = model.forward(idx)
    for position in range(9):
        reading = logit_lens(trace, model.params, position)
        np.testing.assert_allclose(reading.probs[-1], trace.probs[0, position], atol=1e-12)
        assert reading.final == int(np.argmax(trace.logits[0, position]))
        assert reading.final_ranks[-1] == 1


def test_the_last_depth_matches_in_float32_too(shipped):
    ids = shipped.tokenizer.encode("ROMEO:\nBut soft, what light")
    _, trace = shipped.model.forward(np.array(ids))
    reading = logit_lens(trace, shipped.model.params, -1)
    np.testing.assert_allclose(reading.probs[-1], trace.probs[0, -1], atol=1e-6)
    assert reading.position == len(ids) - 1 and reading.probs.shape == (7, 77)


def test_there_is_one_depth_per_point_of_the_stream(model):
    _, trace = model.forward(np.arange(5))
    reading = logit_lens(trace, model.params, 2)
    assert len(depth_names(3)) == len(trace.residual_stream()) == reading.probs.shape[0] == 7
    assert depth_names(1) == ["embedding", "0.attn", "0.mlp"]
    np.testing.assert_allclose(reading.probs.sum(axis=-1), 1.0, atol=1e-12)


def test_top_tokens_final_probabilities_and_ranks(model):
    _, trace = model.forward(np.arange(6))
    reading = logit_lens(trace, model.params, 4)
    top = reading.top(4)
    for depth, row in enumerate(reading.probs):
        assert list(top[depth]) == list(np.argsort(-row, kind="stable")[:4])
        assert reading.final_probs[depth] == row[reading.final]
        assert reading.final_ranks[depth] == 1 + sum(p > row[reading.final] for p in row)


def test_a_position_outside_the_sequence_is_refused(model):
    _, trace = model.forward(np.arange(4))
    for bad in (4, -5, 100):
        with pytest.raises(ValueError, match="outside the 4 tokens"):
            logit_lens(trace, model.params, bad)


def test_every_depth_matches_pytorch_running_the_model_cut_short(model):
    """The oracle: the stream after block i's MLP is what a model of i + 1 blocks ends with;
    after block i's attention, the same with that MLP's output projection zeroed; the
    embedding, a one-block model with both projections zeroed. PyTorch's reference GPT
    (tests/torch_reference.py) runs each cut-short model; its logits must be the lens's."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from tests.support.torch_reference import torch_gpt_loss

    idx = np.random.default_rng(1).integers(0, 11, (1, 10))
    _, trace = model.forward(idx)
    lens = {p: logit_lens(trace, model.params, p) for p in range(10)}
    for depth, name in enumerate(depth_names(3)):
        block, part = (0, "embedding") if depth == 0 else (int(name[0]), name[2:])
        params = {n: torch.tensor(p.copy()) for n, p in model.params.items()}
        zeroed = {"embedding": ("attn", "mlp"), "attn": ("mlp",), "mlp": ()}[part]
        for sub in zeroed:
            params[f"h.{block}.{sub}.c_proj.w"].zero_()
            params[f"h.{block}.{sub}.c_proj.b"].zero_()
        config = GPTConfig(11, 12, block + 1, 2, 8)
        logits, _ = torch_gpt_loss(params, config, torch.tensor(idx), torch.tensor(idx))
        probs = torch.softmax(logits[0], dim=-1).numpy()
        for p in range(10):
            np.testing.assert_allclose(lens[p].probs[depth], probs[p], atol=1e-12,
                                       err_msg=f"depth {name}, position {p}")


def test_lens_logits_is_layernorm_then_the_tied_embedding():
    rng = np.random.default_rng(2)
    x, g, b, wte = rng.normal(size=(3, 8)), rng.normal(size=8), rng.normal(size=8), \
        rng.normal(size=(5, 8))
    by_hand = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(lens_logits(x, g, b, wte), (by_hand * g + b) @ wte.T,
                               atol=1e-12)
    assert softmax(lens_logits(x, g, b, wte)).shape == (3, 5)
