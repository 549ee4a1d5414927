"""What one forward pass computed, kept for the pictures and for the backward pass.

Shapes are for B sequences of T tokens, C = n_embd, nh heads of hs = C / nh dimensions and
V vocabulary entries. Every array is batched, even when the forward was given one sequence.
With a KV cache the T new tokens attend to P earlier ones, so keys and values carry P + T
positions; without one, P = 0. `cache` holds each layer's cache (what its forward returned
for its backward), keyed like the layer's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine.layers import causal_mask, softmax


@dataclass(eq=False, kw_only=True)
class BlockTrace:
    """One transformer block: x -> x + attn(ln_1(x)) -> that + mlp(ln_2(that))."""

    x: np.ndarray  # (B, T, C)        residual stream entering the block
    ln_1: np.ndarray  # (B, T, C)     LayerNorm of x
    q: np.ndarray  # (B, nh, T, hs)   queries
    k: np.ndarray  # (B, nh, P+T, hs) keys (cached ones first)
    v: np.ndarray  # (B, nh, P+T, hs) values
    scores: np.ndarray  # (B, nh, T, P+T) q kᵀ / √hs, before the causal mask
    att: np.ndarray  # (B, nh, T, P+T)   softmax of the masked scores: the attention weights
    heads: np.ndarray  # (B, nh, T, hs) att @ v, one output per head (before any head mask)
    head_mask: np.ndarray | None  # (nh,)  1 keeps a head, 0 switches it off; None: all on
    attn_out: np.ndarray  # (B, T, C)   heads merged and projected by c_proj
    resid_mid: np.ndarray  # (B, T, C)  x + attn_out: the stream after the attention sub-block
    ln_2: np.ndarray  # (B, T, C)       LayerNorm of resid_mid
    mlp_pre: np.ndarray  # (B, T, 4C)  c_fc output, before GELU
    mlp_post: np.ndarray  # (B, T, 4C) after GELU
    mlp_out: np.ndarray  # (B, T, C)   c_proj output
    resid_out: np.ndarray  # (B, T, C)  resid_mid + mlp_out: the stream leaving the block
    cache: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def masked_scores(self) -> np.ndarray:
        """(B, nh, T, P+T) scores with -inf where a query may not look (the future)."""
        Tq, Tk = self.scores.shape[-2:]
        return np.where(causal_mask(Tq, Tk), self.scores, -np.inf)


@dataclass(eq=False, kw_only=True)
class Trace:
    """Every intermediate of `GPT.forward`, in the order the data flows."""

    idx: np.ndarray  # (B, T)     token ids
    tok_emb: np.ndarray  # (B, T, C)  rows of wte looked up by idx
    pos_emb: np.ndarray  # (T, C)     rows of wpe for positions P .. P+T-1
    emb: np.ndarray  # (B, T, C)  tok_emb + pos_emb: the residual stream entering block 0
    blocks: list[BlockTrace]
    ln_f: np.ndarray  # (B, T, C)  LayerNorm of the last block's output
    logits: np.ndarray  # (B, T, V)  ln_f @ wteᵀ (the LM head is tied to wte)
    past_len: int = 0  # P: positions that came from a KV cache
    loss: float | None = None  # mean cross-entropy, when the forward was given targets
    cache: dict[str, object] = field(default_factory=dict, repr=False)

    @cached_property
    def probs(self) -> np.ndarray:
        """(B, T, V) softmax of the logits: the next-token distribution at every position."""
        return softmax(self.logits)

    def residual_stream(self) -> list[np.ndarray]:
        """The stream after each sub-block: [emb, block0 mid, block0 out, block1 mid, ...]."""
        stream = [self.emb]
        for b in self.blocks:
            stream += [b.resid_mid, b.resid_out]
        return stream
