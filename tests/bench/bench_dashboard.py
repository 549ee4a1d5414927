"""Benchmark the lab in the system Chromium against `napkin-gpt serve` on localhost.

    python tests/bench/bench_dashboard.py [--changes 30] [--seconds 10]

Prints the median time from a temperature change (a key press on the slider) to the
redrawn next-token chart, and the training animation rate of the shipped model.
The chart's figure and its summary line are fed by the same update from the server; the
timer stops when that update has reached the page.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, free_port  # noqa: E402

# A deep search through shadow roots, a mutation observer on the summary line, and the key
# press itself, all inside the page, so the timer does not include Playwright's round trips.
MEASURE = """
async (key) => {
  const all = (root) => [root, ...[...root.querySelectorAll('*')].flatMap(
      el => el.shadowRoot ? all(el.shadowRoot) : [])];
  const roots = all(document);
  const find = (pred) => roots.flatMap(r => [...r.querySelectorAll('*')]).find(pred);
  const summary = find(el => el.tagName === 'P' && el.textContent.startsWith('Likeliest'));
  const handle = find(el => el.getAttribute && el.getAttribute('role') === 'slider'
      && el.getAttribute('aria-label') === 'Temperature');
  const before = summary.textContent;
  const start = performance.now();
  if (!summary) throw new Error('not found: the summary line');
  if (!handle) throw new Error('not found: the temperature slider');
  const changed = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('the chart was not redrawn within 10 s')), 10000);
    const watch = () => {
      const now = find(el => el.tagName === 'P' && el.textContent.startsWith('Likeliest'));
      if (now && now.textContent !== before) resolve(performance.now() - start);
      else requestAnimationFrame(watch);
    };
    watch();
  });
  handle.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  return await changed;
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                               "--no-browser"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.get_by_text("attends most to").wait_for(timeout=60_000)

            page.get_by_role("button", name="Next token", exact=True).click()
            page.get_by_text("Likeliest next token").wait_for()
            page.wait_for_timeout(1000)
            times = [page.evaluate(MEASURE, "ArrowRight" if i % 2 == 0 else "ArrowLeft")
                     for i in range(args.changes)]
            print(f"temperature change -> redrawn probabilities: median "
                  f"{statistics.median(times):.0f} ms, p90 "
                  f"{statistics.quantiles(times, n=10)[-1]:.0f} ms over {len(times)} changes "
                  "(target <= 100 ms)")

            page.get_by_role("button", name="Training", exact=True).click()
            page.get_by_text("No step taken yet").wait_for()
            speed = page.get_by_role("slider").first
            speed.focus()
            speed.press("End")  # the clock's fastest: 20 ticks a second
            page.get_by_text("Speed (steps/s): 20").wait_for()
            page.get_by_role("button", name="▶ Train / ❚❚ Pause").click()
            page.get_by_text("batch loss").first.wait_for(timeout=30_000)
            first = steps_done(page)
            start = time.perf_counter()
            page.wait_for_timeout(args.seconds * 1000)
            done = steps_done(page) - first
            elapsed = time.perf_counter() - start
            page.get_by_role("button", name="▶ Train / ❚❚ Pause").click()
            print(f"training animation: {done / elapsed:.1f} steps/s over {elapsed:.0f} s "
                  "(batch of 8 windows of 64 tokens; every view's data follows; target >= 5)")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def steps_done(page) -> int:
    text = page.get_by_text("batch loss").first.text_content()
    return int(text.split("Step ", 1)[1].split(":", 1)[0])


if __name__ == "__main__":
    main()
