"""The static site under test: built with `napkin-gpt build` from the npm package `pyodide`
(the CDN's runtime, offline), served from 127.0.0.1, and visited in Chromium with the CDN
answered from this machine."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar, NamedTuple

from app.site.build import PYODIDE_CDN, RUNTIME_FILES
from tests.support.models import ROOT

RUNAWAY_SECONDS = 3  # the guard's limit in the test build (the default is 10)
COMPILED = ("numpy", "PyYAML", "MarkupSafe", "nh3")  # installed here, stand-ins for Pyodide's


def npm_core() -> Path:
    env = os.environ.get("NAPKIN_PYODIDE_NPM")
    return Path(env) if env else Path.home() / ".cache/napkin-gpt/npm/node_modules/pyodide"


def build(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`napkin-gpt build` in a child process (Panel's global state stays out of this one)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "build", "--out", str(out), "--offline",
         "--pyodide-npm", str(npm_core()), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300)


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="napkin-config">(.*?)</script>',
                      html, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def sri(data: bytes, algorithm: str = "sha384") -> str:
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


COMPILED_NAMES = ("numpy", "pyyaml", "markupsafe", "nh3")


def assert_self_hosted(out: Path, dist: Path) -> None:
    """The site in `out`, built with --self-host `dist`, carries everything it loads."""
    config = page_config((out / "index.html").read_text())
    assert config["pyodide"] == "pyodide/"
    for name in RUNTIME_FILES:
        assert (out / "pyodide" / name).read_bytes() == (dist / name).read_bytes()
    lock = json.loads((dist / "pyodide-lock.json").read_text())
    site_lock = json.loads((out / "packages/pyodide-lock.json").read_text())
    assert not [e for e in site_lock["packages"].values() if "://" in e["file_name"]]
    for name in COMPILED_NAMES:
        assert (out / "packages" / lock["packages"][name]["file_name"]).is_file()
    everything = json.dumps(config) + (out / "index.html").read_text()
    assert "https://" not in everything  # no outside URL at all, CSP included
    assert "compiled" in (out / "build.json").read_text()


# ---- serving, routing ---------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
        ".js": "text/javascript", ".whl": "application/octet-stream", ".json": "application/json"}

    def log_message(self, *args) -> None:
        pass

    def send_response(self, code, message=None) -> None:
        self.server.log.append((code, self.path))
        super().send_response(code, message)

    def do_GET(self) -> None:
        delay = self.server.delays.get(self.path.lstrip("/"))
        if delay:
            time.sleep(delay)  # a slow network, for this request's own thread only
        super().do_GET()

    def end_headers(self) -> None:
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        super().end_headers()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-download
            super().handle_error(request, client_address)


class Served(NamedTuple):
    url: str
    log: list[tuple[int, str]]  # (status, path) of every request
    root: Path  # the folder served


@contextlib.contextmanager
def serving(folder: Path, headers: dict[str, str] | None = None,
            delays: dict[str, float] | None = None):
    """A static file server for `folder` on 127.0.0.1, in a thread, sending `headers` (such
    as a Content-Security-Policy) with every response, and answering the paths in `delays`
    that many seconds late."""
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    httpd.log = []
    httpd.headers = dict(headers or {})
    httpd.delays = dict(delays or {})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{httpd.server_address[1]}/", httpd.log, folder)
    finally:
        httpd.shutdown()
        httpd.server_close()


class Visit:
    """A fresh browser context on the site: the CDN answered from the npm package (404 for
    what it lacks), `hold` keeps chosen CDN files waiting, anything else not local is
    aborted and recorded in `outside`."""

    def __init__(self, browser, base: str, fail_once: tuple[str, ...] = (),
                 locale: str = "en-US"):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1200, "height": 900},
                                           locale=locale)
        self.outside, self.cdn, self.held, self.errors = [], [], [], []
        self.hold = False
        self._fail_once = set(fail_once)
        self._runtime = {name: (npm_core() / name).read_bytes() for name in RUNTIME_FILES}
        self.context.route("**/*", self._guard)
        self.context.route(PYODIDE_CDN + "**", self._from_cdn)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _guard(self, route) -> None:
        url = route.request.url
        if url.startswith((self.base, "blob:", "data:")):
            return route.continue_()
        self.outside.append(url)
        return route.abort()

    def _from_cdn(self, route) -> None:
        name = route.request.url.removeprefix(PYODIDE_CDN)
        self.cdn.append(name)
        headers = {"Access-Control-Allow-Origin": "*"}
        if name in self._fail_once:
            self._fail_once.discard(name)
            return route.fulfill(status=503, headers=headers, body="busy")
        if name in self._runtime:
            kind = "application/wasm" if name.endswith(".wasm") else "text/javascript"
            return route.fulfill(status=200, headers={**headers, "Content-Type": kind},
                                 body=self._runtime[name])
        if self.hold:
            self.held.append(route)
            return None
        return route.fulfill(status=404, headers=headers, body="not on this machine")

    def release(self) -> None:
        self.hold = False
        for route in self.held:
            route.fulfill(status=404, headers={"Access-Control-Allow-Origin": "*"}, body="")
        self.held.clear()

    def settled(self, timeout: float = 60_000) -> str:
        self.page.wait_for_function(
            "['ready', 'error'].includes(document.body.dataset.state)", timeout=timeout)
        return self.page.evaluate("document.body.dataset.state")

    def done_stages(self) -> list[str]:
        return self.page.evaluate("napkin.log.progress.filter(p => p.done).map(p => p.stage)")

    def close(self) -> None:
        self.release()
        self.context.close()
        assert self.outside == [], self.outside
