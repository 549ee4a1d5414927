"""The residual stream's track lengths (engine/residual.py), against np.linalg.norm taken
token by token on a random model's trace."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.lens import depth_names
from engine.residual import added_norms, track_norms
from tests.support.models import random_model

CONFIG = GPTConfig(vocab_size=13, block_size=10, n_layer=3, n_head=2, n_embd=8)


@pytest.fixture
def trace():
    idx = np.random.default_rng(0).integers(0, 13, (2, 7))  # two sequences of 7 tokens
    return random_model(CONFIG, seed=5).forward(idx)[1]


def test_track_lengths_after_every_sub_block(trace):
    for row in (0, 1):
        norms = track_norms(trace, row)
        assert norms.shape == (7, len(depth_names(3))) == (7, 7)
        for t in range(7):
            points = [trace.emb[row, t]] + [x[row, t] for b in trace.blocks
                                            for x in (b.resid_mid, b.resid_out)]
            np.testing.assert_allclose(norms[t], [np.linalg.norm(x) for x in points],
                                       rtol=1e-12)


def test_what_each_sub_block_added(trace):
    for row in (0, 1):
        added = added_norms(trace, row)
        assert added.shape == (7, 6)
        for t in range(7):
            expected = [np.linalg.norm(x[row, t]) for b in trace.blocks
                        for x in (b.attn_out, b.mlp_out)]
            np.testing.assert_allclose(added[t], expected, rtol=1e-12)
        # what a sub-block added is the step between two neighbouring points of the track
        stream = np.stack([x[row] for x in trace.residual_stream()], axis=1)  # (T, 7, C)
        np.testing.assert_allclose(added, np.linalg.norm(np.diff(stream, axis=1), axis=-1),
                                   rtol=1e-9)
