"""Faster stand-ins for the functions of layers.py: the same arithmetic, arranged for speed.

layers.py says what each layer computes; this file computes it with fewer temporaries, in
place, and in whichever formulation is fastest on the platform, measured with
tests/bench/bench_engine.py and tests/bench/bench_engine_pyodide.py:

- CPython's NumPy hands matrix products to BLAS, which also sums short rows faster as
  `x @ ones` than NumPy's own reduction does;
- Pyodide's NumPy (in the browser, sys.platform == "emscripten") has no BLAS: its `@` runs
  a plain loop, 1.5 to 2 times slower than an `einsum` whose innermost loop is a dot
  product of two contiguous rows, so there the linear layers are einsums over contiguous
  copies (or, faster still, products by a `matmul` the lab gives: its WebAssembly SIMD one,
  app/site/simd.py), and attention runs in tiles of queries, skipping masked keys.

When a kernel stands in: each kernel pair (forward and backward) replaces the readable
functions listed in STANDS_IN_FOR only while their code is as shipped, which SHIPPED records
as a sha256 of their tokens (comments, docstrings, blank lines and spacing left out). Change
what one of them computes and the fingerprint differs, so the model runs your code; change
nothing, or only its comments and docstrings, and it runs these.
Every path (the readable functions, the native kernels, the browser kernels with and without
a matmul) is checked against PyTorch by tests/engine/test_torch_oracle.py.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import ModuleType

import numpy as np

from engine.fingerprint import fingerprint
from engine.layers import AttentionCache

# kernel pair -> the readable functions of layers.py it stands in for (all as shipped)
STANDS_IN_FOR = {
    "embedding": ("embedding", "embedding_backward"),
    "linear": ("linear", "linear_backward"),
    "layernorm": ("layernorm", "layernorm_backward"),
    "gelu": ("gelu", "gelu_backward"),
    "attention": ("attention", "attention_backward", "softmax", "log_softmax", "causal_mask"),
    "cross_entropy": ("cross_entropy", "cross_entropy_backward", "log_softmax"),
}
# kernel pair -> fingerprint.py's fingerprint of those functions' shipped code; a change to
# what they compute must be checked against the kernel and then recorded here (a test says so)
SHIPPED = {
    "embedding": "b891fa4b7e7b038d",
    "linear": "3964b15e079b0810",
    "layernorm": "5a150693e3ba59ef",
    "gelu": "e8252b9c3f1f072a",
    "attention": "cd75e5245eac1f23",
    "cross_entropy": "d3f9080ba9291e99",
}


@dataclass(frozen=True)
class Layers:
    """The layer functions a model runs, under layers.py's names."""

    embedding: Callable
    embedding_backward: Callable
    linear: Callable
    linear_backward: Callable
    layernorm: Callable
    layernorm_backward: Callable
    gelu: Callable
    gelu_backward: Callable
    attention: Callable
    attention_backward: Callable
    cross_entropy: Callable
    cross_entropy_backward: Callable
    kernels: tuple[str, ...] = ()  # the pairs a kernel stands in for; () is all readable


def as_written(layers: Layers) -> tuple[str, ...]:
    """The functions of layers.py that a model running `layers` runs as written: those of
    every pair no kernel stands in for (log_softmax, say, once either pair using it does)."""
    return tuple(dict.fromkeys(name for pair, names in STANDS_IN_FOR.items()
                               if pair not in layers.kernels for name in names))


def readable(layers: ModuleType) -> Layers:
    """The functions of `layers` (the module layers.py), with no kernel standing in."""
    return Layers(**{f.name: getattr(layers, f.name) for f in fields(Layers)
                     if f.name != "kernels"})


