"""A GPT-2 style transformer in NumPy: forward with a full trace, and a hand-written backward.

Parameter names follow the GPT-2 checkpoints, weights are stored (in, out), blocks are
pre-norm, GELU is the tanh form and the LM head is tied to the token embedding `wte`:

    x = wte[idx] + wpe[pos]
    for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
    logits = ln_f(x) @ wteᵀ

The layers are the functions of layers.py, passed around as `layers` (a kernels.Layers):
for every pair of them you have not edited, a faster kernel of kernels.py with the same
results stands in; edit one and the model runs yours (`GPT.layers.kernels` says which
kernels run).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from engine import kernels
from engine import layers as readable
from engine.kernels import Layers
from engine.trace import BlockTrace, Trace

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class GPTConfig:
    """The five numbers that fix a GPT's shape."""

    vocab_size: int  # V: how many distinct tokens
    block_size: int  # longest context the model sees (rows of wpe)
    n_layer: int  # transformer blocks
    n_head: int  # attention heads per block
    n_embd: int  # C: width of the residual stream

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in the order the data meets them."""
        V, T, C = self.vocab_size, self.block_size, self.n_embd
        shapes = {"wte": (V, C), "wpe": (T, C)}
        for i in range(self.n_layer):
            shapes |= {
                f"h.{i}.ln_1.g": (C,), f"h.{i}.ln_1.b": (C,),
                f"h.{i}.attn.c_attn.w": (C, 3 * C), f"h.{i}.attn.c_attn.b": (3 * C,),
                f"h.{i}.attn.c_proj.w": (C, C), f"h.{i}.attn.c_proj.b": (C,),
                f"h.{i}.ln_2.g": (C,), f"h.{i}.ln_2.b": (C,),
                f"h.{i}.mlp.c_fc.w": (C, 4 * C), f"h.{i}.mlp.c_fc.b": (4 * C,),
                f"h.{i}.mlp.c_proj.w": (4 * C, C), f"h.{i}.mlp.c_proj.b": (C,),
            }
        return shapes | {"ln_f.g": (C,), "ln_f.b": (C,)}

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())


def init_params(config: GPTConfig, seed: int = 0, dtype=np.float32) -> Params:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm gains, and the
    projections into the residual stream scaled down by 1/√(2·n_layer).

    Drawn in float64 and then cast, so float32 and float64 models with one seed agree.
    """
    rng = np.random.default_rng(seed)
    residual_std = 0.02 / math.sqrt(2 * config.n_layer)
    params = {}
    for name, shape in config.param_shapes().items():
        if name.endswith(".g"):
            p = np.ones(shape)
        elif name.endswith(".b"):
            p = np.zeros(shape)
        else:
            std = residual_std if name.endswith("c_proj.w") else 0.02
            p = rng.normal(0.0, std, size=shape)
        params[name] = p.astype(dtype)
    return params


# What a model runs unless told otherwise: layers.py's functions, kernels standing in for
# every pair as shipped (on this platform: sys.platform picks the formulation).
STAND_INS = kernels.stand_ins(readable)


def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(B, T, C) -> (B, nh, T, hs)"""
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(B, nh, T, hs) -> (B, T, C)"""
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)


def block(x: np.ndarray, w: Params, n_head: int, layers: Layers,
          head_mask: np.ndarray | None = None,
          past_kv: tuple[np.ndarray, np.ndarray] | None = None) -> BlockTrace:
    """One pre-norm transformer block. `w` holds the block's parameters without the `h.{i}.`
    prefix; `past_kv` are cached keys and values (B, nh, P, hs) of earlier positions."""
    cache = {}
    ln_1, cache["ln_1"] = layers.layernorm(x, w["ln_1.g"], w["ln_1.b"])
    qkv, cache["attn.c_attn"] = layers.linear(ln_1, w["attn.c_attn.w"], w["attn.c_attn.b"])
    # (B, T, 3C) -> q, k, v: (B, nh, T, hs) each
    q, k, v = (split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))
    if past_kv is not None:
        k = np.concatenate([past_kv[0], k], axis=2)  # (B, nh, P+T, hs)
        v = np.concatenate([past_kv[1], v], axis=2)
    heads, cache["attn"] = layers.attention(q, k, v)  # (B, nh, T, hs)
    kept = heads if head_mask is None else heads * head_mask[:, None, None]
    attn_out, cache["attn.c_proj"] = layers.linear(merge_heads(kept), w["attn.c_proj.w"],
                                                   w["attn.c_proj.b"])
    resid_mid = x + attn_out

    ln_2, cache["ln_2"] = layers.layernorm(resid_mid, w["ln_2.g"], w["ln_2.b"])
    mlp_pre, cache["mlp.c_fc"] = layers.linear(ln_2, w["mlp.c_fc.w"], w["mlp.c_fc.b"])  # (B, T, 4C)
    mlp_post, cache["mlp.gelu"] = layers.gelu(mlp_pre)
    mlp_out, cache["mlp.c_proj"] = layers.linear(mlp_post, w["mlp.c_proj.w"],
                                                 w["mlp.c_proj.b"])
    att = cache["attn"]
    return BlockTrace(x=x, ln_1=ln_1, q=q, k=k, v=v, scores=att.scores, att=att.att,
                      heads=heads, head_mask=head_mask, attn_out=attn_out, resid_mid=resid_mid,
                      ln_2=ln_2, mlp_pre=mlp_pre, mlp_post=mlp_post, mlp_out=mlp_out,
                      resid_out=resid_mid + mlp_out, cache=cache)


