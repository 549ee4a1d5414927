"""AdamW, clipping and the schedule against their closed forms; overfitting one batch."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine import GPT, GPTConfig
from engine.optim import AdamW, clip_grad_norm, cosine_lr, grad_norm


def test_first_adamw_step_matches_its_closed_form():
    """At t = 1 the bias-corrected moments are m̂ = g and v̂ = g², so each weight moves by
    lr·(g / (|g| + ε) + λ·p): about lr·sign(g), plus decay on matrices only."""
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    before = {n: p.copy() for n, p in params.items()}
    lr, wd, eps = 0.01, 0.1, 1e-8
    AdamW(params, lr=lr, weight_decay=wd, eps=eps).step(grads)
    g = grads["w"]
    expected_w = before["w"] * (1 - lr * wd) - lr * g / (np.abs(g) + eps)
    expected_b = before["b"] - lr * grads["b"] / (np.abs(grads["b"]) + eps)
    np.testing.assert_allclose(params["w"], expected_w, rtol=1e-12)
    np.testing.assert_allclose(params["b"], expected_b, rtol=1e-12)


def test_second_step_uses_bias_corrected_moments():
    p = {"x": np.array([1.0])}
    opt = AdamW(p, lr=0.1, betas=(0.9, 0.99), eps=0.0, weight_decay=0.0)
    opt.step({"x": np.array([2.0])})
    opt.step({"x": np.array([-1.0])})
    m = 0.9 * 0.1 * 2.0 + 0.1 * -1.0  # m after two steps
    v = 0.99 * 0.01 * 4.0 + 0.01 * 1.0
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.99**2)
    assert p["x"][0] == pytest.approx(1.0 - 0.1 - 0.1 * m_hat / math.sqrt(v_hat), rel=1e-12)


def test_clip_grad_norm_scales_to_the_limit_and_reports_the_norm_before():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert grad_norm(grads) == pytest.approx(1.0, rel=1e-6)
    small = {"a": np.array([0.3, 0.4])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small["a"], [0.3, 0.4])


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    lrs = [cosine_lr(s, 1.0, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
           for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.55)  # half way through the cosine: (max + min) / 2
    assert lrs[110] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def test_overfitting_one_batch_drives_the_loss_near_zero():
    config = GPTConfig(vocab_size=12, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(config, seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, (4, 16))
    y = rng.integers(0, 12, (4, 16))  # random targets: only memorising can fit them
    opt = AdamW(model.params, lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(300):
        loss, grads = model.loss_and_grads(x, y)
        first = first if first is not None else loss
        opt.step(grads)
    assert first == pytest.approx(math.log(12), rel=0.05)
    assert model.forward(x, y)[1].loss < 0.05
