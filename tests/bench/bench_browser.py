"""Benchmark the static lab as readers meet it: real Pyodide in the system Chromium.

    NAPKIN_PYODIDE_DIST=../shared/pyodide-0.29.3-full \
        python tests/bench/bench_browser.py [--runs 3] [--site DIR] [--shipped]
            [--throttle 50,10] [--train-seconds 10] [--train-repeats 3]
            [--only boot,latency,compute,training]

Builds the site with --self-host from that full Pyodide distribution (unless --site names a
built one), serves it from 127.0.0.1 and prints, from one run, side by side:

  boot     alternating: a bare page that boots the same Pyodide in a worker and imports
           numpy (cold), against our page up to `body[data-state=ready]`: a first visit
           (cold) with our stages (runtime, packages, model, first render and its parts,
           the page's drawing), then, once the snapshot it leaves is saved, a second visit
           restored from it; with --shipped, a first visit of the site built with
           --snapshot; the ratios of the medians; then one cold load of each page at each
           --throttle (Chromium's network emulation, which holds the workers too)
  latency  in the live lab, each timed inside the page from the click or key press to the
           change on screen: Generate (new prompt text), temperature (redrawn summary of
           the bars), a view switch (Next token <-> Attention, both built), a head off/on
  compute  worker vs native (this CPython, one BLAS thread) for the same code: a forward
           pass over 64 tokens and a training step of 8 windows of 64 tokens, in the worker
           on the lab's own layers (the WebAssembly SIMD product) and on the einsums; and
           the two products' GFLOP/s in the worker
  training steps/s and redraws/s (patches the page painted) in the page at the transport's
           fastest setting, every view opened once, with the Training view shown and with
           the Attention view shown, in alternating intervals

Timings on a shared machine are noisy: the load average is printed with the figures, and
the ratios come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support.static_site import serving  # noqa: E402

BARE_HTML = """<!doctype html><meta charset="utf-8"><title>bare Pyodide</title>
<body data-state="loading"><script>
const worker = new Worker("bare-worker.js");
worker.onmessage = (e) => { window.bare = e.data; document.body.dataset.state = e.data.state; };
</script>"""
BARE_WORKER = """importScripts("pyodide/pyodide.js");
(async () => {
  const here = (path) => new URL(path, location.href).href;
  const py = await loadPyodide({ indexURL: here("pyodide/"),
                                 lockFileURL: here("packages/pyodide-lock.json"),
                                 packageBaseUrl: here("packages/") });
  await py.loadPackage(["numpy"]);
  py.runPython("import numpy");
  postMessage({ state: "ready" });
})().catch((e) => postMessage({ state: "error", message: String(e) }));
"""

# In the page: find elements through Bokeh's shadow roots, trigger, and time until a
# condition holds on screen (checked every animation frame).
DEEP = """
window.__deep = (selector) => {
  const out = [];
  const walk = (root) => {
    out.push(...root.querySelectorAll(selector));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document.getElementById('app'));  // the live lab, not the snapshot
  return out;
};
window.__text = (part) => __deep('p, div, span').find(
  (el) => el.textContent.includes(part) && el.children.length < 4)?.textContent ?? '';