def stand_ins(layers: ModuleType, platform: str = sys.platform,
              matmul: Callable | None = None) -> Layers:
    """The functions of `layers`, with this platform's kernel standing in for every pair
    whose readable functions are as shipped (in the browser, linear ones on `matmul`)."""
    browser = BROWSER if matmul is None else BROWSER | linear_by(matmul)
    kernels = browser if platform == "emscripten" else NATIVE
    chosen = vars(readable(layers)) | {"kernels": ()}
    standing = tuple(pair for pair, names in STANDS_IN_FOR.items()
                     if fingerprint(layers, names) == SHIPPED[pair])
    for pair in standing:
        chosen |= {pair: kernels[pair], f"{pair}_backward": kernels[f"{pair}_backward"]}
    return Layers(**chosen | {"kernels": standing})


# ---- sums of short rows ----------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _ones(n: int, dtype: str) -> np.ndarray:
    ones = np.ones(n, dtype=dtype)
    ones.setflags(write=False)
    return ones


def row_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=-1, keepdims=True), as x @ ones when x is large: BLAS adds rows as short
    as ours (64 to 256 numbers) several times faster than NumPy's reduction does."""
    if x.size < 4096:
        return x.sum(axis=-1, keepdims=True)
    return (x @ _ones(x.shape[-1], x.dtype.str))[..., None]


def column_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=0) of a matrix, as ones @ x when it is large (see row_sum)."""
    if x.size < 4096:
        return x.sum(axis=0)
    return _ones(x.shape[0], x.dtype.str) @ x


def _rows(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])  # (..., n) -> (N, n)


# ---- embedding -------------------------------------------------------------------------------

def embedding(table: np.ndarray, ids: np.ndarray):
    return table[ids], (ids, table.shape[0])


def embedding_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Sorts the ids once and adds each row's gradients with one reduceat (np.add.at adds
    them one by one)."""
    ids, n_rows = cache
    flat_ids, flat = ids.reshape(-1), _rows(dout)
    order = np.argsort(flat_ids, kind="stable")
    rows, starts = np.unique(flat_ids[order], return_index=True)
    dtable = np.zeros((n_rows, flat.shape[1]), dtype=dout.dtype)
    dtable[rows] = np.add.reduceat(flat[order], starts, axis=0)
    return dtable


# ---- linear: one product over all rows (BLAS) or einsums over contiguous rows (browser) ------

def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    y = _rows(x) @ w  # (N, out)
    y += b
    return y.reshape(*x.shape[:-1], w.shape[1]), (x, w)


def linear_backward(dout: np.ndarray, cache):
    x, w = cache
    x_rows, dout_rows = _rows(x), _rows(dout)
    dx = (dout_rows @ w.T).reshape(x.shape)
    return dx, x_rows.T @ dout_rows, column_sum(dout_rows)


def linear_einsum(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    w_t = np.ascontiguousarray(w.T)  # (out, in): each output's weights in one row
    y = np.einsum("ni,oi->no", _rows(x), w_t)  # (N, out), dot products of contiguous rows
    y += b
    return y.reshape(*x.shape[:-1], w.shape[1]), (x, w)


def linear_backward_einsum(dout: np.ndarray, cache):
    x, w = cache
    x_rows, dout_rows = _rows(x), _rows(dout)
    w = np.ascontiguousarray(w)  # (in, out); a copy only for a transposed one (the LM head)
    dx = np.einsum("no,io->ni", dout_rows, w).reshape(x.shape)  # rows of dout · rows of w
    x_cols = np.ascontiguousarray(x_rows.T)  # (in, N)
    dout_cols = np.ascontiguousarray(dout_rows.T)  # (out, N)
    dw = np.einsum("in,on->io", x_cols, dout_cols)  # (in, out), dots over all N positions
    return dx, dw, row_sum(dout_cols)[:, 0]


def linear_by(matmul: Callable) -> dict[str, Callable]:
    """`linear` and `linear_backward` whose matrix products are `matmul(a, b)`: a @ b of two
    matrices of one dtype, whatever their strides (a transposed view is passed as such)."""
    def linear_matmul(x: np.ndarray, w: np.ndarray, b: np.ndarray):
        y = matmul(_rows(x), w)  # (N, out)
        y += b
        return y.reshape(*x.shape[:-1], w.shape[1]), (x, w)

    def linear_backward_matmul(dout: np.ndarray, cache):
        x, w = cache
        x_rows, dout_rows = _rows(x), _rows(dout)
        dx = matmul(dout_rows, w.T).reshape(x.shape)  # (N, out) @ (out, in)
        dw = matmul(x_rows.T, dout_rows)  # (in, N) @ (N, out)
        return dx, dw, column_sum(dout_rows)

    return {"linear": linear_matmul, "linear_backward": linear_backward_matmul}


# ---- layer norm, finished in place -----------------------------------------------------------

def layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5):
    C = x.shape[-1]
    x_hat = x - row_sum(x) * (1.0 / C)
    var = row_sum(np.square(x_hat)) * (1.0 / C)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat *= rstd
    out = x_hat * g
    out += b
    return out, (x_hat, rstd, g)