def block_backward(dout: np.ndarray, t: BlockTrace, layers: Layers) -> tuple[np.ndarray, Params]:
    """Gradients of one block: dout is dLoss/d(resid_out); returns dLoss/dx and the
    parameter gradients (names without the `h.{i}.` prefix)."""
    c, g = t.cache, {}
    # resid_out = resid_mid + c_proj(gelu(c_fc(ln_2(resid_mid))))
    dmlp_post, g["mlp.c_proj.w"], g["mlp.c_proj.b"] = layers.linear_backward(dout, c["mlp.c_proj"])
    dmlp_pre = layers.gelu_backward(dmlp_post, c["mlp.gelu"])
    dln_2, g["mlp.c_fc.w"], g["mlp.c_fc.b"] = layers.linear_backward(dmlp_pre, c["mlp.c_fc"])
    dx_ln_2, g["ln_2.g"], g["ln_2.b"] = layers.layernorm_backward(dln_2, c["ln_2"])
    dresid_mid = dout + dx_ln_2

    # resid_mid = x + c_proj(merge(heads * head_mask))
    dkept, g["attn.c_proj.w"], g["attn.c_proj.b"] = layers.linear_backward(dresid_mid,
                                                                          c["attn.c_proj"])
    dheads = split_heads(dkept, t.q.shape[1])
    if t.head_mask is not None:
        dheads = dheads * t.head_mask[:, None, None]
    dq, dk, dv = layers.attention_backward(dheads, c["attn"])
    dqkv = np.concatenate([merge_heads(d) for d in (dq, dk, dv)], axis=-1)  # (B, T, 3C)
    dln_1, g["attn.c_attn.w"], g["attn.c_attn.b"] = layers.linear_backward(dqkv, c["attn.c_attn"])
    dx_ln_1, g["ln_1.g"], g["ln_1.b"] = layers.layernorm_backward(dln_1, c["ln_1"])
    return dresid_mid + dx_ln_1, g