window.__timeUntil = (trigger, changed, timeoutMs = 20000) => new Promise((resolve) => {
  const start = performance.now();
  trigger();
  const check = () => {
    if (changed()) return resolve(performance.now() - start);
    if (performance.now() - start > timeoutMs) return resolve(NaN);
    requestAnimationFrame(check);
  };
  check();
});
window.__button = (label) => __deep('button').find((b) => b.textContent.trim() === label);
"""

COMPUTE = textwrap.dedent("""
    import json, time
    import numpy as np
    from engine import kernels, layers
    from engine.model import GPT
    from engine.train import TrainConfig, Trainer
    from engine.weights import load_weights

    def median_ms(work, n):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            work()
            times.append((time.perf_counter() - t) * 1000)
        return sorted(times)[n // 2]

    ck = load_weights(WEIGHTS)
    tokens = np.array(ck.tokenizer.encode(TEXT), dtype=np.int64)
    idx = tokens[:64]
    result = {}
    for name, chosen in PATHS.items():
        model = GPT(ck.model.config, params={n: p.copy() for n, p in ck.model.params.items()},
                    layers=chosen)
        model.forward(idx)
        result[f"forward 64 tokens{name}"] = median_ms(lambda: model.forward(idx), 15)
        trainer = Trainer(model, tokens, TrainConfig(batch_size=8, lr=1e-4,
                                                     schedule="constant"))
        trainer.apply(trainer.compute())
        result[f"training step 8x64{name}"] = median_ms(
            lambda: trainer.apply(trainer.compute()), 7)
    result = json.dumps(result)
""")
# in the worker: the lab's own layers (the WebAssembly product), and the plain browser
# kernels (einsums); and the two products' GFLOP/s on the step's largest shapes
WORKER_PATHS = ("PATHS = {'': bridge.lab.session.model.layers,"
                " ' (einsum)': kernels.stand_ins(layers)}\n")
GFLOPS = textwrap.dedent("""
    import json, time
    import numpy as np
    matmul, rates = bridge.lab.session.matmul, {}
    rng = np.random.default_rng(0)
    for M, K, N in ((512, 64, 256), (256, 512, 64)):  # the MLP's product and its dW
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        for name, product in (("WebAssembly SIMD", lambda: matmul(a, b)),
                              ("einsum", lambda: np.einsum("ni,oi->no", a,
                                                           np.ascontiguousarray(b.T)))):
            product()
            t = time.perf_counter()
            for _ in range(30):
                product()
            rates.setdefault(name, []).append(2 * M * K * N * 30 / (time.perf_counter() - t))
    result = json.dumps({name: sum(r) / len(r) / 1e9 for name, r in rates.items()})
""")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def build_site(out: Path, dist: str, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(out),
                           "--self-host", dist, "--offline", *extra], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)


def serve_folder(site: Path, tmp: Path, shipped: Path | None) -> Path:
    """The site plus the bare page, in one folder (links, so the same files are served),
    and the site built with --snapshot under shipped/."""
    folder = tmp / "served"
    folder.mkdir()
    for entry in site.iterdir():
        (folder / entry.name).symlink_to(entry.resolve())
    if shipped:
        (folder / "shipped").symlink_to(shipped.resolve())
    (folder / "bare.html").write_text(BARE_HTML)
    (folder / "bare-worker.js").write_text(BARE_WORKER)
    return folder


def load_page(context, url: str, mbits: float | None = None, timeout_s: float = 400):
    """Navigation to ready (or the bare page's ready) in `context`, the network limited to
    `mbits` (Chromium's own emulation, which also holds the page's workers) if given:
    (seconds, the page's timings, the page)."""
    page = context.new_page()
    if mbits:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 20, "downloadThroughput": mbits * 1e6 / 8,
            "uploadThroughput": mbits * 1e6 / 8})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("['ready', 'error'].includes(document.body.dataset.state)",
                           timeout=timeout_s * 1000)
    elapsed = time.perf_counter() - started
    state = page.evaluate("document.body.dataset.state")
    info = page.evaluate("window.napkin ? napkin.log.timings : window.bare")
    if state != "ready":
        sys.exit(f"{url} did not get ready: {info}")
    return elapsed, info or {}, page


def cold_load(browser, url: str, mbits: float | None = None) -> tuple[float, dict]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        return load_page(context, url, mbits)[:2]
    finally:
        context.close()


def visits(chromium, base: str) -> tuple[float, dict, float, dict, dict]:
    """A first visit in a new browser profile, the snapshot it leaves (taken in the
    background), then a second visit restored from it: (first s, its timings, second s,
    its timings, the snapshot log). A profile on disk, as a returning reader has: unlike a
    private context, it keeps the compiled code of the scripts and of the wasm."""
    with tempfile.TemporaryDirectory() as profile:
        context = chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900})
        return both_visits(context, base)


# In a live lab's worker: building the lab once more, in milliseconds (the first build of a
# restored interpreter runs on code the browser has not optimised yet).
REBUILD = """
import time
from pathlib import Path
from app.lab.page import create_lab
started = time.perf_counter()
create_lab(Path('/home/pyodide/napkin/weights'),
           corpus=open('/home/pyodide/napkin/corpus.txt').read(), state='#view=next')
round((time.perf_counter() - started) * 1000)
"""


