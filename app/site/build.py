"""`napkin-gpt build`: the lab as a static site that runs in the browser, on Pyodide.

    napkin-gpt build [--out DIR] [--self-host PYODIDE_DIR] [--runaway-seconds 10]

Any static host can serve the folder it writes:

    index.html, embed.html  the pages: the loader, a snapshot of every view, the config
    boot.js, worker.js      the page's script and the Python worker's (both thin relays)
    style.css, lab.css      the page's look, and the lab's (app/style.css)
    packages/               pyodide-lock.json and the wheels it lists: ours, the pure-Python
                            ones from PyPI (bokeh and panel slimmed), and with --self-host the
                            compiled ones (numpy, ...) from the Pyodide distribution
    pyodide/                with --self-host only: the Pyodide runtime
    data/                   the shipped weights and the training text
    static/                 BokehJS and Panel's JS and CSS, at the paths `panel serve` uses
    build.json              what was built, and the cold-load payload the build prints

By default the Pyodide runtime and its compiled packages come from the Pyodide CDN, pinned to
PYODIDE_VERSION, each file with a Subresource Integrity hash taken from the npm package
`pyodide` of the same version (found at $NAPKIN_PYODIDE_NPM, or in the cache folder).
The page itself loads no script from any other host.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.i18n import DEFAULT_LANGUAGE, LANGUAGES
from app.site import bytecode, memory_snapshot, wheels
from app.site.page_words import STAGES, page_words
from app.site.panel_private import DIST_URL  # Panel's files, where `panel serve` has them
from app.site.report import payload, print_report
from app.site.vendor import PageNeeds, VendorError, page_needs, vendor_source
from engine.weights import BPE_NAME, SHIPPED_WEIGHTS

# The release `panel convert` of Panel 1.9.4 pins; the runtime and the npm package must match.
PYODIDE_VERSION = "0.29.3"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
# The runtime's Subresource Integrity hashes are computed from the npm package of the same
# version. That its files are byte-identical to the CDN's could NOT be verified here (no
# internet): same release, same file names and sizes. Should they differ, browsers refuse
# the CDN's files and the page says so; check with `curl <CDN>/<file> | sha384sum`.
RUNTIME_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
LOCK_FILE = "pyodide-lock.json"
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
SHELL = ("boot.js", "worker.js", "pyodide_snapshot.js", "style.css")
PAGES = {"index.html": False, "embed.html": True}  # page -> embed mode
WORKER_HOME = "/home/pyodide/napkin"  # where the worker puts the weights and the text
WEIGHT_FILES = ("model.npz", "config.json", BPE_NAME)
MARKER = ".napkin-gpt-site"
RUNAWAY_SECONDS = 10.0  # the reader's code (Code view, edited engine)
STUCK_SECONDS = 60.0  # the lab's own work
HEARTBEAT_SECONDS = 2.0
STALL_SECONDS = 120.0
PINNED = ("our files", "training text", "Bokeh/Panel JS", "Pyodide runtime",
          "packages (lock file)", "Python snapshot")



class BuildError(Exception):
    """The site cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    self_host: Path | None = None  # a Pyodide folder to copy instead of using the CDN
    pyodide_npm: Path | None = None  # the npm package `pyodide` (hashes, lock file)
    weights: Path = SHIPPED_WEIGHTS
    corpus: Path | None = None  # default: engine.corpus.default_corpus_path()
    runaway_seconds: float = RUNAWAY_SECONDS
    wheel_cache: Path | None = None
    offline: bool = False  # only use wheels already in the cache
    snapshot: bool = False  # ship Python's memory with the lab imported (--self-host only)