def layernorm_backward(dout: np.ndarray, cache):
    x_hat, rstd, g = cache
    C = x_hat.shape[-1]
    dout_rows = _rows(dout)
    dg = column_sum(dout_rows * _rows(x_hat))
    db = column_sum(dout_rows)
    dx = dout * g  # dx_hat, turned into dx in place
    mean_dx_hat = row_sum(dx) * (1.0 / C)
    mean_dx_hat_x_hat = row_sum(dx * x_hat) * (1.0 / C)
    dx -= mean_dx_hat
    dx -= x_hat * mean_dx_hat_x_hat
    dx *= rstd
    return dx, dg, db


# ---- GELU, in place, keeping the tanh for the backward ---------------------------------------

GELU_C = math.sqrt(2.0 / math.pi)


def gelu_by_exp(x: np.ndarray):
    """GELU with tanh(u) = 2 / (1 + exp(-2u)) - 1, in place: NumPy's exp is faster than its
    tanh, natively (3-4% of a training step) and in Pyodide 0.29.3 (2-3 times, in Chromium)."""
    t = x * x
    t *= -2 * GELU_C * 0.044715
    t -= 2 * GELU_C
    t *= x  # -2u
    with np.errstate(over="ignore"):  # exp(-2u) = inf for u < -44 gives tanh(u) = -1, right
        np.exp(t, out=t)
    t += 1.0
    np.divide(2.0, t, out=t)
    t -= 1.0  # tanh(u)
    y = t + 1.0
    y *= x
    y *= 0.5
    return y, (x, t)


def gelu_backward(dout: np.ndarray, cache) -> np.ndarray:
    x, t = cache
    dudx = x * x
    dudx *= 3 * 0.044715
    dudx += 1.0
    dudx *= GELU_C
    grad = t * t
    np.subtract(1.0, grad, out=grad)  # 1 - t²
    grad *= x
    grad *= dudx
    grad += t
    grad += 1.0
    grad *= 0.5
    grad *= dout
    return grad


# ---- attention: the causal mask as a cached bias, in tiles that skip the masked keys ---------

@functools.lru_cache(maxsize=256)
def causal_bias(Tq: int, Tk: int, dtype: str) -> np.ndarray:
    """(Tq, Tk): 0 where a query may look, -inf where it may not; made once per shape."""
    bias = np.where(np.tri(Tq, Tk, Tk - Tq, dtype=bool), 0.0, -np.inf).astype(dtype)
    bias.setflags(write=False)
    return bias


def query_tiles(Tq: int, Tk: int, size: int) -> list[tuple[int, int, int]]:
    """(first query, last query + 1, keys seen) for tiles of `size` queries: the Tq queries
    are the last of the Tk positions, so the tile ending at query b sees Tk - Tq + b keys."""
    return [(a, min(a + size, Tq), Tk - Tq + min(a + size, Tq)) for a in range(0, Tq, size)]


