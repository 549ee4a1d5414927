"""Every gradient of the hand-written backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.layers import (
    attention,
    attention_backward,
    cross_entropy,
    cross_entropy_backward,
    gelu,
    gelu_backward,
    layernorm,
    layernorm_backward,
)
from tests.conftest import random_model

EPS = 1e-6


def numerical_grad(f, x: np.ndarray) -> np.ndarray:
    """d f / d x by central differences, one element at a time."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        up = f()
        x[i] = old - EPS
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * EPS)
    return grad


def assert_close(analytic: np.ndarray, numeric: np.ndarray, name: str) -> None:
    scale = max(np.abs(numeric).max(), 1e-6)
    err = np.abs(analytic - numeric).max() / scale
    assert err < 1e-6, f"{name}: relative error {err:.2e}"


CONFIGS = [
    GPTConfig(vocab_size=7, block_size=5, n_layer=1, n_head=1, n_embd=4),
    GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8),
    GPTConfig(vocab_size=5, block_size=6, n_layer=2, n_head=4, n_embd=8),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"L{c.n_layer}H{c.n_head}C{c.n_embd}")
def test_every_parameter_gradient_matches_finite_differences(config):
    model = random_model(config, seed=config.vocab_size)
    rng = np.random.default_rng(0)
    T = config.block_size - 1
    idx = rng.integers(0, config.vocab_size, (2, T))
    targets = rng.integers(0, config.vocab_size, (2, T))
    _, grads = model.loss_and_grads(idx, targets)
    assert list(grads) == list(model.params)
    for name, p in model.params.items():
        numeric = numerical_grad(lambda: model.loss(idx, targets), p)
        assert_close(grads[name], numeric, name)


def test_gradients_with_a_head_switched_off():
    config = CONFIGS[1]
    model = random_model(config, seed=3)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, config.vocab_size, (2, 6))
    targets = rng.integers(0, config.vocab_size, (2, 6))
    mask = np.array([[1.0, 0.0], [1.0, 1.0]])
    _, grads = model.loss_and_grads(idx, targets, head_mask=mask)
    for name in ("h.0.attn.c_attn.w", "h.0.attn.c_proj.w", "h.1.attn.c_attn.w", "wte"):
        numeric = numerical_grad(lambda: model.loss(idx, targets, mask), model.params[name])
        assert_close(grads[name], numeric, name)


# ---- each layer on its own, so a failure points at the op --------------------------------

def test_layernorm_backward():
    rng = np.random.default_rng(0)
    x, g, b = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=5)
    w = rng.normal(size=(3, 5))  # loss = sum(w * out)
    _, x_hat, rstd = layernorm(x, g, b)
    dx, dg, db = layernorm_backward(w, x_hat, rstd, g)
    for array, analytic in ((x, dx), (g, dg), (b, db)):
        assert_close(analytic, numerical_grad(lambda: (w * layernorm(x, g, b)[0]).sum(), array),
                     "layernorm")


def test_gelu_backward():
    x = np.linspace(-4, 4, 33)
    w = np.random.default_rng(0).normal(size=33)
    _, t = gelu(x)
    assert_close(gelu_backward(w, x, t), numerical_grad(lambda: (w * gelu(x)[0]).sum(), x),
                 "gelu")


def test_attention_backward():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 2, 4, 3)) for _ in range(3))
    w = rng.normal(size=(2, 2, 4, 3))
    _, _, att = attention(q, k, v)
    dq, dk, dv = attention_backward(w, q, k, v, att)
    for array, analytic in ((q, dq), (k, dk), (v, dv)):
        assert_close(analytic, numerical_grad(lambda: (w * attention(q, k, v)[0]).sum(), array),
                     "attention")


def test_cross_entropy_backward():
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    _, probs = cross_entropy(logits, targets)
    assert_close(cross_entropy_backward(probs, targets),
                 numerical_grad(lambda: cross_entropy(logits, targets)[0], logits), "xent")


def test_cross_entropy_is_exact_where_probabilities_underflow():
    logits = np.array([[0.0, -200.0]], dtype=np.float32)  # p(1) = e^-200 underflows in float32
    loss, _ = cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(200.0, rel=1e-6)
