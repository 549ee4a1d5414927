"""The logit lens: what the model would predict if it stopped after any sub-block.

The model turns its residual stream into next-token logits only at the very end:

    logits = ln_f(x) @ wteᵀ

The logit lens (nostalgebraist, 2020) applies that same last step to the stream after
every sub-block, so each depth gets a next-token distribution. At the last depth it *is*
the model's prediction; earlier rows show how the prediction forms on the way there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.layers import layernorm, softmax
from engine.trace import Trace


def depth_names(n_layer: int) -> list[str]:
    """One name per point of the stream: after the embedding, then each block's two parts."""
    return ["embedding"] + [f"{i}.{part}" for i in range(n_layer) for part in ("attn", "mlp")]


def lens_logits(stream: np.ndarray, ln_f_g: np.ndarray, ln_f_b: np.ndarray,
                wte: np.ndarray) -> np.ndarray:
    """(..., C) residual stream -> (..., V) logits, through the final LayerNorm and the
    tied embedding, exactly as the model's head does."""
    normed = layernorm(stream, ln_f_g, ln_f_b)[0]  # (..., C); [1:] is what backward needs
    return normed @ wte.T


@dataclass(frozen=True)
class LensReading:
    """The lens at one position: a next-token distribution at every depth."""

    position: int  # which token of the sequence
    probs: np.ndarray  # (depths, V) float64, one distribution per depth (the last: the model's)
    final: int  # the model's own prediction: the likeliest token at the last depth

    def top(self, k: int) -> np.ndarray:
        """(depths, k) ids of the k likeliest tokens at each depth, likeliest first."""
        return np.argsort(-self.probs, axis=-1, kind="stable")[:, :k]

    @property
    def final_probs(self) -> np.ndarray:
        """(depths,) the probability each depth gives the model's final prediction."""
        return self.probs[:, self.final]

    @property
    def final_ranks(self) -> np.ndarray:
        """(depths,) where the final prediction ranks at each depth (1 is the top)."""
        return (self.probs > self.final_probs[:, None]).sum(axis=-1) + 1


def logit_lens(trace: Trace, params: dict[str, np.ndarray], position: int,
               row: int = 0) -> LensReading:
    """Decode the stream of sequence `row` at `position` after every sub-block."""
    T = trace.idx.shape[1]
    if not -T <= position < T:
        raise ValueError(f"position {position} is outside the {T} tokens of the sequence")
    stream = np.stack([x[row, position] for x in trace.residual_stream()])  # (depths, C)
    logits = lens_logits(stream, params["ln_f.g"], params["ln_f.b"], params["wte"])
    probs = softmax(logits.astype(np.float64))  # (depths, V)
    return LensReading(position % T, probs, int(np.argmax(probs[-1])))