@dataclass
class Site:
    """What a build wrote, file by file, for the config and the payload report."""

    root: Path
    sources: dict[str, str] = field(default_factory=dict)  # url -> source group
    remote: dict[str, Path | None] = field(default_factory=dict)  # CDN url -> local copy

    def add(self, url: str, source: str, data: bytes | None = None,
            copy_of: Path | None = None) -> Path:
        path = self.root / url
        path.parent.mkdir(parents=True, exist_ok=True)
        if copy_of is not None:
            shutil.copyfile(copy_of, path)
        elif data is not None:
            path.write_bytes(data)
        self.sources[url] = source
        return path

    def local(self, url: str) -> Path | None:
        return self.remote[url] if url in self.remote else self.root / url


# ---- the steps --------------------------------------------------------------------------------


def cache_dir() -> Path:
    """What set-up downloads once for the build (pure-Python wheels, the npm package
    `pyodide`): $XDG_CACHE_HOME/napkin-gpt (~/.cache/napkin-gpt)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "napkin-gpt"


def default_npm() -> Path:
    return Path(os.environ.get("NAPKIN_PYODIDE_NPM") or cache_dir() / "npm/node_modules/pyodide")


def sri(path: Path, algorithm: str = "sha384") -> str:
    digest = hashlib.new(algorithm, path.read_bytes()).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def check_pyodide(folder: Path, what: str) -> dict:
    """The folder's lock file, after checking that it holds Pyodide PYODIDE_VERSION."""
    missing = [f for f in (*RUNTIME_FILES, LOCK_FILE) if not (folder / f).is_file()]
    if missing:
        raise BuildError(
            f"{what} {folder} lacks {', '.join(missing)}. Install the npm package with\n"
            f"  npm install --no-save --prefix {cache_dir() / 'npm'} pyodide@{PYODIDE_VERSION}\n"
            "or point NAPKIN_PYODIDE_NPM (or --pyodide-npm / --self-host) at a Pyodide folder.")
    found = re.search(rb'API\.version="([^"]+)"', (folder / "pyodide.asm.js").read_bytes())
    version = found.group(1).decode() if found else "unknown"
    if version != PYODIDE_VERSION:
        raise BuildError(f"{what} {folder} holds Pyodide {version}; the site needs "
                         f"{PYODIDE_VERSION} (the version Panel's own converter pins).")
    return json.loads((folder / LOCK_FILE).read_text(encoding="utf-8"))


def add_packages(site: Site, stock_lock: dict, options: BuildOptions,
                 imported: set[str]) -> list[wheels.Wheel]:
    """Every wheel the worker installs, in packages/, and the lock file listing them; the
    modules in `imported` compiled in advance (see bytecode.py)."""
    folder = site.root / "packages"
    folder.mkdir(parents=True)
    cache = options.wheel_cache or cache_dir() / "wheels"
    pure_sources = wheels.fetch_pure_wheels(cache, options.offline)
    names = set(pure_sources) | set(wheels.COMPILED)
    pure = [wheels.pure_wheel(src, folder, names) for src in pure_sources.values()]
    compiled = wheels.compiled_wheels(
        stock_lock, PYODIDE_CDN, options.self_host,
        folder if options.self_host else None)
    ours = wheels.project_wheel(ROOT, folder, names)
    shipped = [ours, *sorted(pure, key=lambda w: w.name)]
    python = bytecode.find_python()
    if python is None:
        print("note: no CPython 3.13 here, so the wheels ship without compiled modules and "
              "the page compiles them as it starts (set NAPKIN_PYTHON313)", file=sys.stderr)
    else:  # not ours: 0.37 MB of our budget for 0.2 s of a first visit (benchmarks.md)
        shipped = [w if w is ours else wheels.with_members(w, bytecode.compiled_members(
            w.path, python, cache_dir() / "pyc", imported)) for w in shipped]
    everything = [*shipped, *compiled]
    wheels.write_lock(stock_lock, everything, folder / LOCK_FILE)
    site.sources[f"packages/{LOCK_FILE}"] = "packages (lock file)"
    for w in everything:
        if w.path is None:
            site.remote[w.file_name] = None
            site.sources[w.file_name] = "packages (compiled, Pyodide CDN)"
        else:
            site.sources[f"packages/{w.file_name}"] = (
                "our files" if w.name == wheels.PROJECT else
                "packages (compiled)" if w.name in wheels.COMPILED else "packages (pure Python)")
    return everything


