"""The residual stream's tracks: how long each token's vector is after every sub-block, and
how much each sub-block added to it.

Every token has its own track through the model, a vector of C = n_embd numbers. Each block
reads it twice and adds what it computed:

    x -> x + attn(ln_1(x)) -> that + mlp(ln_2(that))

so the stream has 1 + 2·n_layer points (the depths of engine/lens.py's `depth_names`:
embedding, 0.attn, 0.mlp, 1.attn, ...), and 2·n_layer additions in between. The lengths
(L2 norms) show how the track grows as sub-blocks write into it, and which ones write most.
"""

from __future__ import annotations

import numpy as np

from engine.trace import Trace


def track_norms(trace: Trace, row: int = 0) -> np.ndarray:
    """(T, 1 + 2 n_layer): the length of each token's vector of sequence `row` after each
    sub-block, the embedding first."""
    stream = np.stack([x[row] for x in trace.residual_stream()], axis=1)  # (T, depths, C)
    return np.linalg.norm(stream, axis=-1)


def added_norms(trace: Trace, row: int = 0) -> np.ndarray:
    """(T, 2 n_layer): the length of what each sub-block added to each token's vector of
    sequence `row`: block 0's attention, block 0's MLP, block 1's attention, ..."""
    added = np.stack([part[row] for b in trace.blocks for part in (b.attn_out, b.mlp_out)],
                     axis=1)  # (T, 2 n_layer, C)
    return np.linalg.norm(added, axis=-1)
