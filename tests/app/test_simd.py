"""The browser's WebAssembly matrix product, natively: its bytes are what the pinned wat2wasm
makes of its source, and it loads as the side module Pyodide expects. (It runs, against
PyTorch, in Chromium: tests/browser/test_pyodide_simd.py.)"""

from __future__ import annotations

import pytest

from app.site import simd
from tests.support.wasm import WABT_VERSION, assemble, wabt_folder, wat2wasm


def test_the_committed_kernel_is_its_source_assembled():
    if wat2wasm() is None:
        pytest.skip(f"no wat2wasm of wabt {WABT_VERSION} in {wabt_folder()} (.ci/run installs "
                    f"it: npm install --prefix {wabt_folder()} wabt@{WABT_VERSION})")
    assert assemble(simd.WASM.with_suffix(".wat")) == simd.WASM.read_bytes(), (
        "app/site/matmul.wasm is not what matmul.wat assembles to: run "
        f"{wabt_folder()}/node_modules/.bin/wat2wasm app/site/matmul.wat -o app/site/matmul.wasm")


def read_leb(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 number at `at`, and where the next field starts."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def test_the_side_module_starts_with_a_dylink_section_and_keeps_the_kernel_whole():
    wasm = simd.WASM.read_bytes()
    side = simd.side_module(wasm)
    assert side[:8] == wasm[:8] == b"\0asm\x01\0\0\0"
    assert side[8] == 0  # a custom section, first (Emscripten's loader reads it there)
    size, at = read_leb(side, 9)
    name_length, at = read_leb(side, at)
    assert side[at:at + name_length] == b"dylink.0"
    mem_info = side[at + name_length:at + size - 1]
    assert mem_info == bytes([1, 4, 0, 0, 0, 0])  # needs no memory, no table of its own
    assert side[9 + 1 + size:] == wasm[8:]  # then the module, byte for byte
    with pytest.raises(ValueError, match="not a WebAssembly module"):
        simd.side_module(b"\0asm\x02\0\0\0")


def test_outside_pyodide_there_is_no_kernel_and_the_einsums_run():
    assert simd.load_matmul() is None
