"""Assembling the lab's WebAssembly: `wat2wasm` of the npm package wabt, at one pinned version.

.ci/run installs it (`npm install --prefix ~/.cache/napkin-gpt/wabt wabt@1.0.39`);
NAPKIN_WABT names another folder holding its node_modules. To assemble by hand:

    ~/.cache/napkin-gpt/wabt/node_modules/.bin/wat2wasm app/site/matmul.wat -o app/site/matmul.wasm
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

WABT_VERSION = "1.0.39"  # as .ci/run installs it


def wabt_folder() -> Path:
    env = os.environ.get("NAPKIN_WABT")
    return Path(env) if env else Path.home() / ".cache/napkin-gpt/wabt"


def wat2wasm() -> Path | None:
    """The pinned wat2wasm, or None (with no node, or no wabt of that version installed)."""
    package = wabt_folder() / "node_modules" / "wabt"
    tool = wabt_folder() / "node_modules" / ".bin" / "wat2wasm"
    if shutil.which("node") is None or not tool.exists():
        return None
    version = json.loads((package / "package.json").read_text())["version"]
    return tool if version == WABT_VERSION else None


def assemble(wat: Path) -> bytes:
    """The module `wat` describes, as the pinned wat2wasm writes it."""
    tool = wat2wasm()
    if tool is None:
        raise RuntimeError(f"no wat2wasm of wabt {WABT_VERSION} in {wabt_folder()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wasm"
        subprocess.run([str(tool), str(wat), "-o", str(out)], check=True, capture_output=True,
                       text=True, timeout=60)
        return out.read_bytes()
