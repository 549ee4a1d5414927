"""Every gradient of the hand-written backward against central finite differences (float64),
for each path the model can run: layers.py's readable functions and both platforms' kernels."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPT, GPTConfig, kernels, layers
from tests.support.models import LAYER_PATHS, random_model

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


def model_loss(model: GPT, idx, targets, head_mask=None) -> float:
    return model.forward(idx, targets, head_mask=head_mask)[1].loss


CONFIGS = [
    GPTConfig(vocab_size=7, block_size=5, n_layer=1, n_head=1, n_embd=4),
    GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8),
    GPTConfig(vocab_size=5, block_size=6, n_layer=2, n_head=4, n_embd=8),
]


def check_gradients(model: GPT, names=None, head_mask=None) -> None:
    """The gradients of `names` (default: every parameter) on a random batch."""
    config = model.config
    rng = np.random.default_rng(0)
    T = config.block_size - 1
    idx = rng.integers(0, config.vocab_size, (2, T))
    targets = rng.integers(0, config.vocab_size, (2, T))
    _, grads = model.loss_and_grads(idx, targets, head_mask)
    assert list(grads) == list(model.params)
    for name in names or model.params:
        numeric = numerical_grad(lambda: model_loss(model, idx, targets, head_mask),
                                 model.params[name])
        assert_close(grads[name], numeric, name)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"L{c.n_layer}H{c.n_head}C{c.n_embd}")
def test_every_parameter_gradient_matches_finite_differences(config):
    check_gradients(random_model(config, seed=config.vocab_size))


@pytest.mark.parametrize("path", ["native", "browser"])
def test_every_parameter_gradient_of_the_kernels(path):
    check_gradients(random_model(CONFIGS[0], seed=2, layers=LAYER_PATHS[path]))


@pytest.mark.parametrize("path", list(LAYER_PATHS))
def test_gradients_with_a_head_switched_off(path):
    model = random_model(CONFIGS[1], seed=3, layers=LAYER_PATHS[path])
    check_gradients(model, ("h.0.attn.c_attn.w", "h.0.attn.c_proj.w", "h.1.attn.c_attn.w", "wte"),
                    head_mask=np.array([[1.0, 0.0], [1.0, 1.0]]))


# ---- each layer pair on its own, on every path, so a failure points at the op -----------------

def layer_cases(rng):
    """name -> (inputs the gradient is taken for, forward taking them, extra arguments)."""
    x, g, b = rng.normal(size=(2, 3, 5)), rng.normal(size=5), rng.normal(size=5)
    w = rng.normal(size=(5, 4))
    q, k, v = (rng.normal(size=(2, 2, 4, 3)) for _ in range(3))
    return {
        "linear": (x, w, b[:4]),
        "layernorm": (x, g, b),
        "gelu": (np.linspace(-4, 4, 33).reshape(3, 11),),
        "attention": (q, k, v),
    }


@pytest.mark.parametrize("path", list(LAYER_PATHS))
@pytest.mark.parametrize("op", ["linear", "layernorm", "gelu", "attention"])
def test_each_layer_backward(path, op):
    fns = LAYER_PATHS[path]
    forward, backward = getattr(fns, op), getattr(fns, f"{op}_backward")
    rng = np.random.default_rng(0)
    inputs = layer_cases(rng)[op]
    out, cache = forward(*inputs)
    w = rng.normal(size=out.shape)  # loss = sum(w * out), so dout = w
    grads = backward(w, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, (array, analytic) in enumerate(zip(inputs, grads, strict=True)):
        numeric = numerical_grad(lambda: (w * forward(*inputs)[0]).sum(), array)
        assert_close(analytic, numeric, f"{op} input {i}")


@pytest.mark.parametrize("path", list(LAYER_PATHS))
def test_embedding_and_cross_entropy_backward(path):
    fns = LAYER_PATHS[path]
    rng = np.random.default_rng(0)
    table, ids = rng.normal(size=(6, 3)), np.array([[1, 4, 1], [0, 1, 5]])
    w = rng.normal(size=(2, 3, 3))
    _, cache = fns.embedding(table, ids)
    assert_close(fns.embedding_backward(w, cache),
                 numerical_grad(lambda: (w * fns.embedding(table, ids)[0]).sum(), table),
                 "embedding")
    logits, targets = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    _, cache = fns.cross_entropy(logits, targets)
    assert_close(fns.cross_entropy_backward(1.0, cache),
                 numerical_grad(lambda: fns.cross_entropy(logits, targets)[0], logits), "xent")


@pytest.mark.parametrize("path", list(LAYER_PATHS))
def test_cross_entropy_is_exact_where_probabilities_underflow(path):
    logits = np.array([[0.0, -200.0]], dtype=np.float32)  # p(1) = e^-200 underflows in float32
    loss, _ = LAYER_PATHS[path].cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(200.0, rel=1e-6)


def test_the_paths_are_what_they_say():
    assert LAYER_PATHS["readable"].kernels == ()
    assert LAYER_PATHS["readable"].gelu is layers.gelu
    assert LAYER_PATHS["native"].linear is kernels.NATIVE["linear"]
    assert LAYER_PATHS["browser"].linear is kernels.BROWSER["linear"]