def both_visits(context, base: str) -> tuple[float, dict, float, dict, dict]:
    try:
        first, timings, page = load_page(context, base + "index.html")
        page.wait_for_function("napkin.log.snapshot.taking === false", timeout=400_000)
        saved = page.evaluate("napkin.log.snapshot")
        timings["rebuild_ms"] = page.evaluate("(code) => napkin.run(code)", REBUILD)
        page.close()
        second, again, page = load_page(context, base + "index.html")
        restored = page.evaluate("napkin.log.snapshot.restored")
        again["rebuild_ms"] = page.evaluate("(code) => napkin.run(code)", REBUILD)
        page.close()
        if not restored:
            sys.exit(f"the second visit was not restored from a snapshot: {saved}")
        return first, timings, second, again, saved
    finally:
        context.close()


def snapshot_bytes(notes: list[str]) -> str:
    found = [n for n in notes if n.startswith("saved a snapshot")]
    return found[-1].removeprefix("saved a snapshot: ") if found else "none saved"


def boot_figures(browser, chromium, base: str, runs: int, throttles: list[float],
                 shipped: bool) -> None:
    bare, ours, stages, second, restored, from_site, log = [], [], [], [], [], [], {}
    for _ in range(runs):
        bare.append(cold_load(browser, base + "bare.html")[0])
        seconds, timings, again, again_timings, log = visits(chromium, base)
        ours.append(seconds)
        stages.append(timings)
        second.append(again)
        restored.append(again_timings)
        if shipped:
            from_site.append(cold_load(browser, base + "shipped/index.html"))
    median = statistics.median
    print(f"\nboot, {runs} runs, alternating: a bare page, our first and second visit"
          f"{', a first visit of the site built with --snapshot' if shipped else ''} "
          f"(load average {load()})")
    rows = [("bare page: Pyodide + import numpy", bare, None),
            ("our page to ready, first visit", ours, 1.6),
            ("second visit, from the snapshot", second, 1.0)]
    if shipped:
        rows.append(("first visit, --snapshot site", [s for s, _ in from_site], 1.6))
    for label, values, target in rows:
        ratio = f"ratio {median(values) / median(bare):5.2f}" if target else ""
        aim = f"(target <= {target})" if target else ""
        print(f"  {label:36} median {median(values):6.2f} s  {ratio} {aim}  "
              f"{[round(x, 2) for x in values]}")
    print(f"  the snapshot a first visit leaves    {snapshot_bytes(log['notes'])}")
    for label, runs_timings in (("second visit", restored),
                                *((("--snapshot site", [t for _, t in from_site]),) if shipped
                                  else ())):
        print(f"  {label}, by stage:")
        for name in ("runtime", "model", "render"):
            values = [t[name]["ms"] / 1000 for t in runs_timings]
            print(f"    {name:10} median {median(values):6.2f} s")
            for part in runs_timings[0][name].get("parts", {}):
                values = [t[name]["parts"][part] / 1000 for t in runs_timings]
                print(f"      {part:18} median {median(values):6.2f} s")
    drawn = [s - t["total_ms"] / 1000 for s, t in zip(second, restored, strict=True)]
    print(f"    {'page draws':10} median {median(drawn):6.2f} s (second visit)")
    print(f"  the lab built once more in the same worker: first visit median "
          f"{median(t['rebuild_ms'] for t in stages) / 1000:.2f} s, second visit "
          f"{median(t['rebuild_ms'] for t in restored) / 1000:.2f} s")
    for mbits in throttles:
        slow = {"bare page": cold_load(browser, base + "bare.html", mbits)[0],
                "our first visit": cold_load(browser, base + "index.html", mbits)[0]}
        if shipped:
            slow["--snapshot site"] = cold_load(browser, base + "shipped/index.html", mbits)[0]
        print(f"  at {mbits:g} Mbit/s (20 ms latency), one cold load each: " + ", ".join(
            f"{k} {v:6.2f} s ({v / slow['bare page']:4.2f})" for k, v in slow.items()))
    print("  first visit, by stage:")
    for name in ("runtime", "packages", "model", "render"):
        values = [t[name]["ms"] / 1000 for t in stages]
        print(f"    {name:10} median {statistics.median(values):6.2f} s")
        if name == "render":
            for part in stages[0][name].get("parts", {}):
                values = [t[name]["parts"][part] / 1000 for t in stages]
                print(f"      {part:14} median {statistics.median(values):6.2f} s")
    drawn = [s - t["total_ms"] / 1000 for s, t in zip(ours, stages, strict=True)]
    print(f"    {'page draws':10} median {statistics.median(drawn):6.2f} s "
          "(navigation to ready, less the worker's boot)")


