"""Our forward, loss, gradients and optimizer against PyTorch, an implementation we did not write,
on every path the model can run: layers.py's readable functions, the native kernels and the
browser kernels (each forced here, whatever the platform).

The reference (tests/torch_reference.py) is written from torch's own building blocks (F.layer_norm,
F.scaled_dot_product_attention with is_causal, F.gelu(approximate="tanh"), F.cross_entropy,
autograd, torch.optim.AdamW, clip_grad_norm_), not translated from our code.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.optim import AdamW, clip_grad_norm
from tests.support.models import LAYER_PATHS, random_model

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
from tests.support.torch_reference import torch_gpt_loss  # noqa: E402  (needs torch)


def as_torch(params: dict) -> dict:
    return {n: torch.tensor(p, requires_grad=True) for n, p in params.items()}


CONFIG = GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=4, n_embd=16)
# large enough that every array takes the `x @ ones` path of kernels.row_sum (>= 4096 numbers)
LARGE = GPTConfig(vocab_size=40, block_size=48, n_layer=2, n_head=4, n_embd=64)
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


@pytest.mark.parametrize("path", list(LAYER_PATHS))
@pytest.mark.parametrize("config, batch", [(CONFIG, (3, 12)), (LARGE, (8, 48))],
                         ids=["small", "large"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("with_mask", [False, True], ids=["all-heads", "head-off"])
def test_logits_loss_and_every_gradient_match_torch(dtype, with_mask, config, batch, path):
    model = random_model(config, seed=5, dtype=dtype, layers=LAYER_PATHS[path])
    rng = np.random.default_rng(0)
    idx = rng.integers(0, config.vocab_size, batch)
    targets = rng.integers(0, config.vocab_size, batch)
    mask = np.ones((config.n_layer, config.n_head))
    mask[1, 2] = 0.0
    head_mask = mask if with_mask else None

    logits, _ = model.forward(idx, head_mask=head_mask)
    loss, grads = model.loss_and_grads(idx, targets, head_mask)
    assert logits.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    tparams = as_torch(model.params)
    tmask = torch.tensor(mask, dtype=tparams["wte"].dtype) if with_mask else None
    tlogits, tloss = torch_gpt_loss(tparams, config, torch.tensor(idx), torch.tensor(targets),
                                    tmask)
    tloss.backward()

    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=tol, atol=tol)
    assert loss == pytest.approx(tloss.item(), rel=tol)
    for name, g in grads.items():
        ref = tparams[name].grad.numpy()
        scale = np.abs(ref).max()
        assert np.abs(g - ref).max() <= tol * max(scale, 1.0), name


def test_adamw_steps_match_torch():
    """Three AdamW steps with weight decay on matrices only, after gradient clipping."""
    model = random_model(CONFIG, seed=7, dtype=np.float64)
    rng = np.random.default_rng(2)
    idx = rng.integers(0, CONFIG.vocab_size, (2, 10))
    targets = rng.integers(0, CONFIG.vocab_size, (2, 10))
    tparams = as_torch(model.params)
    decay = [p for p in tparams.values() if p.ndim >= 2]
    no_decay = [p for p in tparams.values() if p.ndim < 2]
    topt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=3e-2, betas=(0.9, 0.95), eps=1e-8)
    opt = AdamW(model.params, lr=3e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for _ in range(3):
        _, grads = model.loss_and_grads(idx, targets)
        norm = clip_grad_norm(grads, 0.5)
        opt.step(grads)

        topt.zero_grad()
        torch_gpt_loss(tparams, CONFIG, torch.tensor(idx), torch.tensor(targets))[1].backward()
        tnorm = torch.nn.utils.clip_grad_norm_(list(tparams.values()), 0.5)
        topt.step()
        assert norm == pytest.approx(tnorm.item(), rel=1e-10)
    for name, p in model.params.items():
        np.testing.assert_allclose(p, tparams[name].detach().numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
