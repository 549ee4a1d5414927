"""The lab in real Pyodide, in Chromium: waiting for it, and talking to its Python worker.

Needs a full Pyodide 0.29.3 distribution in NAPKIN_PYODIDE_DIST (the npm package holds only
the core; numpy and the other compiled packages come from the release archive); .ci/run sets
it when ../shared/pyodide-0.29.3-full exists.
"""

from __future__ import annotations

import os
import time

DIST = os.environ.get("NAPKIN_PYODIDE_DIST")
NO_DIST = ("NAPKIN_PYODIDE_DIST is not set: the lab in Pyodide needs a full Pyodide 0.29.3 "
           "distribution (numpy is not in the npm package)")
BOOT_MS = 300_000  # a cold start on two busy cores: runtime, packages, the first render
LINK = "#view=next&layer=1&temperature=0.5&seed=5"  # the shared lab opens from this link


def settled(page, timeout: float = BOOT_MS) -> str:
    """Wait until the page is ready or has failed; which of the two."""
    page.wait_for_function("['ready', 'error'].includes(document.body.dataset.state)",
                           timeout=timeout)
    return page.evaluate("document.body.dataset.state")


def python(page, code: str):
    """Run `code` in the page's worker (its last expression is the result); `bridge.lab`
    is the live Lab."""
    return page.evaluate("(code) => napkin.run(code)", code)


def wait_in_worker(page, condition: str, timeout: float = 60) -> None:
    """Until the Python expression `condition` holds in the page's worker, checked once per
    round trip. (A wait_for_function on napkin.run(...) would not wait: it is handed a
    promise, and a promise counts as true.)"""
    deadline = time.monotonic() + timeout
    while not python(page, f"bool({condition})"):
        assert time.monotonic() < deadline, f"still not true after {timeout:g} s: {condition}"
        page.wait_for_timeout(200)


def app(page):
    """The live lab's part of the page."""
    return page.locator("#app")