class KVCache:
    """Keys and values of the positions a generating model has already seen, per block."""

    def __init__(self):
        self.kv: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        """How many positions are cached."""
        return self.kv[0][0].shape[2] if self.kv else 0

    def layer(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        return self.kv[i] if self.kv else None

    def update(self, trace: Trace) -> None:
        """Keep the keys and values (which include the cached ones) of a forward pass."""
        self.kv = [(b.k, b.v) for b in trace.blocks]


class GPT:
    """The model: its config, its parameters, and forward/backward passes over them.

    `params` is a plain dict name -> array; optimizers update it in place. `layers` are the
    layer functions it runs (default STAND_INS; kernels.readable(layers) forces layers.py's).
    """

    def __init__(self, config: GPTConfig, seed: int = 0, dtype=np.float32,
                 params: Params | None = None, layers: Layers | None = None):
        self.config = config
        self.params = init_params(config, seed, dtype) if params is None else params
        self.layers = STAND_INS if layers is None else layers
        self._layer_names = [[(n[len(f"h.{i}."):], n) for n in config.param_shapes()
                              if n.startswith(f"h.{i}.")] for i in range(config.n_layer)]

    @property
    def dtype(self) -> np.dtype:
        return self.params["wte"].dtype

    def layer_params(self, i: int) -> Params:
        """Block i's parameters, named without their `h.{i}.` prefix."""
        return {short: self.params[name] for short, name in self._layer_names[i]}

    def check_idx(self, idx, past_len: int = 0) -> np.ndarray:
        """Token ids as a (B, T) integer array, or a ValueError saying what is wrong."""
        idx = np.asarray(idx)
        if idx.ndim == 1:
            idx = idx[None, :]
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must be token ids of shape (B, T) or (T,) with T >= 1, "
                             f"got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"idx must hold integers, got {idx.dtype}")
        V, T_max = self.config.vocab_size, self.config.block_size
        if idx.min() < 0 or idx.max() >= V:
            raise ValueError(f"token ids must lie in [0, {V}), got {idx.min()}..{idx.max()}")
        if past_len + idx.shape[1] > T_max:
            raise ValueError(f"{past_len + idx.shape[1]} positions exceed the context of "
                             f"{T_max} (block_size); keep the last {T_max} tokens")
        return idx

    def forward(self, idx, targets=None, *, head_mask=None, cache: KVCache | None = None):
        """Logits for every position, and the trace of everything computed on the way.

        idx: (B, T) or (T,) token ids; logits come back (B, T, V) or (T, V) to match.
        targets: optional next-token ids shaped like idx; then trace.loss is their mean
        cross-entropy, and `backward(trace)` gives its gradients.
        head_mask: optional (n_layer, n_head) array, 1 keeps a head and 0 switches it off.
        cache: optional KVCache of earlier positions; the new tokens follow them.
        """
        single = np.ndim(idx) == 1
        P = len(cache) if cache is not None else 0
        idx = self.check_idx(idx, P)
        p, cfg, layers = self.params, self.config, self.layers
        masks = self._head_masks(head_mask)
        tc = {}  # the caches of the layers outside the blocks

        tok_emb, tc["wte"] = layers.embedding(p["wte"], idx)  # (B, T, C)
        pos_emb, tc["wpe"] = layers.embedding(p["wpe"], np.arange(P, P + idx.shape[1]))  # (T, C)
        x = emb = tok_emb + pos_emb
        blocks = []
        for i in range(cfg.n_layer):
            past = cache.layer(i) if cache is not None else None
            blocks.append(block(x, self.layer_params(i), cfg.n_head, layers, masks[i], past))
            x = blocks[-1].resid_out
        ln_f, tc["ln_f"] = layers.layernorm(x, p["ln_f.g"], p["ln_f.b"])
        # the LM head: a linear layer whose weights are wteᵀ (tied) and whose bias is zero
        logits, tc["lm_head"] = layers.linear(ln_f, p["wte"].T, self._no_bias())  # (B, T, V)
        trace = Trace(idx=idx, tok_emb=tok_emb, pos_emb=pos_emb, emb=emb, blocks=blocks,
                      ln_f=ln_f, logits=logits, past_len=P, cache=tc)
        if targets is not None:
            V = cfg.vocab_size
            trace.loss, tc["loss"] = layers.cross_entropy(logits.reshape(-1, V),
                                                          self._check_targets(idx, targets))
        if cache is not None:
            cache.update(trace)
        return (logits[0] if single else logits), trace

    def backward(self, trace: Trace, dlogits: np.ndarray | None = None) -> Params:
        """Gradients for every parameter, by the chain rule backwards through the trace: of
        trace.loss (the forward was given targets), or given dLoss/dlogits (B, T, V)."""
        if trace.past_len:
            raise ValueError("backward needs a forward pass without a KV cache")
        layers, tc, grads = self.layers, trace.cache, {}
        if dlogits is None:
            if "loss" not in tc:
                raise ValueError("backward needs the loss: call forward(idx, targets) first")
            dlogits = layers.cross_entropy_backward(1.0, tc["loss"]).reshape(trace.logits.shape)
        dx, dwte_t, _ = layers.linear_backward(dlogits, tc["lm_head"])  # dwte_t: (C, V)
        dx, grads["ln_f.g"], grads["ln_f.b"] = layers.layernorm_backward(dx, tc["ln_f"])
        for i in reversed(range(self.config.n_layer)):
            dx, g = block_backward(dx, trace.blocks[i], layers)
            grads |= {f"h.{i}.{n}": gi for n, gi in g.items()}
        # emb = wte[idx] + wpe[positions]
        grads["wte"] = dwte_t.T + layers.embedding_backward(dx, tc["wte"])
        grads["wpe"] = layers.embedding_backward(dx.sum(axis=0), tc["wpe"])
        return {name: grads[name] for name in self.params}  # same order as params

    def loss_and_grads(self, idx, targets, head_mask=None) -> tuple[float, Params]:
        """Mean cross-entropy of the next-token targets and its gradient for every parameter."""
        _, trace = self.forward(idx, targets, head_mask=head_mask)
        return trace.loss, self.backward(trace)

    def _no_bias(self) -> np.ndarray:
        return np.zeros(self.config.vocab_size, dtype=self.dtype)

    def _check_targets(self, idx: np.ndarray, targets) -> np.ndarray:
        targets = np.asarray(targets)
        if targets.size == idx.size and targets.ndim == 1:
            targets = targets[None, :]
        if targets.shape != idx.shape:
            raise ValueError(f"targets shape {targets.shape} differs from idx {idx.shape}")
        if not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"targets must hold integers, got {targets.dtype}")
        if targets.min() < 0 or targets.max() >= self.config.vocab_size:
            raise ValueError(f"target ids must lie in [0, {self.config.vocab_size})")
        return targets.reshape(-1)

    def _head_masks(self, head_mask) -> list[np.ndarray | None]:
        cfg = self.config
        if head_mask is None:
            return [None] * cfg.n_layer
        m = np.asarray(head_mask, dtype=self.dtype)
        if m.shape != (cfg.n_layer, cfg.n_head):
            raise ValueError(f"head_mask must have shape {(cfg.n_layer, cfg.n_head)}, "
                             f"got {m.shape}")
        return [None if np.all(row == 1) else row for row in m]