def add_runtime(site: Site, pyodide: Path, self_hosted: bool) -> str:
    """The Pyodide runtime: copied into pyodide/, or left on the CDN. Returns its base URL."""
    base = "pyodide/" if self_hosted else PYODIDE_CDN
    for name in RUNTIME_FILES:
        if self_hosted:
            site.add(base + name, "Pyodide runtime", copy_of=pyodide / name)
        else:
            site.remote[base + name] = pyodide / name
            site.sources[base + name] = "Pyodide runtime"
    return base


def add_data(site: Site, weights: Path, corpus: Path) -> dict[str, str]:
    """The weights and the training text; returns url -> path in the worker's file system."""
    files = {}
    for name in WEIGHT_FILES:
        if (weights / name).is_file():
            site.add(f"data/weights/{name}", "our files", copy_of=weights / name)
            files[f"data/weights/{name}"] = f"{WORKER_HOME}/weights/{name}"
    site.add("data/corpus.txt", "training text", copy_of=corpus)
    files["data/corpus.txt"] = f"{WORKER_HOME}/corpus.txt"
    return files


def add_vendor(site: Site, needs: PageNeeds) -> None:
    for url in needs.scripts:
        site.add(url, "Bokeh/Panel JS", copy_of=vendor_source(url))
    for url in needs.stylesheets:
        site.add(url, "Bokeh/Panel CSS", copy_of=vendor_source(url))
    for url in needs.on_demand:
        if vendor_source(url).is_file():
            site.add(url, "on demand", copy_of=vendor_source(url))
    from panel.io.resources import DIST_DIR

    for path in sorted((Path(DIST_DIR) / "assets").glob("*.svg")):  # loading.css uses them
        site.add(f"{DIST_URL}assets/{path.name}", "on demand", copy_of=path)


def content_security_policy(remote: str | None) -> str:
    """Scripts only from this site; downloads only from here and the Pyodide CDN.

    Within that: blob: runs the worker and the scripts it imports (each fetched and checked
    first); 'wasm-unsafe-eval' lets Pyodide compile; eval is for Bokeh's CustomJS and
    Panel's `run_js` in the worker (a blob: worker inherits this policy); 'unsafe-inline'
    because es-module-shims, which Panel's ESM components need, tests the browser's module
    support with an inline script whose text (so its hash) differs from browser to browser.
    Text from readers is escaped regardless. A host that sends a policy of its own must
    allow as much: docs/static-site.md gives it, tests/browser/test_csp.py boots behind it.
    """
    cdn = f" {re.match(r'https://[^/]+', remote).group(0)}" if remote else ""
    return ("default-src 'self'; "
            "script-src 'self' blob: 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'; "
            f"worker-src blob:; connect-src 'self'{cdn}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; object-src 'none'; "
            "base-uri 'self'; form-action 'none'")


def add_pages(site: Site, config: dict, snapshots: dict[str, dict[str, str]],
              default_view: str, csp: str) -> None:
    """index.html and embed.html, with their config, loader and snapshots (language -> view
    -> HTML: one section per view, holding it in every language, English shown)."""
    stages = "".join(f'<li data-stage="{i}">{label}<span class="bytes"></span></li>'
                     for i, label in STAGES)
    sections = "".join(
        f'<section class="napkin view-snapshot" data-view="{key}"'
        f'{"" if key == default_view else " hidden"}>' + "".join(
            f'<div data-lang="{lang}"{"" if lang == DEFAULT_LANGUAGE else " hidden"}>'
            f"{pictures[key]}</div>" for lang, pictures in snapshots.items()) + "</section>"
        for key in snapshots[DEFAULT_LANGUAGE])
    for page, embed in PAGES.items():
        page_config = {**config, "session": {**config["session"], "embed": embed}}
        text = (STATIC / page).read_text(encoding="utf-8")
        fills = {"csp": csp, "stages": stages, "snapshot": sections,
                 # "</" cannot end the script element early: JSON allows "<\/"
                 "config": json.dumps(page_config, indent=1).replace("</", "<\\/")}
        fills |= {f"integrity:{n}": sri(site.root / n) for n in ("style.css", "lab.css",
                                                                  "boot.js")}
        text = re.sub(r"\{\{([^}]+)\}\}", lambda m, fills=fills: fills[m.group(1)], text)
        site.add(page, "our files", text.encode())


