"""static/pyodide_snapshot.js relies on Pyodide's internals: it is pinned to the release the
site ships, every internal it uses is still in that release's files, and it refuses a
bundle that is not whole or not of this build. Runs the module in Node (no browser); the
restore itself is tested in Chromium, tests/browser/test_memory_snapshot.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from app.site.build import PYODIDE_VERSION, STATIC
from tests.support.static_site import npm_core

MODULE = STATIC / "pyodide_snapshot.js"
NODE = shutil.which("node")


def node(script: str):
    """The JSON that `script` prints, run in Node with the module loaded (`S`)."""
    if NODE is None:
        pytest.skip("no node on the PATH (the npm package pyodide is installed with npm)")
    prelude = f"globalThis.self = globalThis; require({json.dumps(str(MODULE))});\n" \
              "const S = self.pyodideSnapshot;\n"
    done = subprocess.run([NODE, "-e", prelude + script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_module_is_pinned_to_the_pyodide_the_site_ships():
    pinned = re.search(r'const PYODIDE_VERSION = "([^"]+)"', MODULE.read_text()).group(1)
    assert pinned == PYODIDE_VERSION, (
        f"static/pyodide_snapshot.js is written for Pyodide {pinned}, the site ships "
        f"{PYODIDE_VERSION}: check each of its INTERNALS in the new release, then its pin")


def test_every_internal_it_uses_is_in_the_release():
    folder = npm_core()
    if not (folder / "pyodide.asm.js").is_file():
        pytest.skip(f"no npm package pyodide at {folder}")
    shipped = json.loads((folder / "package.json").read_text())["version"]
    assert shipped == PYODIDE_VERSION, f"the npm package at {folder} is Pyodide {shipped}"
    internals = node("console.log(JSON.stringify(S.INTERNALS));")
    missing = [f"{file}: {text}" for file, texts in internals.items()
               for text in texts if text not in (folder / file).read_text(encoding="utf-8")]
    assert missing == [], ("Pyodide's internals moved; static/pyodide_snapshot.js needs "
                           "them:\n" + "\n".join(missing))


def test_a_bundle_is_read_back_and_refused_unless_whole_and_of_this_build():
    results = node("""
        const header = { format: 1, pyodide: S.PYODIDE_VERSION, key: "this build",
                         files: [["/lib/a.py", 3]], memory: 32 };
        const memory = new Uint8Array(32).map((_, i) => i);
        const bundle = S.pack(header, [new TextEncoder().encode("x=1"), memory]);
        const tried = {};
        const attempt = (name, bytes, key = "this build") => {
          try {
            const parsed = S.parse(bytes, key);
            tried[name] = { file: new TextDecoder().decode(parsed.files[0].bytes),
                            memory: Array.from(parsed.memory.slice(0, 4)),
                            aligned: parsed.memory.byteOffset % 16 };
          } catch (error) { tried[name] = error.message; }
        };
        attempt("whole", bundle);
        attempt("another key", bundle, "another build");
        attempt("another Pyodide", S.pack({ ...header, pyodide: "0.28.0" },
                                       [new TextEncoder().encode("x=1"), memory]));
        attempt("cut short", bundle.slice(0, bundle.length - 1));
        attempt("not one", new Uint8Array(64));
        console.log(JSON.stringify(tried));
    """)
    assert results["whole"] == {"file": "x=1", "memory": [0, 1, 2, 3], "aligned": 0}
    assert "another build" in results["another key"]
    assert "another build" in results["another Pyodide"]
    assert "cut short" in results["cut short"]
    assert results["not one"] == "not a snapshot bundle"