def open_lab(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("document.body.dataset.state === 'ready'", timeout=400_000)
    page.evaluate(DEEP)
    return page


def median_ms(values: list[float]) -> str:
    return (f"median {statistics.median(values):5.0f} ms  p90 "
            f"{sorted(values)[int(0.9 * (len(values) - 1))]:5.0f} ms  ({len(values)})")


def latency_figures(page, n: int) -> None:
    page.locator("#app").get_by_text("Likeliest next token").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    prompt = "__deep('textarea')[0].value"
    generate = [page.evaluate(
        f"(() => {{ const before = {prompt}; return __timeUntil("
        "() => __button('Generate next token').click(), "
        f"() => {prompt} !== before); }})()") for _ in range(n)]
    summary = "__text('Likeliest next token')"
    handle = "__deep('[role=slider]').find((el) => el.getAttribute('aria-valuemax') === '2.0')"
    temperature = [page.evaluate(
        f"(() => {{ const before = {summary}; return __timeUntil("
        f"() => {handle}.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}', "
        f"bubbles: true}})), () => {summary} !== before); }})()")
        for key in ("ArrowLeft", "ArrowRight") * (n // 2)]
    page.evaluate("__button('Attention').click()")
    page.locator("#app").get_by_text("attends most to").first.wait_for(timeout=60_000)
    switches = []
    for label, text in (("Next token", "Likeliest next token"),
                        ("Attention", "attends most to")) * (n // 2):
        switches.append(page.evaluate(
            f"__timeUntil(() => __button('{label}').click(), "
            f"() => __deep('h2').some((h) => h.textContent === '{label}') && "
            f"__text('{text}') !== '')"))
    page.wait_for_timeout(500)
    effect = "__deep('p').filter((p) => /heads? (are|is) |All heads/.test(p.textContent))" \
             ".map((p) => p.textContent).join()"
    heads = [page.evaluate(
        f"(() => {{ const before = {effect}; return __timeUntil("
        "() => __button('0.1').click(), "
        f"() => {effect} !== before); }})()") for _ in range(n)]
    print(f"\nlatency in the live lab, click or key to the change on screen (load average "
          f"{load()})")
    print(f"  Generate next token -> new prompt text     {median_ms(generate)}  (target <= 150)")
    print(f"  temperature key -> redrawn probabilities   {median_ms(temperature)}  "
          "(target <= 150)")
    print(f"  view switch (Next token <-> Attention)     {median_ms(switches)}")
    print(f"  head off / on -> its effect shown          {median_ms(heads)}")


def steps_taken(page) -> int:
    return page.evaluate("napkin.run('len(bridge.lab.session.training.history)')")


def training_figures(page, seconds: float, repeats: int) -> None:
    """Steps a second and redraws (patches painted) a second while training plays as fast as
    it can, with the Training view shown and with the Attention view shown, in alternating
    intervals of `seconds`; medians of `repeats` each."""
    from app.views import VIEWS

    for title, *_ in VIEWS.values():  # every view built once: they all follow the model
        page.evaluate(f"__button({title!r}).click()")
        page.wait_for_function(f"__deep('h2').some((h) => h.textContent === {title!r})",
                               timeout=120_000)
    page.evaluate("__button('Training').click()")
    page.locator("#app").get_by_text("No step taken yet").first.wait_for(timeout=60_000)
    page.locator("#app").get_by_text("as fast as it can").first.click()
    fastest = "napkin.run('bridge.lab.session.clock.fastest')"
    page.wait_for_timeout(1000)
    if not page.evaluate(fastest):  # a site from before the toggle: its checkbox's box
        page.locator("#app").locator("input[type=checkbox]").first.click()
        page.wait_for_timeout(1000)
    assert page.evaluate(fastest), "could not set 'as fast as it can'"
    page.locator("#app").get_by_role("button", name="▶ Train / ❚❚ Pause").click()
    page.locator("#app").get_by_text("batch loss").first.wait_for(timeout=60_000)
    rates: dict[str, list[tuple[float, float]]] = {"Training": [], "Attention": []}
    for _ in range(repeats):
        for view in rates:
            page.evaluate(f"__button({view!r}).click()")
            page.wait_for_function(f"__deep('h2').some((h) => h.textContent === {view!r})",
                                   timeout=60_000)
            page.wait_for_timeout(1000)  # the switch itself is not training
            steps, painted = steps_taken(page), page.evaluate("napkin.log.painted ?? 0")
            start = time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            elapsed = time.perf_counter() - start
            rates[view].append(((steps_taken(page) - steps) / elapsed,
                                (page.evaluate("napkin.log.painted ?? 0") - painted) / elapsed))
    page.evaluate("__button('Training').click()")
    page.locator("#app").get_by_role("button", name="▶ Train / ❚❚ Pause").click()
    print(f"\ntraining in the page, as fast as it can, batch 8 x 64, every view built, "
          f"{repeats} x {seconds:.0f} s per view (load average {load()})")
    for view, pairs in rates.items():
        steps = [round(a, 2) for a, _ in pairs]
        redraws = [round(b, 2) for _, b in pairs]
        print(f"  {view} view shown: median {statistics.median(steps):5.2f} steps/s "
              f"(target >= 5) {steps}, {statistics.median(redraws):4.2f} redraws/s "
              f"(target >= 2) {redraws}")


def compute_figures(page) -> None:
    setup = ("WEIGHTS = '/home/pyodide/napkin/weights'\n"
             "TEXT = open('/home/pyodide/napkin/corpus.txt').read()[:200_000]\n"
             "from engine import kernels, layers\n" + WORKER_PATHS)
    run = "(code) => napkin.run(code + '\\nresult')"
    worker = json.loads(page.evaluate(run, setup + COMPUTE))
    rates = json.loads(page.evaluate(run, GFLOPS))
    from engine.corpus import default_corpus_path

    native_setup = (f"WEIGHTS = {str(ROOT / 'weights_tiny')!r}\n"
                    f"TEXT = open({str(default_corpus_path())!r}).read()[:200_000]\n"
                    "PATHS = {'': None}\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", native_setup + COMPUTE + "\nprint(result)"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    native = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\ncompute, same code, median ms (load average {load()}): worker (Pyodide) vs "
          "native (CPython, 1 BLAS thread)")
    for key in worker:
        base = native[key.removesuffix(" (einsum)")]
        target = "  (target <= 3x)" if key == "training step 8x64" else ""
        print(f"  {key:31} {worker[key]:8.1f} vs {base:6.1f}   {worker[key] / base:5.1f}x{target}")
    print("  matrix products in the worker, the step's largest shapes: "
          + ", ".join(f"{name} {rate:.1f} GFLOP/s" for name, rate in rates.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--site", help="a site `napkin-gpt build --self-host` wrote")
    parser.add_argument("--latency-samples", type=int, default=12)
    parser.add_argument("--train-seconds", type=float, default=10.0)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--throttle", default="50,10",
                        help="Mbit/s for throttled first visits, comma-separated ('' for none)")
    parser.add_argument("--boot-only", action="store_true", help="the boot figures only")
    parser.add_argument("--shipped", action="store_true",
                        help="also a site built with --snapshot (built here, with Node)")
    parser.add_argument("--only", default="boot,latency,compute,training",
                        help="the figures to measure, comma-separated (default: all)")
    args = parser.parse_args()
    dist = os.environ.get("NAPKIN_PYODIDE_DIST")
    if not args.site and not dist:
        sys.exit("set NAPKIN_PYODIDE_DIST to a full Pyodide 0.29.3 folder, or pass --site")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(args.site) if args.site else Path(tmp) / "site"
        if not args.site:
            build_site(site, dist)
        shipped = None
        if args.shipped:
            shipped = Path(tmp) / "shipped"
            build_site(shipped, dist or str(site / "pyodide"), "--snapshot")
        with serving(serve_folder(site, Path(tmp), shipped)) as served, \
                sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            print(f"headless Chromium, 127.0.0.1, {os.cpu_count()} cores")
            parts = {"boot"} if args.boot_only else set(args.only.split(","))
            if "boot" in parts:
                boot_figures(browser, p.chromium, served.url, args.runs,
                             [float(x) for x in args.throttle.split(",") if x], bool(shipped))
            if parts == {"boot"}:
                return
            page = open_lab(browser, served.url + "index.html#view=next")
            if "latency" in parts:
                latency_figures(page, args.latency_samples)
            if "compute" in parts:
                compute_figures(page)
            if "training" in parts:
                training_figures(page, args.train_seconds, args.train_repeats)
            browser.close()


if __name__ == "__main__":
    main()
