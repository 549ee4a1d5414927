"""AdamW with bias correction, gradient-norm clipping and a warm-up + cosine schedule."""

from __future__ import annotations

import math

import numpy as np

Params = dict[str, np.ndarray]


def check_learning_rate(lr: float) -> float:
    """A learning rate must be a finite number > 0; anything else is a ValueError."""
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.floating):
        raise ValueError(f"learning rate must be a number, got {lr!r}")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a finite number > 0, got {lr}")
    return float(lr)


def cosine_lr(step: int, max_lr: float, warmup_steps: int, total_steps: int,
              min_lr_ratio: float = 0.1) -> float:
    """Linear warm-up to max_lr over `warmup_steps`, then cosine decay to min_lr_ratio·max_lr
    at `total_steps` (and flat after). `step` counts from 0."""
    min_lr = max_lr * min_lr_ratio
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def grad_norm(grads: Params) -> float:
    """The L2 norm of all gradients taken together."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_grad_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients in place so that their global L2 norm is at most `max_norm`.

    Returns the norm before clipping (as torch.nn.utils.clip_grad_norm_ does).
    """
    norm = grad_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    For each parameter p with gradient g, at step t = 1, 2, ...:
        m = β1·m + (1-β1)·g          v = β2·v + (1-β2)·g²
        m̂ = m / (1-β1ᵗ)              v̂ = v / (1-β2ᵗ)
        p ← p - lr·(m̂ / (√v̂ + ε) + λ·p)
    Weight decay λ applies to matrices only (dim >= 2), not to biases or LayerNorm gains.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas=(0.9, 0.95), eps: float = 1e-8,
                 weight_decay: float = 0.1):
        self.params = params
        self.lr = check_learning_rate(lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m = {n: np.zeros_like(p) for n, p in params.items()}
        self.v = {n: np.zeros_like(p) for n, p in params.items()}

    def step(self, grads: Params, lr: float | None = None) -> None:
        """Update every parameter in place from its gradient."""
        lr = self.lr if lr is None else check_learning_rate(lr)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        bias1, bias2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for name, p in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            if self.weight_decay and p.ndim >= 2:
                p *= 1.0 - lr * self.weight_decay
            p -= (lr / bias1) * m / (np.sqrt(v / bias2) + self.eps)

    def state(self) -> dict:
        """A copy of the optimizer's moments and step count."""
        return {"t": self.t, "m": {n: a.copy() for n, a in self.m.items()},
                "v": {n: a.copy() for n, a in self.v.items()}}

    def load_state(self, state: dict) -> None:
        """Restore moments and step count saved by `state`."""
        self.t = state["t"]
        for n in self.m:
            self.m[n][...] = state["m"][n]
            self.v[n][...] = state["v"][n]
