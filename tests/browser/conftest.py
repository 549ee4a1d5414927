"""The browser room's shared fixtures: one `napkin-gpt serve`, and one static site built from
the npm package `pyodide`, for every test that needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.site.build import PYODIDE_VERSION
from tests.support.serve import serving_lab
from tests.support.static_site import RUNAWAY_SECONDS, Visit, build, npm_core, serving


@pytest.fixture(scope="session")
def lab_url():
    """`napkin-gpt serve` itself, on a free port, as a reader would start it."""
    pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")
    try:
        with serving_lab() as url:
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
