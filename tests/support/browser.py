"""The system Chromium, driven by Playwright: flags, a page that may only talk to this
machine, screenshots for review, and waiting on a condition instead of a fixed sleep."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from urllib.parse import urlparse

from tests.support.models import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1",
                                                                            "localhost")


def local_page(browser, width: int = 1280, height: int = 900, **context_options):
    """A page in a fresh context whose requests (its workers' too) may only go to this
    machine: anything else is aborted and recorded in `page.outside`; page errors are
    recorded in `page.errors`."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  **context_options)
    page = context.new_page()
    page.outside, page.errors = [], []

    def guard(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def screenshot(page, name: str) -> None:
    """Keep a picture of the page for review (test-artifacts/screens, not committed)."""
    folder = ARTIFACTS / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def wait_until(page, condition: Callable[[], bool], timeout: float = 15.0,
               what: str = "") -> None:
    """Poll `condition` (which may ask Python or the page) until it holds, or fail saying
    `what` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        page.wait_for_timeout(100)


def painted(page) -> None:
    """Wait until the page has laid out and painted what it has (two animation frames)."""
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


# view -> text that only that view shows once it has drawn (a test waits for it)
SHOWN = {
    "tokens": "tokens, vocabulary of 77", "examples": "Showing",
    "embedding": "of wte plus row", "attention": "attends most to",
    "residual": "Every token has its own track", "next": "Likeliest next token",
    "training": "Step one phase", "scale": "GPT-3 175B",
    "quantization": "Next token after the prompt", "code": "Running:"}


def drop_file(scope, name: str, data: bytes) -> None:
    """A file dropped on the lab's model bar inside `scope` (a page, or the locator the lab
    is drawn in), as the browser delivers it: a synthetic drop event."""
    scope.locator(".drop-zone").evaluate(
        """(zone, [text, name]) => {
             const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
             const files = new DataTransfer()
             files.items.add(new File([bytes], name))
             zone.dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true,
                                                        cancelable: true }))
           }""", [base64.b64encode(data).decode(), name])
