"""Benchmark the static site's start in the system Chromium, from files on this machine.

    python tests/bench/bench_pyodide_boot.py [--runs 5] [--site DIR]

Builds the default site (unless --site names one), serves it from 127.0.0.1 and opens it
`--runs` times, each in a fresh browser context (an empty cache). The Pyodide CDN's URLs are
answered from the npm package pyodide@0.29.3 ($NAPKIN_PYODIDE_NPM), so the runtime comes
from local files and nothing leaves the machine; the compiled packages are not there, so
each run ends at the packages stage. Prints, as medians over the runs:

  snapshot visible  navigation -> the view's snapshot on screen (Playwright's clock)
  first paint       the browser's first-contentful-paint
  worker started    navigation -> the page's Worker created
  Pyodide core      the runtime stage in the worker: pyodide.js, pyodide.asm.js, the wasm,
                    the standard library and the lock file downloaded, checked and started,
                    then a first line of Python run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support.static_site import PYODIDE_CDN, RUNTIME_FILES, npm_core, serving  # noqa: E402

COUNT_WORKERS = """
const Original = window.Worker;
window.Worker = class extends Original {
  constructor(...args) { super(...args); window.__workerAt ??= performance.now(); }
};
"""


def one_run(browser, url: str, runtime: dict[str, bytes]) -> dict[str, float]:
    context = browser.new_context()
    outside = []

    def from_cdn(route):
        name = route.request.url.removeprefix(PYODIDE_CDN)
        headers = {"Access-Control-Allow-Origin": "*"}
        if name in runtime:
            kind = "application/wasm" if name.endswith(".wasm") else "text/javascript"
            return route.fulfill(status=200, headers={**headers, "Content-Type": kind},
                                 body=runtime[name])
        return route.fulfill(status=404, headers=headers, body="")

    def guard(route):
        if route.request.url.startswith((url, "blob:", "data:")):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    context.route("**/*", guard)
    context.route(PYODIDE_CDN + "**", from_cdn)
    page = context.new_page()
    page.add_init_script(COUNT_WORKERS)
    started = time.perf_counter()
    page.goto(url + "index.html", wait_until="commit")
    page.locator('[data-view="attention"]').wait_for(state="visible")
    snapshot = (time.perf_counter() - started) * 1000
    page.wait_for_function("window.napkin?.log.progress.some(p => p.stage === 'runtime' && p.done)",
                           timeout=120_000)
    result = page.evaluate("""() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
        worker: window.__workerAt,
        core: napkin.log.progress.find(p => p.stage === 'runtime' && p.done),
    })""")
    context.close()
    assert not outside, outside
    return {"snapshot visible": snapshot, "first paint": result["fcp"],
            "worker started": result["worker"], "Pyodide core": result["core"]["ms"],
            "core bytes": result["core"]["loaded"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--site", help="a site `napkin-gpt build` wrote (default: build one)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(args.site) if args.site else Path(tmp) / "site"
        if not args.site:
            subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(site),
                            "--offline", "--pyodide-npm", str(npm_core())],
                           cwd=ROOT, check=True, capture_output=True)
        runtime = {name: (npm_core() / name).read_bytes() for name in RUNTIME_FILES}
        with serving(site) as served, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            runs = [one_run(browser, served.url, runtime) for _ in range(args.runs)]
            browser.close()
    print(f"{args.runs} cold runs, headless Chromium, localhost (medians; all runs in ms)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        unit = "bytes" if key.endswith("bytes") else "ms"
        print(f"  {key:18} {statistics.median(values):10,.0f} {unit}   "
              f"{json.dumps([round(v) for v in values])}")


if __name__ == "__main__":
    main()
