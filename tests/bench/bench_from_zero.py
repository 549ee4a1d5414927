"""Learning from zero: how many training steps a minute the lab reaches, in the static page
(Chromium + Pyodide) and natively (the same session and training view in CPython), in one
run, with the machine's load.

    NAPKIN_PYODIDE_DIST=/path/to/pyodide-0.29.3 python tests/bench/bench_from_zero.py
    python tests/bench/bench_from_zero.py --site DIR --seconds 60   # a site already built

The page: Training -> Learn from zero -> 'as fast as it can' (when the transport offers it)
-> Train for --seconds -> Pause; the figure is the session's own count of steps over that
time, read from the worker. The default batch (8 windows of 64 tokens), every view of the
page following as it does for a reader.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support.static_site import serving  # noqa: E402

STATS = ("import json; t = bridge.lab.session.training\n"
         "json.dumps([len(t.history), t.steps_per_minute, t.val_history[-1]])")


def native(seconds: float) -> tuple[int, float]:
    """Steps taken in `seconds` by the session in CPython, the training view following."""
    from app.lab.page import Lab
    from app.session.loader import load_session

    lab = Lab(session=load_session())
    lab.view = "training"
    session = lab.session
    session.training.start_from_zero()
    session.training.train_once()  # the first step builds the trainer
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.training.train_once()
        steps += 1
    return steps, time.perf_counter() - start


@contextmanager
def built_site(site: str | None):
    if site:
        with serving(Path(site)) as served:
            yield served
        return
    dist = os.environ.get("NAPKIN_PYODIDE_DIST")
    if not dist:
        sys.exit("give --site DIR or set NAPKIN_PYODIDE_DIST to a full Pyodide 0.29.3")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", out, "--self-host",
                        dist, "--offline"], cwd=ROOT, check=True, capture_output=True)
        with serving(Path(out)) as served:
            yield served


def in_the_page(site: str | None, seconds: float) -> tuple[int, float, float, list]:
    """Steps, wall seconds, the session's steps a minute, and the last validation point."""
    from playwright.sync_api import sync_playwright

    with built_site(site) as served, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(served.url + "index.html#view=training")
        page.wait_for_function("document.body.dataset.state === 'ready'", timeout=600_000)
        app = page.locator("#app")
        app.get_by_role("button", name="Learn from zero").click()
        app.get_by_text("Random weights").first.wait_for(timeout=120_000)
        fastest = app.get_by_text("as fast as it can")
        if fastest.count():
            fastest.first.click()
        train = app.get_by_role("button", name="▶ Train / ❚❚ Pause")
        train.click()
        start = time.perf_counter()
        page.wait_for_timeout(seconds * 1000)
        train.click()
        wall = time.perf_counter() - start
        deadline = time.monotonic() + 120  # a promise counts as true to wait_for_function
        while page.evaluate("napkin.run('bridge.lab.session.clock.playing')"):
            assert time.monotonic() < deadline, "training did not pause"
            page.wait_for_timeout(200)
        steps, per_minute, last_val = json.loads(page.evaluate("(c) => napkin.run(c)", STATS))
        restarts = page.evaluate("napkin.log.restarts")
        browser.close()
    if restarts:
        sys.exit(f"the page restarted its worker {restarts} time(s): no figure")
    return steps, wall, per_minute, last_val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", help="a built site folder (default: build one)")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    load_before = os.getloadavg()
    steps, wall, per_minute, last_val = in_the_page(args.site, args.seconds)
    native_steps, native_wall = native(min(args.seconds, 20.0))
    load_after = os.getloadavg()
    page_rate, native_rate = 60 * steps / wall, 60 * native_steps / native_wall
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    print(f"page (Chromium + Pyodide): {steps} steps in {wall:.0f} s = {page_rate:.0f} "
          f"steps a minute (the session measured {per_minute or 0:.0f} over its last steps); "
          f"validation loss {last_val[1]:.3f} at step {last_val[0]}")
    print(f"native (CPython, same session and view): {native_steps} steps in "
          f"{native_wall:.0f} s = {native_rate:.0f} steps a minute")
    print(f"page / native: 1 / {native_rate / max(page_rate, 1e-9):.1f}")


if __name__ == "__main__":
    main()
