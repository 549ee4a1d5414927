"""The lab for real with Pyodide stood in for: the page's Worker is replaced by one that
hands each message to a CPython process speaking worker.js's protocol and running the site's
own wheels (extracted, alone on sys.path, with Pyodide's `js` and `pyodide` modules stubbed).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

from tests.support.static_site import Visit

COMPILED = ("numpy", "PyYAML", "MarkupSafe", "nh3")  # installed here, stand-ins for Pyodide's

STUBS = r'''
"""Just enough of Pyodide's `js`, `pyodide` and `_pyodide` for panel.io.pyodide."""
import json, sys, types

sys.modules["_pyodide"] = types.ModuleType("_pyodide")  # makes Panel believe it is in Pyodide
js = types.ModuleType("js")  # no `document`: Panel takes its worker code paths
js.JSON = types.SimpleNamespace(parse=json.loads, stringify=json.dumps)
js.XMLHttpRequest = object
js.Map = types.SimpleNamespace(new=lambda entries: dict(entries))
js.Object = types.SimpleNamespace(entries=lambda d: list(d.items()))
js.setTimeout = lambda fn, ms: fn()
sys.modules["js"] = js


class JsBuffer:
    def __init__(self, data):
        self.buffer = bytes(data)


class JsObject(dict):
    def to_py(self, default_converter=None):
        return json.loads(json.dumps(self))


def to_js(obj, dict_converter=None, **kw):
    return JsBuffer(obj) if isinstance(obj, (bytes, bytearray, memoryview)) else obj


pyodide = types.ModuleType("pyodide")
pyodide.__path__ = []
pyodide.__version__ = "stand-in"
for part, attrs in {"code": {"run_js": lambda src: (lambda entries: dict(entries))},
                    "ffi": {"to_js": to_js, "create_proxy": lambda f: f, "jsnull": object()},
                    "http": {}}.items():
    module = types.ModuleType(f"pyodide.{part}")
    module.__dict__.update(attrs)
    setattr(pyodide, part, module)
    sys.modules[f"pyodide.{part}"] = module
sys.modules["pyodide"] = pyodide
'''

STANDIN = r'''
"""worker.js's protocol in CPython, on the site's wheels: reads a JSON message a line,
answers with a JSON list of messages."""
import asyncio, base64, json, shutil, sys, traceback
from pathlib import Path
from urllib.parse import urlsplit

import stubs

protocol, sys.stdout = sys.stdout, sys.stderr  # prints from libraries must not mix in
SITE, HOME = Path(sys.argv[1]), Path(sys.argv[2])


class StandIn:
    def __init__(self):
        self.bridge, self.outbox = None, []

    def send_patch(self, patch, buffers, msg_id=None):
        self.outbox.append({"type": "patch", "patch": json.loads(json.dumps(patch)),
                            "buffers": {k: base64.b64encode(bytes(getattr(v, "buffer", v))).decode()
                                        for k, v in (buffers or {}).items()}})

    async def on(self, message):
        kind = message["type"]
        try:
            if kind == "boot":
                await self.boot(message["config"])
            elif kind in ("rendered", "location", "patch"):
                payload = message.get("payload")
                self.bridge.handle(kind, stubs.JsObject(payload) if kind == "patch" else payload)
            elif kind == "exec":  # the test's side door
                scope = {"bridge": self.bridge}
                exec(message["code"], scope)
                self.outbox.append({"type": "result", "id": "exec", "value": scope.get("result")})
            elif kind == "run":
                self.outbox.append({"type": "error", "id": message["id"],
                                    "message": "no Python code runs in the stand-in"})
        except Exception:
            self.outbox.append({"type": "error", "fatal": kind == "boot", "id": message.get("id"),
                                "message": traceback.format_exc()})
        if kind not in ("boot", "poll", "exec"):
            self.outbox.append({"type": "idle"})
        await asyncio.sleep(0)  # tasks that callbacks scheduled
        out, self.outbox = self.outbox, []
        return out

    async def boot(self, config):
        from app.site.worker_bridge import WorkerBridge

        paths = {}
        for url, path in config["files"].items():
            local = HOME / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SITE / urlsplit(url).path.lstrip("/"), local)
            paths[path] = str(local)
        session = dict(config["session"])
        session["weights"] = str(HOME / session["weights"].lstrip("/"))
        session["corpus"] = paths[session["corpus"]]
        for stage in config["stages"]:
            if stage != "render":
                self.outbox.append({"type": "progress", "stage": stage, "loaded": 0, "total": 0,
                                    "done": True, "ms": 0})
        self.bridge = WorkerBridge(self.send_patch)
        page = await self.bridge.render(**session)
        self.outbox += [{"type": "render", **page},
                        {"type": "progress", "stage": "render", "loaded": 0, "total": 0,
                         "done": True, "ms": 0},
                        {"type": "ready", "timings": {}}]


