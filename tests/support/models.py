"""Where things are, and small random models whose every parameter is non-trivial."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import GPT, GPTConfig, kernels, layers
from engine.kernels import Layers

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_TINY = ROOT / "weights_tiny"

# every way the model can run its layers: layers.py's functions as written, and the kernels
# that stand in for them natively and in the browser (forced here on any platform); in the
# browser also with the linear layers on a given matrix product (the lab gives its WebAssembly
# one, checked in Chromium by tests/browser/test_pyodide_simd.py; here NumPy's)
LAYER_PATHS = {
    "readable": kernels.readable(layers),
    "native": kernels.stand_ins(layers, platform="linux"),
    "browser": kernels.stand_ins(layers, platform="emscripten"),
    "browser-matmul": kernels.stand_ins(layers, platform="emscripten", matmul=np.matmul),
}


def random_model(config: GPTConfig, seed: int = 0, dtype=np.float64, jitter: float = 0.1,
                 layers: Layers | None = None) -> GPT:
    """A model whose every parameter (LayerNorm gains and biases too) is randomised, so that
    no gradient is zero or symmetric by accident."""
    model = GPT(config, seed=seed, dtype=dtype, layers=layers)
    rng = np.random.default_rng(seed + 1)
    for p in model.params.values():
        p += rng.normal(0.0, jitter, p.shape).astype(dtype)
    return model
