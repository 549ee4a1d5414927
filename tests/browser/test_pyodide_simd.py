"""The WebAssembly SIMD matrix product (app/site/matmul.wasm) in the page's worker, in
Chromium: against NumPy on awkward shapes, the model on it against PyTorch, and the einsums
where the browser cannot run it. On the one booted lab (tests/browser/conftest.py); the
state these tests change is put back.

The PyTorch references are computed here, natively, and saved as test data; the worker runs
the same inputs on the kernel and sends its results back to be compared here.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from engine import GPTConfig
from tests.support.models import random_model
from tests.support.pyodide import python

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
from tests.support.torch_reference import torch_gpt_loss  # noqa: E402  (needs torch)

# as tests/engine/test_torch_oracle.py: a small model, and one whose arrays take every path
CONFIGS = {"small": (GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=4, n_embd=16),
                     (3, 12)),
           "large": (GPTConfig(vocab_size=40, block_size=48, n_layer=2, n_head=4, n_embd=64),
                     (8, 48))}
TOLERANCE = 2e-4  # float32, as the native oracle test


def npz(**arrays) -> str:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return base64.b64encode(out.getvalue()).decode()


def from_npz(text: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(base64.b64decode(text))) as data:
        return dict(data)


def test_the_lab_runs_its_linear_layers_on_the_kernel(lab):
    names = json.loads(python(lab, "import json; s = bridge.lab.session\n"
                                   "json.dumps([s.model.layers.linear.__name__,"
                                   " s.model.layers.linear_backward.__name__,"
                                   " s.matmul is not None])"))
    assert names == ["linear_matmul", "linear_backward_matmul", True]


def test_the_kernel_multiplies_every_shape_as_numpy_does(lab):
    """Whole 4 x 8 blocks and the edges past them, one row, no K, a transposed A (its
    strides) and a transposed B (copied), against float64 products."""
    errors = json.loads(python(lab, """
import json
import numpy as np
matmul = bridge.lab.session.matmul
rng = np.random.default_rng(0)
errors = {}
for M, K, N in [(8, 16, 16), (512, 64, 192), (7, 13, 77), (5, 3, 9), (1, 64, 256),
                (64, 1, 8), (3, 0, 5), (4, 9, 7)]:
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    want = a.astype(np.float64) @ b
    for name, got in [("plain", matmul(a, b)),
                      ("a transposed", matmul(np.ascontiguousarray(a.T).T, b)),
                      ("b transposed", matmul(a, np.ascontiguousarray(b.T).T))]:
        assert got.shape == (M, N) and got.dtype == np.float32
        scale = max(1.0, float(np.abs(want).max(initial=0)))
        errors[f"{M}x{K}x{N} {name}"] = float(np.abs(got - want).max(initial=0)) / scale
json.dumps(errors)
"""))
    assert len(errors) == 24
    assert {k: e for k, e in errors.items() if not e < 1e-5} == {}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("with_mask", [False, True], ids=["all-heads", "head-off"])
def test_the_model_on_the_kernel_matches_torch(lab, tmp_path, name, with_mask):
    config, batch = CONFIGS[name]
    model = random_model(config, seed=5, dtype=np.float32)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, config.vocab_size, batch)
    targets = rng.integers(0, config.vocab_size, batch)
    mask = np.ones((config.n_layer, config.n_head))
    mask[1, 2] = 0.0 if with_mask else 1.0
    tparams = {n: torch.tensor(p, requires_grad=True) for n, p in model.params.items()}
    tlogits, tloss = torch_gpt_loss(tparams, config, torch.tensor(idx), torch.tensor(targets),
                                    torch.tensor(mask, dtype=torch.float32))
    tloss.backward()
    reference = {"logits": tlogits.detach().numpy(), "loss": np.array(tloss.item()),
                 **{f"grad {n}": p.grad.numpy() for n, p in tparams.items()}}
    inputs = {"idx": idx, "targets": targets, "mask": mask,
              **{f"param {n}": p for n, p in model.params.items()}}
    np.savez(tmp_path / "oracle.npz", **inputs, **reference)  # the test data, kept with the run

    got = from_npz(python(lab, f"""
import base64, io
import numpy as np
from engine import GPT, GPTConfig, kernels, layers
with np.load(io.BytesIO(base64.b64decode({npz(**inputs)!r}))) as data:
    data = dict(data)
params = {{n[6:]: a for n, a in data.items() if n.startswith("param ")}}
model = GPT(GPTConfig(**{vars(config)!r}), params=params,
            layers=kernels.stand_ins(layers, matmul=bridge.lab.session.matmul))
assert model.layers.linear.__name__ == "linear_matmul"
logits, _ = model.forward(data["idx"], head_mask=data["mask"])
loss, grads = model.loss_and_grads(data["idx"], data["targets"], data["mask"])
out = io.BytesIO()
np.savez(out, logits=logits, loss=np.array(loss), **{{f"grad {{n}}": g for n, g in grads.items()}})
base64.b64encode(out.getvalue()).decode()
"""))
    assert got["logits"].dtype == np.float32
    np.testing.assert_allclose(got["logits"], reference["logits"], rtol=TOLERANCE,
                               atol=TOLERANCE)
    assert float(got["loss"]) == pytest.approx(float(reference["loss"]), rel=TOLERANCE)
    for key in (k for k in reference if k.startswith("grad ")):
        scale = np.abs(reference[key]).max()
        assert np.abs(got[key] - reference[key]).max() <= TOLERANCE * max(scale, 1.0), key


def test_without_the_kernel_the_einsums_run_with_the_same_results(lab):
    """A kernel the browser cannot compile (as a browser without WebAssembly SIMD cannot):
    no matmul, and the lab's model runs the einsums, exactly as the plain browser kernels
    do, and close to what it computed on the kernel. Then the kernel is put back."""
    result = json.loads(python(lab, """
import json
import numpy as np
from app.site.simd import WASM, load_matmul
from engine import GPT, kernels, layers
s = bridge.lab.session
kept, on_kernel = s.matmul, s.trace.logits.copy()
fallback = load_matmul(WASM.read_bytes()[:-12])  # cut short: it does not compile
try:
    s.matmul = fallback
    einsums = GPT(s.config, params=s.model.params, layers=kernels.stand_ins(layers))
    logits = einsums.forward(np.array(s.ids), head_mask=s.head_mask())[0]
    result = [fallback is None, s.model.layers.linear.__name__,
              bool(np.array_equal(s.trace.logits, logits[None])),
              float(np.abs(s.trace.logits - on_kernel).max())]
finally:
    s.matmul = kept
json.dumps(result + [s.model.layers.linear.__name__])
"""))
    assert result[:3] == [True, "linear_einsum", True]
    assert result[3] < 1e-4 and result[4] == "linear_matmul"