async def main():
    worker, loop = StandIn(), asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        protocol.write(json.dumps(await worker.on(json.loads(line))) + "\n")
        protocol.flush()


asyncio.run(main())
'''

FAKE_WORKER = r"""
window.Worker = class StandInWorker {
  constructor() {
    this.onmessage = null; this.onerror = null; this.closed = false;
    this.poll = setInterval(() => this.relay({ type: "poll" }), 150);
  }
  postMessage(message) { if (!this.closed && message.type !== "drawn") this.relay(message); }
  relay(message) {
    window.__standin(JSON.stringify(message)).then((text) => {
      for (const reply of JSON.parse(text)) {
        if (reply.buffers) {
          reply.buffers = new Map(Object.entries(reply.buffers).map(([id, b64]) =>
            [id, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer]));
        }
        setTimeout(() => { if (!this.closed) this.onmessage?.({ data: reply }); }, 0);
      }
    });
  }
  terminate() { this.closed = true; clearInterval(this.poll); }
};
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


class StandInWorker:
    """The CPython process behind the page's stand-in Worker."""

    def __init__(self, site: Path, tmp: Path):
        packages, compiled = tmp / "site-packages", tmp / "compiled"
        for wheel in (site / "packages").glob("*.whl"):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(packages)
        compiled.mkdir()
        for dist in COMPILED:  # Pyodide's builds of these are on its CDN only
            files = importlib.metadata.distribution(dist).files
            origin = Path(importlib.metadata.distribution(dist).locate_file(""))
            for top in {str(f).split("/")[0] for f in files if not str(f).startswith("..")}:
                if not (compiled / top).exists() and (origin / top).exists():
                    (compiled / top).symlink_to(origin / top)
        (tmp / "stubs.py").write_text(STUBS)
        (tmp / "standin.py").write_text(STANDIN)
        env = {**os.environ, "PYTHONPATH": f"{packages}{os.pathsep}{compiled}",
               "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-S", str(tmp / "standin.py"), str(site), str(tmp / "home")],
            cwd=tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.received: list[str] = []
        self.undelivered: list[dict] = []  # sent by Python during `python`, for the page

    def __call__(self, text: str) -> str:
        """A message from the page; the reply carries what Python sent meanwhile too."""
        replies = self._exchange(text)
        waiting, self.undelivered = self.undelivered, []
        return json.dumps(waiting + replies)

    def _exchange(self, text: str) -> list[dict]:
        message = json.loads(text)
        if message["type"] != "poll":
            self.received.append(message["type"])
        with self.lock:
            self.process.stdin.write(text + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the stand-in worker died (see stderr)")
        return json.loads(line)

    def python(self, code: str):
        """Run `code` in the stand-in (with `bridge` in scope); returns its `result`. What
        the code made Python send to the page (patches) reaches the page with its next poll."""
        replies = self._exchange(json.dumps({"type": "exec", "code": code}))
        errors = [r["message"] for r in replies if r["type"] == "error"]
        assert not errors, errors
        self.undelivered += [r for r in replies if r["type"] != "result"]
        return next(r["value"] for r in replies if r["type"] == "result")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=20)


def open_with_standin(v: Visit, standin: StandInWorker, url: str) -> None:
    v.page.expose_function("__standin", standin)
    v.page.add_init_script(FAKE_WORKER)
    v.page.goto(url)
    assert v.settled(90_000) == "ready", v.page.inner_text("#error-text")
