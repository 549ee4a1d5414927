"""Bytecode for the browser: the wheels' modules compiled ahead of time for Pyodide's Python.

Pyodide compiles every module it imports from source, in WebAssembly, each time a page
starts; for Bokeh and Panel that is about a third of their import time. A wheel can carry
its modules compiled (`pkg/__pycache__/mod.cpython-313.pyc` beside `pkg/mod.py`), checked
against nothing but their source's hash (PEP 552's "unchecked-hash": a wheel's files never
change once installed), and Python then loads those instead. The sources stay in the wheel:
tracebacks show their lines, and the code editor reads the engine's.

Compiling needs a CPython of Pyodide's own minor version (bytecode changes between minor
versions, not within one). The build finds one ($NAPKIN_PYTHON313, `python3.13` on PATH, a
pyenv 3.13) or, without one, ships sources only and says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: engine/ and app/
PYODIDE_PYTHON = (3, 13)  # Pyodide 0.29.3 runs CPython 3.13.2
SITE_PACKAGES = "/lib/python3.13/site-packages"  # where Pyodide installs wheels
# Modules only the browser imports (they need Pyodide's `js`), so the build never does.
BROWSER_ONLY = ("panel/io/pyodide.py", "pyodide_http/")


def find_python() -> str | None:
    """A CPython 3.13 interpreter on this machine, or None."""
    tag = "{}.{}".format(*PYODIDE_PYTHON)
    candidates = [os.environ.get("NAPKIN_PYTHON313"), shutil.which(f"python{tag}"),
                  f"/usr/bin/python{tag}",
                  *sorted(map(str, (Path.home() / ".pyenv/versions").glob(
                      f"{tag}*/bin/python{tag}")), reverse=True)]
    for exe in filter(None, candidates):
        try:
            done = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.split() == [str(n) for n in PYODIDE_PYTHON]:
            return exe
    return None


def imported_sources() -> set[str]:
    """The modules this process has imported, as the paths a wheel holds them at
    ("bokeh/models/glyphs.py"): after the build has rendered every view, those the lab
    needs. Only these are compiled: bytecode is bigger than source, and most of Bokeh's
    and Panel's modules are never imported by the lab."""
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None) or ""
        if file.endswith(".py"):
            path = Path(file).as_posix()
            for root in (*site.getsitepackages(), str(ROOT)):
                if path.startswith(root.rstrip("/") + "/"):
                    found.add(path[len(root.rstrip("/")) + 1:])
    return found


def compiled_members(wheel: Path, python: str, cache: Path,
                     only: set[str]) -> dict[str, bytes]:
    """`.pyc` member name -> bytes for the modules of `wheel` named in `only`, compiled by
    `python` as Pyodide loads them; kept in `cache` under the wheel's and the list's hash."""
    with zipfile.ZipFile(wheel) as z:
        sources = sorted(n for n in z.namelist() if n in only or (
            n.endswith(".py") and n.startswith(BROWSER_ONLY)))
    key = hashlib.sha256(wheel.read_bytes() + "\n".join(sources).encode()).hexdigest()
    cached = cache / f"{key}.zip"
    if not cached.is_file():
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as z:
            for name in sources:
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / name).write_bytes(z.read(name))
            subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "-d", SITE_PACKAGES,
                            "--invalidation-mode", "unchecked-hash", tmp],
                           check=True, capture_output=True)
            cache.mkdir(parents=True, exist_ok=True)
            # a name of this process's own: builds running at once may compile the same
            # wheel, and each then renames its complete file over the other's
            partial = cached.with_name(f"{cached.stem}.{os.getpid()}.part")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as out:
                for path in sorted(Path(tmp).rglob("__pycache__/*.pyc")):
                    out.write(path, path.relative_to(tmp).as_posix())
            partial.replace(cached)
    with zipfile.ZipFile(cached) as z:
        return {name: z.read(name) for name in z.namelist()}
