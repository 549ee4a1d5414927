"""Benchmark the NumPy engine against PyTorch eager, in the same process and run.

    python tests/bench/bench_engine.py [--threads 1] [--repeat 20]

For the shipped config and one about four times larger it prints: training-step time,
tokens/s, FLOPs per step and achieved GFLOP/s beside NumPy's own matmul GFLOP/s, the same
step in PyTorch eager (forward, backward, clipping, AdamW) and our time divided by its,
and generation tokens/s with and without the KV cache. Both libraries get the same number
of threads (default 1, as in the browser, where WebAssembly runs NumPy on one thread), and
their steps are timed in turn within each repeat, so that both see the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def set_threads(n: int) -> None:
    """Fix BLAS threads; must run before NumPy is imported."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def median_ms(fn, repeat: int, warmup: int = 3) -> float:
    return alternating_ms([fn], repeat, warmup)[0][0]


def alternating_ms(fns, repeat: int, warmup: int = 3) -> list[tuple[float, float]]:
    """(wall, CPU) median milliseconds of each function, timed in turn within every
    repeat so that all of them see the same load. CPU time (of this process, one thread)
    hardly moves with other work on the machine; wall time is what a reader waits."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [([], []) for _ in fns]
    for _ in range(repeat):
        for fn, (wall, cpu) in zip(fns, times, strict=True):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return [(1000 * statistics.median(wall), 1000 * statistics.median(cpu))
            for wall, cpu in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    set_threads(args.threads)
    sys.path.insert(0, str(ROOT))

    import numpy as np

    from engine import GPTConfig
    from engine.allocator import reuse_freed_memory

    reuse_freed_memory()  # as `napkin-gpt` does: figures comparable with earlier runs
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch is not installed: no comparison (pip install torch==2.13.0)")

    B, T = 32, 64
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, batch {B} x {T} tokens, median of {args.repeat}")

    a = rng.normal(size=(512, 512)).astype(np.float32)
    matmul_gflops = 2 * 512**3 / median_ms(lambda: a @ a, 50) / 1e6
    x2 = rng.normal(size=(B * T, 64)).astype(np.float32)
    w2 = rng.normal(size=(64, 256)).astype(np.float32)
    small_gflops = 2 * B * T * 64 * 256 / median_ms(lambda: x2 @ w2, 50) / 1e6
    print(f"numpy matmul: {matmul_gflops:.1f} GFLOP/s at 512x512x512, "
          f"{small_gflops:.1f} GFLOP/s at {B * T}x64x256 (our layer shapes)")

    configs = {
        "shipped (3 layers, 64 wide)": GPTConfig(77, 64, 3, 4, 64),
        "4x (6 layers, 96 wide)": GPTConfig(77, 64, 6, 6, 96),
    }
    for name, config in configs.items():
        bench_config(name, config, B, T, args.repeat, torch)


def bench_config(name: str, config, B: int, T: int, repeat: int, torch) -> None:
    import numpy as np

    from engine import GPT, KVCache
    from engine.optim import AdamW, clip_grad_norm
    from engine.sampling import SamplingSettings, generate
    from engine.scale import forward_flops

    rng = np.random.default_rng(1)
    model = GPT(config, seed=0)
    opt = AdamW(model.params, lr=1e-4)
    x = rng.integers(0, config.vocab_size, (B, T))
    y = rng.integers(0, config.vocab_size, (B, T))

    def step():
        _, grads = model.loss_and_grads(x, y)
        clip_grad_norm(grads, 1.0)
        opt.step(grads)

    flops = 3 * B * forward_flops(config, T)
    print(f"\n{name}: {config.n_params:,} parameters")
    if torch is not None:
        from tests.support.torch_reference import torch_gpt_loss

        params = {n: torch.tensor(p, requires_grad=True) for n, p in model.params.items()}
        topt = torch.optim.AdamW(params.values(), lr=1e-4)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_step():
            topt.zero_grad()
            torch_gpt_loss(params, config, tx, ty)[1].backward()
            torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
            topt.step()

        (ours, ours_cpu), (theirs, theirs_cpu) = alternating_ms([step, torch_step], repeat)
    else:
        ours, ours_cpu = alternating_ms([step], repeat)[0]
    print(f"  train step      {ours:7.1f} ms   {B * T / ours * 1000:9,.0f} tokens/s   "
          f"{flops / 1e9:.2f} GFLOP/step   {flops / ours / 1e6:5.1f} GFLOP/s achieved   "
          f"(CPU {ours_cpu:.1f} ms)")
    if torch is not None:
        print(f"  torch eager     {theirs:7.1f} ms   ratio ours/torch = {ours / theirs:.2f}   "
              f"(CPU {theirs_cpu:.1f} ms, ratio {ours_cpu / theirs_cpu:.2f})")

    # the next token when the context holds T tokens: one new position against T-1 cached
    # ones, or all T positions recomputed
    ids = np.arange(T) % config.vocab_size
    cache = KVCache()
    model.forward(ids[:-1], cache=cache)
    kept = cache.kv

    def cached_step():
        cache.kv = kept
        model.forward(ids[-1:], cache=cache)

    step_cached = median_ms(cached_step, 200)
    step_full = median_ms(lambda: model.forward(ids), 200)
    print(f"  token {T}        {step_cached:7.3f} ms with KV cache, {step_full:.3f} ms "
          f"recomputing: {step_full / step_cached:.1f}x faster")
    n_new, greedy = T - 1, SamplingSettings(0.0)  # the context grows from 1 to T tokens
    loop_cached = median_ms(lambda: generate(model, [1], n_new, greedy), 5, 1)
    loop_full = median_ms(lambda: generate(model, [1], n_new, greedy, use_cache=False), 5, 1)
    print(f"  generate {n_new}     {n_new / loop_cached * 1000:7.0f} tokens/s with KV cache, "
          f"{n_new / loop_full * 1000:.0f} without: {loop_full / loop_cached:.1f}x faster "
          "(sampling included)")
    print(f"  forward of a {T}-token prompt: {forward_flops(config, T) / 1e6:.1f} MFLOP")

if __name__ == "__main__":
    main()