def softmax_in_place(x: np.ndarray) -> np.ndarray:
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= row_sum(x)
    return x


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, tile: int | None = None):
    """With `tile`, each tile of that many queries runs its softmax and weighted sum over
    the keys it may see only: for 64 tokens in tiles of 16, 5/8 of the work of the whole
    square (the scores stay whole: the pictures show them)."""
    scores = q @ k.swapaxes(-1, -2)  # (B, nh, Tq, Tk)
    scores *= 1.0 / math.sqrt(q.shape[-1])
    Tq, Tk = scores.shape[-2:]
    if tile is None or tile >= Tq:
        att = softmax_in_place(scores + causal_bias(Tq, Tk, scores.dtype.str))
        return att @ v, AttentionCache(q, k, v, scores, att)
    att = np.zeros_like(scores)
    y = np.empty_like(q)
    for a, b, keys in query_tiles(Tq, Tk, tile):
        weights = softmax_in_place(scores[..., a:b, :keys]
                                   + causal_bias(b - a, keys, scores.dtype.str))
        att[..., a:b, :keys] = weights
        np.matmul(weights, v[..., :keys, :], out=y[..., a:b, :])
    return y, AttentionCache(q, k, v, scores, att)


def attention_backward(dout: np.ndarray, cache: AttentionCache, tile: int | None = None):
    """The backward of `attention`; in tiles, the keys a tile may not see get no gradient
    from it (their weights are 0)."""
    q, k, v, _, att = cache
    scale = 1.0 / math.sqrt(q.shape[-1])
    Tq, Tk = att.shape[-2:]
    if tile is None or tile >= Tq:
        dv = att.swapaxes(-1, -2) @ dout
        dscores = dout @ v.swapaxes(-1, -2)  # datt, turned into dscores in place
        dscores -= row_sum(dscores * att)
        dscores *= att
        dscores *= scale
        return dscores @ k, dscores.swapaxes(-1, -2) @ q, dv
    dq, dk, dv = np.empty_like(q), np.zeros_like(k), np.zeros_like(v)
    for a, b, keys in query_tiles(Tq, Tk, tile):
        weights, dy = att[..., a:b, :keys], dout[..., a:b, :]
        dv[..., :keys, :] += weights.swapaxes(-1, -2) @ dy
        dscores = dy @ v[..., :keys, :].swapaxes(-1, -2)
        dscores -= row_sum(dscores * weights)
        dscores *= weights
        dscores *= scale
        np.matmul(dscores, k[..., :keys, :], out=dq[..., a:b, :])
        dk[..., :keys, :] += dscores.swapaxes(-1, -2) @ q[..., a:b, :]
    return dq, dk, dv


TILED_FROM = 1 << 16  # attention weights from which tiles pay in Pyodide (4 windows of 64)


def attention_in_tiles(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """`attention` in tiles of 16 queries once there are enough weights: in Pyodide 14%
    faster at 8 windows of 64 tokens (natively, no faster)."""
    return attention(q, k, v, 16 if q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2]
                     >= TILED_FROM else None)


def attention_backward_in_tiles(dout: np.ndarray, cache: AttentionCache):
    return attention_backward(dout, cache, 16 if cache.att.size >= TILED_FROM else None)


# ---- the loss --------------------------------------------------------------------------------

def cross_entropy(logits: np.ndarray, targets: np.ndarray):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=-1, keepdims=True)
    N = targets.shape[0]
    log_p = shifted[np.arange(N), targets] - np.log(sum_exp[:, 0])
    exp /= sum_exp  # the probabilities, for the backward
    return float(-log_p.mean()), (exp, targets)


def cross_entropy_backward(dloss: float, cache) -> np.ndarray:
    probs, targets = cache
    N = targets.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(N), targets] -= 1.0
    dlogits *= dloss / N
    return dlogits


# ---- the two platforms' kernels ---------------------------------------------------------------

NATIVE = {
    "embedding": embedding, "embedding_backward": embedding_backward,
    "linear": linear, "linear_backward": linear_backward,
    "layernorm": layernorm, "layernorm_backward": layernorm_backward,
    "gelu": gelu_by_exp, "gelu_backward": gelu_backward,
    "attention": attention, "attention_backward": attention_backward,
    "cross_entropy": cross_entropy, "cross_entropy_backward": cross_entropy_backward,
}
BROWSER = NATIVE | {"linear": linear_einsum, "linear_backward": linear_backward_einsum,
                    "attention": attention_in_tiles,
                    "attention_backward": attention_backward_in_tiles}
