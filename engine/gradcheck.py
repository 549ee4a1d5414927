"""Is an engine still right? A quick check of each layer and of the whole model, in float64.

For each operation the model runs (its `layers`: layers.py's functions, or the kernels
standing in for them), on small random inputs:
  - forward: is its output the shipped operation's? A change is allowed; it is measured as
    the largest difference, relative to the largest shipped value;
  - backward: do its gradients match central finite differences of its own forward? For
    each input x, along a random direction u,
        (L(x + εu) - L(x - εu)) / 2ε  ≈  grad · u        (L = sum(w * out), w random)
    and the error is the difference relative to |grad|·|u|.
Then the whole model on a tiny config: its logits against the shipped model's, and the
same test of each parameter tensor's gradient of the loss.

A correct backward gives errors near 1e-9; a backward that no longer matches its forward
gives errors of order 1. Each row stops at its own exception (noted in the row), and the
check stops between rows once `budget` seconds have passed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from types import ModuleType

import numpy as np

EPS = 1e-6  # finite-difference step (float64)
FORWARD_TOL = 1e-9  # relative difference below which a forward counts as unchanged
BACKWARD_TOL = 1e-5  # relative error below which a gradient counts as matching
OPS = ("embedding", "linear", "layernorm", "gelu", "attention", "cross_entropy")


@dataclass(frozen=True)
class Row:
    """One operation (or the whole model): how its forward and backward fared."""

    name: str
    forward_change: float | None = None  # vs the shipped one; None: not measured
    backward_error: float | None = None  # vs finite differences; None: not measured
    errors: dict[str, float] = field(default_factory=dict)  # input or parameter -> error
    note: str = ""  # the exception that stopped this row, or why it did not run

    @property
    def forward_same(self) -> bool:
        return self.forward_change is not None and self.forward_change <= FORWARD_TOL

    @property
    def backward_ok(self) -> bool:
        return self.backward_error is not None and self.backward_error <= BACKWARD_TOL


@dataclass(frozen=True)
class EngineCheck:
    """Every row, and how long the check took."""

    rows: list[Row]
    seconds: float
    stopped: str = ""  # why the check stopped before the last row, if it did

    @property
    def gradients_ok(self) -> bool:
        """Whether training follows the true gradient of the loss the forward computes."""
        return not self.stopped and all(row.backward_ok for row in self.rows)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EngineCheck:
        return cls([Row(**row) for row in d["rows"]], d["seconds"], d.get("stopped", ""))


def relative(a, b) -> float:
    """max |a - b| relative to the largest |b| (at least 1e-12)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.abs(a - b).max(initial=0.0) / max(np.abs(b).max(initial=0.0), 1e-12))


def directional_error(loss, x: np.ndarray, grad, rng: np.random.Generator) -> float:
    """How far grad · u is from the central difference of `loss` along a random u, relative
    to |grad|·|u|: near 1e-9 when grad is the gradient of loss with respect to x."""
    g = np.asarray(grad, dtype=np.float64)
    if g.shape != x.shape:
        return math.inf
    u = rng.normal(size=x.shape)
    old = x.copy()
    x += EPS * u
    up = loss()
    x[...] = old - EPS * u
    down = loss()
    x[...] = old
    numeric = (up - down) / (2 * EPS)
    scale = max(float(np.linalg.norm(g) * np.linalg.norm(u)), abs(numeric), 1e-12)
    return abs(numeric - float(np.vdot(g, u))) / scale


