"""The engine's work in the lab, timed: a forward pass over a 64-token prompt and a training
step at the lab's default batch (8 windows of 64 tokens). Run by bench_engine_pyodide.py both in
CPython and in Pyodide (under Node), so the same code is timed on both platforms.

    python tests/bench/engine_workload.py [--repeat 20] [--layers default] [--profile]

"default" is what the lab runs: in Pyodide, the linear layers on the WebAssembly SIMD matrix
product (app/site/simd.py) when it loads. Prints one JSON line: milliseconds per repeat for
each task, the platform, in Pyodide the GFLOP/s of that product and of the einsum it
replaces on the training step's largest shapes, and with --profile (which times the step
alone) the milliseconds per step spent in each layer function and in the optimizer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from engine import GPT, GPTConfig
from engine.allocator import reuse_freed_memory
from engine.optim import AdamW, clip_grad_norm

CONFIG = GPTConfig(vocab_size=77, block_size=64, n_layer=3, n_head=4, n_embd=64)  # shipped
BATCH = 8  # the lab's default batch_size


def simd_matmul():
    """The lab's WebAssembly matrix product, in Pyodide (None elsewhere, or before it)."""
    try:
        from app.site.simd import load_matmul
    except ImportError:
        return None
    return load_matmul()


def layer_paths(matmul=None) -> dict:
    """The ways the model can run its layers (only "default" for an engine before kernels)."""
    try:
        from engine import kernels, layers
        from engine.model import STAND_INS
    except ImportError:
        return {"default": None}
    paths = {"default": STAND_INS, "readable": kernels.readable(layers),
             "native": kernels.stand_ins(layers, "linux"),
             "browser": kernels.stand_ins(layers, "emscripten")}
    if matmul is not None:
        paths["default"] = paths["browser-simd"] = kernels.stand_ins(layers, matmul=matmul)
    return paths


def gflops(matmul, repeat: int) -> dict[str, float]:
    """GFLOP/s of `matmul` and of kernels.py's einsum formulation on the step's largest
    products (the MLP's: 512 x 64 @ 64 x 256, and its weight gradient 256 x 512 @ 512 x 64)."""
    rng = np.random.default_rng(0)
    rates: dict[str, list[float]] = defaultdict(list)
    for M, K, N in ((512, 64, 256), (256, 512, 64)):
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        products = {"simd": lambda a=a, b=b: matmul(a, b),
                    "einsum": lambda a=a, b=b: np.einsum("ni,oi->no", a,
                                                         np.ascontiguousarray(b.T))}
        for name, product in products.items():
            product()
            t0 = time.perf_counter()
            for _ in range(repeat):
                product()
            rates[name].append(2 * M * K * N * repeat / (time.perf_counter() - t0) / 1e9)
    return {name: sum(r) / len(r) for name, r in rates.items()}


def timed(chosen, spent: dict[str, float]):
    """`chosen` with every function adding its time to spent[name]."""
    def wrap(name, fn):
        def run(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            spent[name] += time.perf_counter() - t0
            return out
        return run
    return replace(chosen, **{f.name: wrap(f.name, getattr(chosen, f.name))
                              for f in fields(chosen) if f.name != "kernels"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--layers", default="default",
                        choices=[*layer_paths(), "browser-simd"])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    reuse_freed_memory()  # natively, as `napkin-gpt` does (in Pyodide it does nothing)

    spent: dict[str, float] = defaultdict(float)
    matmul = simd_matmul()
    chosen = layer_paths(matmul)[args.layers]
    model = (GPT(CONFIG, seed=0) if chosen is None else
             GPT(CONFIG, seed=0, layers=timed(chosen, spent) if args.profile else chosen))
    optimizer = AdamW(model.params, lr=1e-4)
    rng = np.random.default_rng(0)
    x = rng.integers(0, CONFIG.vocab_size, (BATCH, CONFIG.block_size))
    y = rng.integers(0, CONFIG.vocab_size, (BATCH, CONFIG.block_size))
    prompt = x[0]

    def step():
        _, grads = model.loss_and_grads(x, y)
        t0 = time.perf_counter()
        clip_grad_norm(grads, 1.0)
        optimizer.step(grads, 1e-4)
        spent["clip + AdamW"] += time.perf_counter() - t0

    tasks = {"forward": lambda: model.forward(prompt), "step": step}
    if args.profile:  # the layer functions' times are per training step
        del tasks["forward"]
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for task in tasks.values():
        for _ in range(3):  # warm-up
            task()
    spent.clear()
    for _ in range(args.repeat):  # interleaved, so both tasks see the same load
        for name, task in tasks.items():
            t0 = time.perf_counter()
            task()
            times[name].append(1000 * (time.perf_counter() - t0))
    report = {"platform": sys.platform, "numpy": np.__version__, "layers": args.layers,
              "kernels": list(getattr(chosen, "kernels", [])), "ms": times,
              "linear": getattr(getattr(chosen, "linear", None), "__name__", None)}
    if matmul is not None:
        report["gflops"] = gflops(matmul, args.repeat)
    if args.profile:
        report["profile_ms"] = {n: 1000 * s / args.repeat for n, s in
                                sorted(spent.items(), key=lambda item: -item[1])}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
