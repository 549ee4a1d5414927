"""Benchmark the static lab as readers meet it: real Pyodide in the system Chromium.

    NAPKIN_PYODIDE_DIST=../shared/pyodide-0.29.3-full \
        python tests/bench/bench_browser.py [--runs 3] [--site DIR] [--train-seconds 10]
        [--train-repeats 3] [--only boot,latency,compute,training]

Builds the site with --self-host from that full Pyodide distribution (unless --site names a
built one), serves it from 127.0.0.1 and prints, from one run, side by side:

  boot     cold loads, alternating: a bare page that boots the same Pyodide in a worker and
           imports numpy, against our page up to `body[data-state=ready]`, with our stages
           (runtime, packages, model, first render and its parts, the page's drawing) and
           the ratio of the medians
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


def build_site(out: Path, dist: str) -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(out),
                           "--self-host", dist, "--offline"], cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)


def serve_folder(site: Path, tmp: Path) -> Path:
    """The site plus the bare page, in one folder (links, so the same files are served)."""
    folder = tmp / "served"
    folder.mkdir()
    for entry in site.iterdir():
        (folder / entry.name).symlink_to(entry.resolve())
    (folder / "bare.html").write_text(BARE_HTML)
    (folder / "bare-worker.js").write_text(BARE_WORKER)
    return folder


def cold_load(browser, url: str, timeout_s: float = 400) -> tuple[float, dict]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("['ready', 'error'].includes(document.body.dataset.state)",
                           timeout=timeout_s * 1000)
    elapsed = time.perf_counter() - started
    state = page.evaluate("document.body.dataset.state")
    info = page.evaluate("window.napkin ? napkin.log.timings : window.bare")
    context.close()
    if state != "ready":
        sys.exit(f"{url} did not get ready: {info}")
    return elapsed, info or {}


def boot_figures(browser, base: str, runs: int) -> None:
    bare, ours, stages = [], [], []
    for _ in range(runs):
        bare.append(cold_load(browser, base + "bare.html")[0])
        seconds, timings = cold_load(browser, base + "index.html")
        ours.append(seconds)
        stages.append(timings)
    print(f"\nboot, {runs} cold loads each, alternating (load average {load()})")
    print(f"  bare page: Pyodide + import numpy   median {statistics.median(bare):6.2f} s   "
          f"{[round(x, 2) for x in bare]}")
    print(f"  our page to ready                   median {statistics.median(ours):6.2f} s   "
          f"{[round(x, 2) for x in ours]}")
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"  ratio                               {ratio:6.2f}   (target <= 1.6)")
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
        with serving(serve_folder(site, Path(tmp))) as served, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            print(f"headless Chromium, 127.0.0.1, {os.cpu_count()} cores")
            parts = set(args.only.split(","))
            if "boot" in parts:
                boot_figures(browser, served.url, args.runs)
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
