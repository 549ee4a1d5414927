"""`napkin-gpt serve` as a reader starts it, and the few moves every Chromium test of it makes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.browser import free_port
from tests.support.models import ROOT


@contextlib.contextmanager
def serving_lab(*extra: str, log: Path | None = None) -> Iterator[str]:
    """`napkin-gpt serve` on a free port; yields its URL once it answers. What the server
    prints goes to `log` (a file: a pipe nobody reads would stop the server once full)."""
    port = free_port()
    output = open(log, "w+") if log else tempfile.TemporaryFile("w+")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-browser", *extra],
        cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=30).read()  # a session: seconds when busy
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    output.seek(0)
                    raise RuntimeError("napkin-gpt serve did not start:\n"
                                       + output.read()) from None
                time.sleep(0.3)  # polling a server that is still starting
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        output.close()


def open_lab(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("attends most to").wait_for(timeout=30_000)


def prompt_box(page):
    return page.locator("textarea").first


def set_prompt(page, text: str) -> None:
    box = prompt_box(page)
    box.fill(text)
    box.press("Tab")  # Panel sends the value when the field loses focus


def choose_view(page, title: str) -> None:
    """Click the view `title` in the list of views, unfolding the controls first on a narrow
    screen (where they fold behind one button) and folding them again after."""
    toggle = page.get_by_role("button", name="☰ Controls")
    narrow = toggle.is_visible()
    if narrow:
        toggle.click()
    page.get_by_role("button", name=title, exact=True).click()
    if narrow:
        toggle.click()
