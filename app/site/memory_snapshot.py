"""`napkin-gpt build --snapshot`: the site ships its Python already started, as a memory
snapshot taken at build time with Node (take_snapshot.js), so that a first visit restores it
instead of installing the packages and importing Panel.

A snapshot holds WebAssembly memory, which is only right for the exact runtime and compiled
wheels it was taken with: the self-hosted site's own files. The page's worker finds it under
the same key as the snapshots it keeps in the browser (static/worker.js, `snapshots.key`):
the SHA-256 of the sorted integrity pins, the packages and the modules imported.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

SNAPSHOT_FILE = "napkin-snapshot.gz"
# What the interpreter a snapshot keeps has imported: the worker's entry and the lab (the
# browser's own snapshots import the same, from the page's config).
IMPORTS = ("numpy", "bokeh", "panel", "panel.io.pyodide", "app.lab.page",
           "app.site.worker_bridge")
TAKE = Path(__file__).with_name("take_snapshot.js")


class SnapshotError(Exception):
    """The snapshot could not be taken; the message says why."""


def snapshot_key(integrity: dict[str, str], packages: list[str], imports: list[str]) -> str:
    """The key the page's worker computes from its config (the same JSON, the same hash)."""
    text = json.dumps([sorted(integrity.values()), packages, imports], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def take_snapshot(site: Path, key: str, imports: list[str], timeout: float = 600) -> dict:
    """Write site/SNAPSHOT_FILE from the site's own runtime and wheels; returns its sizes,
    {"bytes": raw, "gzip": written}."""
    node = shutil.which("node")
    if node is None:
        raise SnapshotError("--snapshot needs Node.js (node on the PATH) to run Pyodide at "
                            "build time")
    done = subprocess.run([node, str(TAKE), str(site), str(site / SNAPSHOT_FILE), key,
                           json.dumps(imports)], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise SnapshotError(f"taking the snapshot failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
