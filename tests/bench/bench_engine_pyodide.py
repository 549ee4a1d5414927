"""The engine in the browser against the engine natively, in one run.

    NAPKIN_PYODIDE_DIST=/path/to/pyodide-0.29.3-full python tests/bench/bench_engine_pyodide.py
        [--rounds 3] [--repeat 10] [--baseline OTHER_CHECKOUT] [--profile]

Times tests/bench/engine_workload.py (a forward pass over a 64-token prompt, and a training
step on 8 windows of 64 tokens: the lab's default) in CPython with NumPy on one BLAS thread,
and in Pyodide under Node (the runtime the page's worker runs, without a browser), in
alternating rounds so that both see the same load on the machine. Prints the median and the
minimum of each, and Pyodide / native. With --baseline, the same for another checkout (say,
the engine before a change) in the same rounds. With --profile, the milliseconds per step
of each layer function in Pyodide.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = "tests/bench/engine_workload.py"
RUNNER = ROOT / "tests" / "bench" / "run_in_pyodide.mjs"


def run_native(repo: Path, args: list[str]) -> dict:
    one_thread = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    env = os.environ | one_thread
    done = subprocess.run([sys.executable, str(repo / WORKLOAD), *args], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_pyodide(dist: Path, repo: Path, args: list[str]) -> dict:
    done = subprocess.run(["node", str(RUNNER), str(dist), str(repo), WORKLOAD, *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"Pyodide run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another checkout to time alongside")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    dist = os.environ.get("NAPKIN_PYODIDE_DIST")
    if not dist or not (Path(dist) / "pyodide.mjs").exists():
        raise SystemExit("set NAPKIN_PYODIDE_DIST to a full Pyodide 0.29.3 distribution")
    repos = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start; "
          f"{args.rounds} rounds x {args.repeat} repeats")

    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    rates: dict[str, list[float]] = defaultdict(list)
    linear = {}
    workload = ["--repeat", str(args.repeat)]
    for _ in range(args.rounds):
        for name, repo in repos.items():
            for platform, report in (("native", run_native(repo, workload)),
                                     ("pyodide", run_pyodide(Path(dist), repo, workload))):
                for task, ms in report["ms"].items():
                    times[name, platform, task] += ms
                linear[name, platform] = report.get("linear")
                if name == "this":
                    for product, rate in report.get("gflops", {}).items():
                        rates[product].append(rate)
    print(f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print(f"{'engine':9} {'task':8} {'native ms':>17} {'pyodide ms':>17} {'pyodide/native':>15}")
    print(f"{'':18} {'median':>8} {'min':>8} {'median':>8} {'min':>8} {'median':>7} {'min':>7}")
    for name in repos:
        for task in ("forward", "step"):
            nat, pyo = times[name, "native", task], times[name, "pyodide", task]
            print(f"{name:9} {task:8} {statistics.median(nat):8.1f} {min(nat):8.1f} "
                  f"{statistics.median(pyo):8.1f} {min(pyo):8.1f} "
                  f"{statistics.median(pyo) / statistics.median(nat):7.1f} "
                  f"{min(pyo) / min(nat):7.1f}")
    print("\nlinear layers: " + ", ".join(f"{name} {platform}: {fn}"
                                          for (name, platform), fn in linear.items()))
    if rates:
        simd, einsum = statistics.median(rates["simd"]), statistics.median(rates["einsum"])
        print(f"Pyodide, the step's largest products: WebAssembly SIMD {simd:.1f} GFLOP/s, "
              f"einsum {einsum:.1f} GFLOP/s ({simd / einsum:.1f}x), medians of "
              f"{len(rates['simd'])} runs")
    if args.profile:
        report = run_pyodide(Path(dist), ROOT, [*workload, "--profile"])
        print("\nPyodide, ms per step in each layer function (this engine):")
        for fn, ms in report["profile_ms"].items():
            print(f"  {fn:24} {ms:7.1f}")


if __name__ == "__main__":
    main()
