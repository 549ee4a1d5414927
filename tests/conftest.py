"""Shared fixtures: small random models, the corpus and the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import GPT, GPTConfig

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_TINY = ROOT / "weights_tiny"


def random_model(config: GPTConfig, seed: int = 0, dtype=np.float64, jitter: float = 0.1) -> GPT:
    """A model whose every parameter (LayerNorm gains and biases too) is randomised, so that
    no gradient is zero or symmetric by accident."""
    model = GPT(config, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for p in model.params.values():
        p += rng.normal(0.0, jitter, p.shape).astype(dtype)
    return model


@pytest.fixture(scope="session")
def corpus_text() -> str:
    from engine.corpus import load_corpus

    return load_corpus()  # raises CorpusMissing with the command to run


@pytest.fixture(scope="session")
def shipped():
    from engine.weights import load_weights

    return load_weights(WEIGHTS_TINY)
