"""Open model… in CPython: how long each hostile file takes to be refused (the lab's model
untouched), against opening the shipped weights as each file type, and what one comparison
costs, in one run, with the machine's load.

    python tests/bench/bench_open_files.py [--repeat 5]

Each figure is the median of --repeat runs of `session.opened.open` (read, check, install),
or of choosing a target of Compare with… while a view shows it (the other model made, run on
the prompt, and both losses on 32 held-out windows). The page's own figures (Chromium under
`napkin-gpt serve`, and Pyodide) are printed by tests/browser/test_serve_models.py and
tests/browser/test_pyodide_models.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.session.loader import load_session  # noqa: E402
from tests.support.model_files import hostile_files, shipped_files  # noqa: E402


def median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    session = load_session()
    print(f"load average {os.getloadavg()[0]:.1f}; median of {args.repeat} runs each\n")
    print(f"{'opened (the shipped weights)':32s} {'bytes':>10s} {'ms':>8s}")
    for kind, data in shipped_files().items():
        ms = median_ms(lambda kind=kind, data=data: session.opened.open(f"napkin.{kind}", data),
                       args.repeat)
        print(f"{kind:32s} {len(data):>10,} {ms:8.1f}")
    print(f"\n{'refused':32s} {'bytes':>10s} {'ms':>8s}  message")
    model = session.model
    for case in hostile_files():
        ms = median_ms(lambda case=case: session.opened.open(case.name, case.data), args.repeat)
        assert session.model is model and session.message_kind == "error", case.name
        print(f"{case.name:32s} {len(case.data):>10,} {ms:8.2f}  {session.message[:90]}")
    print(f"\n{'Compare with…':32s} {'ms':>10s}")
    comparison = session.comparison
    comparison.show("bench", True)
    for target in ("shipped", "q8_0", "q4_0", "file"):
        def choose(target=target):
            comparison.target = "none"
            comparison.target = target
        print(f"{target:32s} {median_ms(choose, args.repeat):10.1f}")


if __name__ == "__main__":
    main()
