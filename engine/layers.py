"""The layers of a GPT as pure functions of arrays, each forward beside its backward.

Every forward returns its output and whatever its backward needs; every backward takes
the gradient of the loss with respect to that output (`dout`) and returns the gradients
with respect to the inputs and parameters. Nothing here holds state.
"""

from __future__ import annotations

import math

import numpy as np

LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)


# ---- linear: x @ w + b, weights stored (in, out) like GPT-2's Conv1D ---------------------

def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., in) @ (in, out) + (out,) -> (..., out)"""
    return x @ w + b


def linear_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray):
    """Gradients of `linear` with respect to x, w and b."""
    x2 = x.reshape(-1, x.shape[-1])  # (N, in)
    d2 = dout.reshape(-1, dout.shape[-1])  # (N, out)
    dx = dout @ w.T
    dw = x2.T @ d2
    db = d2.sum(axis=0)
    return dx, dw, db


# ---- layer norm --------------------------------------------------------------------------

def layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = LN_EPS):
    """Normalise the last axis to zero mean and unit variance, then scale and shift.

    Returns (out, x_hat, rstd); x_hat and rstd (1/std) are what the backward needs.
    """
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat = xc * rstd
    return x_hat * g + b, x_hat, rstd


def layernorm_backward(dout: np.ndarray, x_hat: np.ndarray, rstd: np.ndarray, g: np.ndarray):
    """Gradients of `layernorm` with respect to x, g and b."""
    C = x_hat.shape[-1]
    d2 = dout.reshape(-1, C)
    dg = (d2 * x_hat.reshape(-1, C)).sum(axis=0)
    db = d2.sum(axis=0)
    dx_hat = dout * g
    # d/dx of (x - mean) * rstd, with mean and rstd depending on x too
    dx = rstd * (
        dx_hat
        - dx_hat.mean(axis=-1, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)
    )
    return dx, dg, db


# ---- GELU, the tanh approximation GPT-2 uses ----------------------------------------------

def gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x * x * x)))  # x*x*x: x**3 is slow


def gelu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient of `gelu` with respect to x."""
    t = np.tanh(GELU_C * (x + 0.044715 * x * x * x))
    dt = GELU_C * (1.0 + 3 * 0.044715 * x * x)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dt)


# ---- softmax and causal self-attention ------------------------------------------------------

def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)), shifted by the max for stability; -inf entries give 0."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def causal_mask(Tq: int, Tk: int | None = None) -> np.ndarray:
    """(Tq, Tk) booleans, True where a query may look at a key.

    The Tq queries are the last Tq of the Tk positions (Tk > Tq when earlier keys come from
    a KV cache), so query i sits at position Tk - Tq + i and sees keys 0 .. that position.
    """
    Tk = Tq if Tk is None else Tk
    return np.tri(Tq, Tk, Tk - Tq, dtype=bool)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """softmax(q kᵀ / √d + mask) v for a batch of heads.

    q: (B, nh, Tq, hs); k, v: (B, nh, Tk, hs). Returns (y, scores, att): y (B, nh, Tq, hs)
    is the weighted sum of values, scores (B, nh, Tq, Tk) the raw scaled dot products
    (before the mask), att the attention weights (rows sum to 1, zero on masked keys).
    """
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = causal_mask(q.shape[-2], k.shape[-2])
    att = softmax(np.where(mask, scores, -np.inf))
    return att @ v, scores, att


def attention_backward(dy: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       att: np.ndarray):
    """Gradients of `attention` with respect to q, k and v."""
    datt = dy @ v.swapaxes(-1, -2)  # (B, nh, T, T)
    dv = att.swapaxes(-1, -2) @ dy
    # softmax backward; masked entries have att == 0, so their gradient is 0
    dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
    dscores *= 1.0 / math.sqrt(q.shape[-1])
    dq = dscores @ k
    dk = dscores.swapaxes(-1, -2) @ q
    return dq, dk, dv


# ---- the loss -------------------------------------------------------------------------------

def cross_entropy(logits: np.ndarray, targets: np.ndarray):
    """Mean negative log-likelihood of `targets` (N,) under `logits` (N, V).

    Returns (loss, probs); probs is what the backward needs. The loss is computed from
    log-softmax (logit - logsumexp), which stays exact where a probability underflows.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=-1, keepdims=True)
    N = targets.shape[0]
    log_p = shifted[np.arange(N), targets] - np.log(sum_exp[:, 0])
    return float(-log_p.mean()), exp / sum_exp


def cross_entropy_backward(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Gradient of the mean cross-entropy with respect to the logits: (p - onehot) / N."""
    N = targets.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(N), targets] -= 1.0
    dlogits *= 1.0 / N
    return dlogits