def op_inputs(rng: np.random.Generator) -> dict[str, tuple]:
    """Small float64 inputs for each operation (ints are not differentiated)."""
    def away_from_zero(x):  # no value within reach of a kink at 0 (a ReLU, say)
        return x + np.copysign(0.05, x)

    x = away_from_zero(rng.normal(size=(2, 3, 4)))
    return {
        "embedding": (rng.normal(size=(7, 4)), np.array([[1, 4, 1], [0, 6, 5]])),
        "linear": (x, rng.normal(size=(4, 5)), rng.normal(size=5)),
        "layernorm": (x, rng.normal(size=4), rng.normal(size=4)),
        "gelu": (away_from_zero(rng.normal(size=(2, 3, 5))),),
        "attention": tuple(rng.normal(size=(1, 2, 4, 3)) for _ in range(3)),
        "cross_entropy": (rng.normal(size=(6, 5)), rng.integers(0, 5, 6)),
    }


def check_op(name: str, layers, reference, inputs: tuple, rng: np.random.Generator) -> Row:
    forward, backward = getattr(layers, name), getattr(layers, f"{name}_backward")
    out, cache = forward(*inputs)
    change = relative(out, getattr(reference, name)(*inputs)[0])
    if name == "cross_entropy":  # a loss: the gradient of the loss itself
        grads, loss = (backward(1.0, cache),), lambda: forward(*inputs)[0]
    else:
        w = rng.normal(size=np.shape(out))  # loss = sum(w * out), so dout = w
        grads = backward(w, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        loss = lambda: float((w * forward(*inputs)[0]).sum())  # noqa: E731
    floats = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    if len(grads) < len(floats):
        raise ValueError(f"{name}_backward returned {len(grads)} gradients for "
                         f"{len(floats)} inputs")
    errors = {f"input {i}": directional_error(loss, inputs[i], grads[i], rng) for i in floats}
    return Row(name, change, max(errors.values()), errors)


def check_model(model_code: ModuleType, shipped_code: ModuleType,
                rng: np.random.Generator) -> Row:
    """The whole model on a tiny float64 config, its parameters jittered so that no gradient
    is zero by accident."""
    config = model_code.GPTConfig(vocab_size=7, block_size=5, n_layer=1, n_head=2, n_embd=8)
    model = model_code.GPT(config, seed=1, dtype=np.float64)
    for p in model.params.values():
        p += rng.normal(0.0, 0.1, p.shape)
    shipped = shipped_code.GPT(shipped_code.GPTConfig(**vars(config)), dtype=np.float64,
                               params={n: p.copy() for n, p in model.params.items()})
    idx = rng.integers(0, config.vocab_size, (2, config.block_size))
    targets = rng.integers(0, config.vocab_size, (2, config.block_size))
    change = relative(model.forward(idx)[0], shipped.forward(idx)[0])
    _, grads = model.loss_and_grads(idx, targets)

    def loss() -> float:
        return model.forward(idx, targets)[1].loss

    errors = {name: directional_error(loss, p, grads[name], rng)
              for name, p in model.params.items()}
    return Row("model", change, max(errors.values()), errors)


def check_engine(model_code: ModuleType, shipped_code: ModuleType,
                 budget: float = 1.5) -> EngineCheck:
    """Check the engine whose model.py module is `model_code` (the layers its GPT runs, and
    the GPT itself) against the shipped engine's model.py module `shipped_code`."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    tiny = model_code.GPTConfig(vocab_size=7, block_size=5, n_layer=1, n_head=1, n_embd=4)
    layers = model_code.GPT(tiny, dtype=np.float64).layers
    shipped = shipped_code.GPT(shipped_code.GPTConfig(**vars(tiny)), dtype=np.float64).layers
    inputs = op_inputs(rng)
    rows, stopped = [], ""
    for name in (*OPS, "model"):
        if time.perf_counter() - start > budget:
            stopped = f"the check ran out of its {budget:g} s before {name} and stopped there"
            break
        try:
            rows.append(check_model(model_code, shipped_code, rng) if name == "model" else
                        check_op(name, layers, shipped, inputs[name], rng))
        except Exception as e:  # the reader's code: say what it raised, and go on
            rows.append(Row(name, note=f"{type(e).__name__}: {e}"))
    return EngineCheck(rows, time.perf_counter() - start, stopped)