# ---- the whole build --------------------------------------------------------------------------


def build_site(options: BuildOptions) -> dict:
    """Write the site into options.out; returns the manifest (also written as build.json)."""
    from app.session.loader import load_session
    from app.site.snapshot import snapshots
    from app.tour import CHAPTERS
    from app.views import DEFAULT_VIEW, VIEWS
    from engine.corpus import default_corpus_path

    corpus = options.corpus or default_corpus_path()
    if not corpus.is_file():
        raise BuildError(f"no training text at {corpus}; run `napkin-gpt fetch-corpus` first")
    pyodide = options.self_host or options.pyodide_npm or default_npm()
    stock_lock = check_pyodide(pyodide, "the Pyodide folder" if options.self_host
                               else "the npm package pyodide at")
    if options.snapshot and not options.self_host:
        raise BuildError("--snapshot needs --self-host: a snapshot fits only the runtime and "
                         "compiled wheels it was taken with, and the CDN's are other builds")
    if options.self_host:
        wheels.check_compiled(stock_lock, options.self_host)  # before the slow part
    site = Site(_fresh(options.out))
    corpus_text = corpus.read_text(encoding="utf-8")
    needs = page_needs(options.weights, corpus_text)  # renders every view, so imports all
    installed = add_packages(site, stock_lock, options, bytecode.imported_sources())
    base = add_runtime(site, pyodide, options.self_host is not None)
    files = add_data(site, options.weights, corpus)
    add_vendor(site, needs)
    for name in SHELL:
        site.add(name, "our files", copy_of=STATIC / name)
    site.add("lab.css", "our files", copy_of=ROOT / "app" / "style.css")
    session = load_session(options.weights, corpus_text)
    titles = {key: title for key, (title, *_) in VIEWS.items()}
    pictures = {}  # language -> view -> its snapshot (boot.js shows the reader's)
    for language in LANGUAGES:
        session.language = language
        pictures[language] = snapshots(session, titles)
    config = page_config(site, options, base, installed, files, needs)
    config["tourViews"] = [chapter.view for chapter in CHAPTERS]  # the snapshot of #tour=N
    if options.snapshot:
        add_snapshot(site, config)
    csp = content_security_policy(None if options.self_host else PYODIDE_CDN)
    add_pages(site, config, pictures, DEFAULT_VIEW, csp)
    manifest = {
        "pyodide_version": PYODIDE_VERSION, "pyodide": base,
        "self_hosted": options.self_host is not None,
        "packages": {w.name: w.version for w in installed},
        "snapshot_bytes": {k: max(len(p[k].encode()) for p in pictures.values())  # a view's,
                           for k in pictures[DEFAULT_LANGUAGE]},  # in its longest language
        "payload": payload(site),
    }
    (site.root / "build.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def add_snapshot(site: Site, config: dict) -> None:
    """The site's Python, started and with the lab's modules imported, as a memory
    snapshot a first visit restores (memory_snapshot.py); the config points at it."""
    key = memory_snapshot.snapshot_key(config["integrity"], config["packages"],
                                       config["snapshotImports"])
    memory_snapshot.take_snapshot(site.root, key, config["snapshotImports"])
    path = site.add(memory_snapshot.SNAPSHOT_FILE, "Python snapshot")
    config["snapshotFile"] = name = memory_snapshot.SNAPSHOT_FILE
    config["integrity"][name], config["sizes"][name] = sri(path), path.stat().st_size
    stages = {stage["id"]: stage for stage in config["stages"]}  # what a restore downloads
    stages["runtime"]["bytes"] += path.stat().st_size
    stages["packages"]["bytes"] = 0


def page_config(site: Site, options: BuildOptions, base: str, installed: list[wheels.Wheel],
                files: dict[str, str], needs: PageNeeds) -> dict:
    """The config both pages carry: where everything is, its pins and sizes, the stages,
    the guard's limits and the Python session to start."""
    # Pinned: everything fetched by URL but the pages (they hold the pins) and the wheels
    # (Pyodide checks those against the sha256 in the pinned lock file).
    local = {u: site.local(u) for u in site.sources if site.local(u) is not None}
    integrity = {u: sri(path) for u, path in local.items()
                 if site.sources[u] in PINNED and not u.endswith((".whl", ".html"))}
    sizes = {u: path.stat().st_size for u, path in local.items() if not u.endswith(".html")}
    stage_bytes = {
        "runtime": sum(sizes[u] for u in local
                       if site.sources[u] in ("Pyodide runtime", "packages (lock file)")),
        "packages": sum(sizes.get(f"packages/{w.file_name}", 0) for w in installed),
        "model": sum(sizes[u] for u in files),
        "render": 0,
    }
    return {
        "pyodide": base, "lock": f"packages/{LOCK_FILE}", "packageBase": "packages/",
        "packages": [w.name for w in installed], "files": files, "entry": "app.site.worker_bridge",
        "session": {"weights": f"{WORKER_HOME}/weights", "corpus": files["data/corpus.txt"],
                    "dist_url": DIST_URL, "extensions": needs.extensions},
        "snapshot": True, "snapshotModule": "pyodide_snapshot.js",
        "snapshotImports": list(memory_snapshot.IMPORTS),
        "scripts": needs.scripts, "integrity": integrity, "sizes": sizes,
        "stages": [{"id": i, "label": label, "bytes": stage_bytes[i]} for i, label in STAGES],
        "timeouts": {"runawayMs": round(options.runaway_seconds * 1000),
                     "stuckMs": round(max(STUCK_SECONDS, options.runaway_seconds) * 1000),
                     "heartbeatMs": round(HEARTBEAT_SECONDS * 1000),
                     "stallMs": round(STALL_SECONDS * 1000)},
        "words": page_words(options.runaway_seconds),  # per language; boot.js picks one
    }


def _fresh(out: Path) -> Path:
    """An empty folder at `out`; an earlier build there is replaced, anything else kept."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise BuildError(f"{out} exists and is not a site this command built; choose "
                             "another --out or empty it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by napkin-gpt build; the whole folder is replaced by "
                              "the next build\n")
    return out


# ---- command line -----------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """Run the build for the arguments of `napkin-gpt build` (see app/cli.py)."""
    try:
        if args.download_only:
            found = wheels.fetch_pure_wheels(cache_dir() / "wheels")
            print(f"{len(found)} wheels in {cache_dir() / 'wheels'}")
            return 0
        options = BuildOptions(
            out=Path(args.out), self_host=Path(args.self_host) if args.self_host else None,
            pyodide_npm=Path(args.pyodide_npm) if args.pyodide_npm else None,
            weights=Path(args.weights), corpus=Path(args.corpus) if args.corpus else None,
            runaway_seconds=args.runaway_seconds, offline=args.offline,
            snapshot=args.snapshot)
        manifest = build_site(options)
    except (BuildError, VendorError, wheels.WheelsError, memory_snapshot.SnapshotError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_report(manifest, options.out)
    return 0
