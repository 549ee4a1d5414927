"""The browser room's shared fixtures, each made once for the whole run: `napkin-gpt serve`;
the static site built from the npm package `pyodide` (the CDN's runtime, no numpy); and
the site built from a full Pyodide distribution, with one lab booted in it that every
in-Pyodide test shares. Tests that restart that lab's worker are marked `restarts_worker`
and run after all the others; a test that fills the worker's WebAssembly memory is marked
`fills_memory` and runs after every test that does not restart the worker (after it, the
patches that carry arrays no longer reach the page intact: BokehJS fails with "Offset is
outside the bounds of the DataView")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.site.build import PYODIDE_VERSION
from tests.support.browser import local_page
from tests.support.models import ROOT
from tests.support.pyodide import DIST, LINK, NO_DIST, settled
from tests.support.serve import serving_lab
from tests.support.static_site import RUNAWAY_SECONDS, Visit, build, npm_core, serving

SERVE_LOG = pytest.StashKey[Path]()  # what `napkin-gpt serve` printed during the run


@pytest.fixture(scope="session")
def lab_url(request, tmp_path_factory):
    """`napkin-gpt serve` itself, on a free port, as a reader would start it."""
    pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")
    log = request.config.stash[SERVE_LOG] = tmp_path_factory.mktemp("serve") / "serve.log"
    try:
        with serving_lab(log=log) as url:
            yield url
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def npm_site(tmp_path_factory) -> Path:
    """The default build (Pyodide from its CDN), made once for the session from the npm
    package `pyodide`, with a short guard limit (RUNAWAY_SECONDS)."""
    if not (npm_core() / "pyodide.asm.wasm").is_file():
        pytest.skip(f"no npm package pyodide@{PYODIDE_VERSION} at {npm_core()} (set "
                    "NAPKIN_PYODIDE_NPM, or: npm install --prefix ~/.cache/napkin-gpt/npm "
                    f"pyodide@{PYODIDE_VERSION})")
    out = tmp_path_factory.mktemp("site")
    done = build(out, "--runaway-seconds", str(RUNAWAY_SECONDS))
    if "not in the wheel cache" in done.stderr:
        pytest.skip(f"the wheel cache is empty: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def npm_server(npm_site):
    with serving(npm_site) as served:
        yield served


@pytest.fixture
def visit(browser, npm_server):
    """Open fresh visits of the npm-core site (closed, and checked, after the test)."""
    visits = []

    def open_visit(**kwargs) -> Visit:
        visits.append(Visit(browser, npm_server.url, **kwargs))
        return visits[-1]

    yield open_visit
    for v in visits:
        v.close()


@pytest.fixture(scope="session")
def pyodide_site(tmp_path_factory):
    """The site built with --self-host from the full distribution, served from 127.0.0.1."""
    if not DIST:
        pytest.skip(NO_DIST)
    out = tmp_path_factory.mktemp("pyodide-site")
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(out),
                           "--self-host", DIST, "--offline"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    with serving(out) as served:
        yield served


@pytest.fixture(scope="session")
def lab(browser, pyodide_site):
    """One live lab in Pyodide for the whole run, opened from a share link (LINK)."""
    page = local_page(browser)
    page.goto(pyodide_site.url + "index.html" + LINK)
    assert settled(page) == "ready", page.inner_text("#error-text")
    yield page
    assert page.outside == []
    assert not [p for code, p in pyodide_site.log if code >= 400]
    page.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test under serve shows what the server printed last. A failed test on the
    shared lab says what the page logged and what the lab last told the reader, then puts
    the shipped weights back: the next tests start from the shipped model rather than fail
    for the state it left."""
    report = (yield).get_result()
    if report.when != "call" or not report.failed:
        return
    if "lab_url" in item.funcargs and SERVE_LOG in item.config.stash:
        lines = item.config.stash[SERVE_LOG].read_text("utf-8", "replace").splitlines()
        report.sections.append(("napkin-gpt serve, its last lines", "\n".join(lines[-30:])))
    page = item.funcargs.get("lab")
    if page is None:
        return
    try:
        log = page.evaluate("JSON.stringify({errors: napkin.log.errors, restarts: "
                            "napkin.log.restarts, patches: napkin.log.patches, painted: "
                            "napkin.log.painted, starts: napkin.log.starts, link: napkin.link})")
        told = page.evaluate("napkin.run('repr((bridge.lab.session.message, "
                             "bridge.lab.session.config))')")
        page.evaluate("napkin.run('bridge.lab.session.reset_weights()')")
    except Exception as e:  # a page that no longer answers says so
        log, told = f"(the page did not answer: {e})", ""
    report.sections.append(("the shared lab", f"log: {log}\nlast told: {told}"))


def pytest_collection_modifyitems(items) -> None:
    """Tests that restart the shared lab's worker run after every other test, and those that
    fill its memory just before them."""
    items.sort(key=lambda item: (item.get_closest_marker("restarts_worker") is not None,
                                 item.get_closest_marker("fills_memory") is not None))
