"""The layers of a GPT as pure functions of arrays, each forward beside its backward.

Every forward returns its output and whatever its backward needs; every backward takes
the gradient of the loss with respect to that output (`dout`) and returns the gradients
with respect to the inputs and parameters. Nothing here holds state.
"""

from __future__ import annotations

import functools
import math

import numpy as np

LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)


# Arrays here can be megabytes (B·T·4C floats); each fresh one costs page faults, so the
# functions below create few arrays and finish their arithmetic in place (`y *= ...`).
# The formula each one computes is in its docstring.

@functools.lru_cache(maxsize=64)
def _ones(n: int, dtype: str) -> np.ndarray:
    ones = np.ones(n, dtype=dtype)
    ones.setflags(write=False)
    return ones


def row_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=-1, keepdims=True), computed as x @ ones when x is large: for rows as
    short as ours (64 to 256 numbers) BLAS adds them several times faster than NumPy's
    reduction, while for a handful of rows the plain sum is quicker to call."""
    if x.size < 4096:
        return x.sum(axis=-1, keepdims=True)
    return (x @ _ones(x.shape[-1], x.dtype.str))[..., None]


def column_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=0) of a matrix, as ones @ x when it is large (see row_sum)."""
    if x.size < 4096:
        return x.sum(axis=0)
    return _ones(x.shape[0], x.dtype.str) @ x


# ---- linear: x @ w + b, weights stored (in, out) like GPT-2's Conv1D ---------------------

def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., in) @ (in, out) + (out,) -> (..., out), as one matrix product over all rows."""
    y = x.reshape(-1, x.shape[-1]) @ w  # (N, out)
    y += b
    return y.reshape(*x.shape[:-1], w.shape[1])


def linear_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray):
    """Gradients of `linear` with respect to x, w and b."""
    x2 = x.reshape(-1, x.shape[-1])  # (N, in)
    d2 = dout.reshape(-1, dout.shape[-1])  # (N, out)
    dx = (d2 @ w.T).reshape(x.shape)
    dw = x2.T @ d2
    db = column_sum(d2)
    return dx, dw, db


def embedding_backward(dout: np.ndarray, ids: np.ndarray, n_rows: int) -> np.ndarray:
    """Gradient of a table lookup `table[ids]`: each row collects the gradients of every
    place it was looked up, (..., C) -> (n_rows, C)."""
    flat_ids = ids.reshape(-1)
    flat = dout.reshape(-1, dout.shape[-1])
    order = np.argsort(flat_ids, kind="stable")
    rows, starts = np.unique(flat_ids[order], return_index=True)
    grad = np.zeros((n_rows, flat.shape[1]), dtype=dout.dtype)
    grad[rows] = np.add.reduceat(flat[order], starts, axis=0)
    return grad


# ---- layer norm --------------------------------------------------------------------------

def layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = LN_EPS):
    """x_hat = (x - mean) / sqrt(var + eps) over the last axis; out = x_hat * g + b.

    Returns (out, x_hat, rstd); x_hat and rstd (1/std) are what the backward needs.
    """
    C = x.shape[-1]
    x_hat = x - row_sum(x) * (1.0 / C)
    var = row_sum(np.square(x_hat)) * (1.0 / C)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat *= rstd
    out = x_hat * g
    out += b
    return out, x_hat, rstd


def layernorm_backward(dout: np.ndarray, x_hat: np.ndarray, rstd: np.ndarray, g: np.ndarray):
    """Gradients of `layernorm` with respect to x, g and b.

    With dx_hat = dout * g, and mean and rstd depending on x too:
        dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    """
    C = x_hat.shape[-1]
    d2 = dout.reshape(-1, C)
    dg = column_sum(d2 * x_hat.reshape(-1, C))
    db = column_sum(d2)
    dx = dout * g  # dx_hat, turned into dx in place
    mean_dx_hat = row_sum(dx) * (1.0 / C)
    mean_dx_hat_x_hat = row_sum(dx * x_hat) * (1.0 / C)
    dx -= mean_dx_hat
    dx -= x_hat * mean_dx_hat_x_hat
    dx *= rstd
    return dx, dg, db


# ---- GELU, the tanh approximation GPT-2 uses ----------------------------------------------

def gelu(x: np.ndarray):
    """0.5 x (1 + t),  t = tanh(u),  u = sqrt(2/pi) (x + 0.044715 x^3).

    Returns (out, t); the backward reuses t.
    """
    t = x * x
    t *= 0.044715
    t += 1.0
    t *= x
    t *= GELU_C  # u
    np.tanh(t, out=t)
    y = t + 1.0
    y *= x
    y *= 0.5
    return y, t


def gelu_backward(dout: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Gradient of `gelu` with respect to x, given t from the forward:
        0.5 (1 + t) + 0.5 x (1 - t^2) du/dx,  du/dx = sqrt(2/pi) (1 + 3·0.044715 x^2)
    """
    dudx = x * x
    dudx *= 3 * 0.044715
    dudx += 1.0
    dudx *= GELU_C
    grad = t * t
    np.subtract(1.0, grad, out=grad)  # 1 - t^2
    grad *= x
    grad *= dudx
    grad += t
    grad += 1.0
    grad *= 0.5
    grad *= dout
    return grad


# ---- softmax and causal self-attention ------------------------------------------------------

def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x) / sum(exp(x)) over the last axis, shifted by the max for stability;
    -inf entries give 0."""
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= row_sum(e)
    return e


def causal_mask(Tq: int, Tk: int | None = None) -> np.ndarray:
    """(Tq, Tk) booleans, True where a query may look at a key.

    The Tq queries are the last Tq of the Tk positions (Tk > Tq when earlier keys come from
    a KV cache), so query i sits at position Tk - Tq + i and sees keys 0 .. that position.
    """
    Tk = Tq if Tk is None else Tk
    return np.tri(Tq, Tk, Tk - Tq, dtype=bool)


@functools.lru_cache(maxsize=256)
def causal_bias(Tq: int, Tk: int, dtype: str) -> np.ndarray:
    """(Tq, Tk) additive mask: 0 where a query may look, -inf where it may not.

    Made once per shape (the generation loop asks for it at every step) and read-only.
    """
    bias = np.where(causal_mask(Tq, Tk), 0.0, -np.inf).astype(dtype)
    bias.setflags(write=False)
    return bias


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """softmax(q kᵀ / √d + mask) v for a batch of heads.

    q: (B, nh, Tq, hs); k, v: (B, nh, Tk, hs). Returns (y, scores, att): y (B, nh, Tq, hs)
    is the weighted sum of values, scores (B, nh, Tq, Tk) the raw scaled dot products
    (before the mask), att the attention weights (rows sum to 1, zero on masked keys).
    """
    scores = q @ k.swapaxes(-1, -2)
    scores *= 1.0 / math.sqrt(q.shape[-1])
    att = scores + causal_bias(*scores.shape[-2:], scores.dtype.str)  # no peeking ahead
    att -= att.max(axis=-1, keepdims=True)  # softmax, in place
    np.exp(att, out=att)
    att /= row_sum(att)
    return att @ v, scores, att


def attention_backward(dy: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       att: np.ndarray):
    """Gradients of `attention` with respect to q, k and v.

    Through the softmax: dscores = att * (datt - sum(datt * att)), row by row; masked
    entries have att == 0, so their gradient is 0.
    """
    dv = att.swapaxes(-1, -2) @ dy
    dscores = dy @ v.swapaxes(-1, -2)  # datt (B, nh, T, T), turned into dscores in place
    dscores -= row_sum(dscores * att)
    dscores *= att
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
