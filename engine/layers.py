"""The layers of a GPT as small functions of arrays, each forward beside its backward.

Every forward returns `(out, cache)`: its output and what its backward needs. Every
backward takes `dout`, the gradient of the loss with respect to that output, and the cache,
and returns the gradients with respect to the inputs and parameters. Nothing here holds state.

Speed: these functions say what is computed, as plainly as NumPy allows. The model runs
faster versions of them from engine/kernels.py (the same arithmetic arranged for speed,
checked against PyTorch), but a kernel stands in for a function here only while that
function's code is as shipped (comments and docstrings aside). Change what `gelu` (or
`gelu_backward`) computes, press Run, and the model runs your GELU; change nothing, and it
runs the kernels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# ---- softmax: the one definition everything uses ---------------------------------------------

def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) over the last axis: x - log(sum(exp(x))).

    Shifting every row by its max changes nothing and keeps exp from overflowing; the log is
    exact even where softmax itself underflows to 0.
    """
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x) / sum(exp(x)) over the last axis; -inf entries get probability 0."""
    return np.exp(log_softmax(x))


# ---- embedding: a row lookup -----------------------------------------------------------------

def embedding(table: np.ndarray, ids: np.ndarray):
    """table (n, C) looked up at ids (...) -> (..., C)."""
    return table[ids], (ids, table.shape[0])


def embedding_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Each row of the table collects the gradient of every place it was looked up."""
    ids, n_rows = cache
    dtable = np.zeros((n_rows, dout.shape[-1]), dtype=dout.dtype)  # (n, C)
    np.add.at(dtable, ids, dout)
    return dtable


# ---- linear: x @ w + b, weights stored (in, out) like GPT-2's Conv1D -------------------------

def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """(..., in) @ (in, out) + (out,) -> (..., out)."""
    return x @ w + b, (x, w)


def linear_backward(dout: np.ndarray, cache):
    """dx = dout @ wᵀ, dw = xᵀ @ dout and db = sum of dout, over every position."""
    x, w = cache
    x_rows = x.reshape(-1, x.shape[-1])  # (N, in): each position of each sequence is a row
    dout_rows = dout.reshape(-1, dout.shape[-1])  # (N, out)
    return dout @ w.T, x_rows.T @ dout_rows, dout_rows.sum(axis=0)


# ---- layer norm ------------------------------------------------------------------------------

def layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5):
    """Each position's C numbers scaled to mean 0 and variance 1, then by g and shifted by b:
        x_hat = (x - mean) / sqrt(var + eps);   out = x_hat * g + b
    """
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    rstd = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)  # (..., 1)  1 / std
    x_hat = (x - mean) * rstd  # (..., C)
    return x_hat * g + b, (x_hat, rstd, g)


def layernorm_backward(dout: np.ndarray, cache):
    """With dx_hat = dout * g, and mean and std depending on x as well:
        dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    """
    x_hat, rstd, g = cache
    C = x_hat.shape[-1]
    dx_hat = dout * g
    dx = rstd * (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
                 - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True))
    dg = (dout * x_hat).reshape(-1, C).sum(axis=0)
    db = dout.reshape(-1, C).sum(axis=0)
    return dx, dg, db


# ---- GELU, in the tanh form GPT-2 uses -------------------------------------------------------

def gelu(x: np.ndarray):
    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))"""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))), x


def gelu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """With t = tanh(u) and u = √(2/π) (x + 0.044715 x³), the derivative of 0.5 x (1 + t) is
        0.5 (1 + t) + 0.5 x (1 - t²) du/dx,   du/dx = √(2/π) (1 + 3·0.044715 x²)
    """
    t = np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))
    dudx = math.sqrt(2.0 / math.pi) * (1.0 + 3 * 0.044715 * x**2)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * dudx)


# ---- causal self-attention -------------------------------------------------------------------

def causal_mask(Tq: int, Tk: int | None = None) -> np.ndarray:
    """(Tq, Tk) booleans, True where a query may look at a key.

    The Tq queries are the last Tq of the Tk positions (Tk > Tq when earlier keys come from
    a KV cache), so query i sits at position Tk - Tq + i and sees keys 0 .. that position.
    """
    Tk = Tq if Tk is None else Tk
    return np.tri(Tq, Tk, Tk - Tq, dtype=bool)


class AttentionCache(NamedTuple):
    """What attention computed, for its backward and for the pictures."""

    q: np.ndarray  # (B, nh, Tq, hs)
    k: np.ndarray  # (B, nh, Tk, hs)
    v: np.ndarray  # (B, nh, Tk, hs)
    scores: np.ndarray  # (B, nh, Tq, Tk)  q kᵀ / √hs, before the mask
    att: np.ndarray  # (B, nh, Tq, Tk)  the attention weights: rows sum to 1, 0 on the future


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """softmax(q kᵀ / √d + mask) v for every head of every sequence at once; the mask keeps
    each query from looking at later positions. q: (B, nh, Tq, hs); k, v: (B, nh, Tk, hs);
    out: (B, nh, Tq, hs), each query's weighted sum of the values."""
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])  # (B, nh, Tq, Tk)
    att = softmax(np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf))
    return att @ v, AttentionCache(q, k, v, scores, att)


def attention_backward(dout: np.ndarray, cache: AttentionCache):
    """Through out = att @ v, then the softmax (row by row,
    dscores = att * (datt - sum(datt * att))), then the scaled q kᵀ. Masked entries have
    att = 0, so no gradient flows through them."""
    q, k, v, _, att = cache
    dv = att.swapaxes(-1, -2) @ dout  # (B, nh, Tk, hs)
    datt = dout @ v.swapaxes(-1, -2)  # (B, nh, Tq, Tk)
    dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return dscores @ k, dscores.swapaxes(-1, -2) @ q, dv  # dq, dk, dv


# ---- the loss --------------------------------------------------------------------------------

def cross_entropy(logits: np.ndarray, targets: np.ndarray):
    """Mean of -log p(target) over N predictions: logits (N, V), targets (N,) -> a float."""
    log_probs = log_softmax(logits)  # (N, V)
    loss = -log_probs[np.arange(len(targets)), targets].mean()
    return float(loss), (log_probs, targets)


def cross_entropy_backward(dloss: float, cache) -> np.ndarray:
    """dloss/dlogits = (softmax(logits) - onehot(targets)) / N, times dloss (1 for the loss
    itself)."""
    log_probs, targets = cache
    onehot = np.zeros_like(log_probs)
    onehot[np.arange(len(targets)), targets] = 1.0
    return dloss * (np.exp(log_probs) - onehot) / len(targets)
