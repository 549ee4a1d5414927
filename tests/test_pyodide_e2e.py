"""The static site end to end, with Python really in Pyodide: needs a full Pyodide 0.29.3
distribution (the release archive pyodide-0.29.3.tar.bz2, unpacked; it holds numpy and the
other compiled packages the npm package lacks). Point NAPKIN_PYODIDE_DIST at it:

    NAPKIN_PYODIDE_DIST=/path/to/pyodide pytest tests/test_pyodide_e2e.py

The site is built with --self-host from that folder, served from 127.0.0.1 and driven in
the system Chromium; every request outside this machine is aborted and fails the test.
Without the variable the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, local_page, screenshot
from tests.test_static_site import serving

pytestmark = pytest.mark.browser
DIST = os.environ.get("NAPKIN_PYODIDE_DIST")
if not DIST:
    pytest.skip("NAPKIN_PYODIDE_DIST is not set: these tests need a full Pyodide 0.29.3 "
                "distribution (numpy is not in the npm package)", allow_module_level=True)

BOOT_SECONDS = 240  # a cold start on two cores: runtime, ~20 MB of packages, the first render
RUNAWAY_SECONDS = 10  # the shipped default


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(out),
                           "--self-host", DIST, "--offline"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with serving(out) as served:
        yield served


@pytest.fixture
def lab(browser, site):
    """A page with the live lab at the address's state (call it with a hash)."""
    page = local_page(browser)
    context = page.context

    def open_lab(state: str = ""):
        page.goto(site.url + "index.html" + state)
        page.wait_for_function(
            "['ready', 'error'].includes(document.body.dataset.state)",
            timeout=BOOT_SECONDS * 1000)
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text(
            "#error-text")
        return page

    yield open_lab
    assert page.outside == []
    assert not [p for code, p in site.log if code >= 400]
    context.close()


def live(page):
    return page.locator("#app")


def test_the_lab_runs_in_pyodide_and_keeps_its_state_in_the_address(lab):
    page = lab("#view=next&seed=5")
    live(page).get_by_text("Likeliest next token").first.wait_for(timeout=60_000)
    assert page.is_hidden("#snapshot")
    timings = page.evaluate("napkin.log.timings")
    print(f"\nboot in Pyodide: {timings}")
    assert page.evaluate("napkin.run('import numpy, panel; numpy.__version__')") == "2.2.5"
    box = live(page).locator("textarea").first
    box.fill("To be, or not")
    box.press("Tab")
    page.wait_for_function("location.hash.includes('prompt=To%20be')", timeout=30_000)
    for view, text in (("Tokens", "tokens, vocabulary of 77"), ("Attention", "attends most to"),
                       ("Training", "No step taken yet"), ("Scale", "GPT-3 175B")):
        live(page).get_by_role("button", name=view, exact=True).click()
        live(page).get_by_text(text).first.wait_for(timeout=60_000)
    screenshot(page, "pyodide-lab")
    assert page.errors == []


def test_edit_run_reset_and_an_endless_loop_is_stopped(lab):
    page = lab("#view=code&layer=1")
    app = live(page)
    app.get_by_text("Running: the shipped engine").first.wait_for(timeout=60_000)
    editor = app.locator(".ace_editor .ace_content").first
    # edit -> run -> reset
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# edited in the browser\n")
    app.get_by_role("button", name="▶ Run my code").click()
    app.get_by_text("The lab now runs your edited layers.py").first.wait_for(timeout=60_000)
    app.get_by_role("button", name="Reset all").click()
    app.get_by_text("Back to the shipped engine").first.wait_for(timeout=60_000)
    # an endless loop at import: the worker never answers, the page restarts it
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nwhile True:\npass")  # the editor indents the body itself
    started = time.monotonic()
    app.get_by_role("button", name="▶ Run my code").click()
    page.wait_for_function("napkin.log.restarts === 1", timeout=(RUNAWAY_SECONDS + 20) * 1000)
    assert RUNAWAY_SECONDS - 0.5 < time.monotonic() - started < RUNAWAY_SECONDS + 10
    page.wait_for_function("document.body.dataset.state === 'ready'",
                           timeout=BOOT_SECONDS * 1000)
    app.get_by_text(f"Your code ran for more than {RUNAWAY_SECONDS} s and was stopped").first \
        .wait_for(timeout=60_000)
    # restored from the address, on the shipped engine; the edit is kept but not run again
    assert page.evaluate("location.hash") == "#view=code&layer=1"
    app.get_by_text("Running: the shipped engine").first.wait_for(timeout=60_000)
    screenshot(page, "pyodide-runaway-restarted")
    assert page.errors == []
