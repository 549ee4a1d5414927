"""The browser's fast matrix product: matmul.wasm (WebAssembly SIMD) on NumPy's own arrays.

Pyodide's NumPy has no BLAS, and the einsums engine/kernels.py uses there reach about
5 GFLOP/s. matmul.wasm (its source is matmul.wat, beside this file) multiplies float32
matrices four rows by eight columns at a time in 128-bit SIMD registers, several times
faster, and it works on the arrays where they are: Pyodide loads it as a shared library
(ctypes), which gives it Python's own memory, so its arguments are the arrays' addresses.

    matmul = load_matmul()   # None where the browser cannot run it (no WebAssembly SIMD)
    session.matmul = matmul  # the session's models then run their linear layers on it

The engine never imports this: it takes the product as an argument (kernels.linear_by), so
it stays NumPy and the standard library, and runs the same without it.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WASM = Path(__file__).with_name("matmul.wasm")
# An Emscripten side module starts with a "dylink.0" section: this one holds only its memory
# info (subsection 1, 4 bytes), all zero: it needs no memory or function table of its own.
DYLINK = b"\x08dylink.0" + b"\x01\x04\x00\x00\x00\x00"


def side_module(wasm: bytes) -> bytes:
    """`wasm` (a module importing env.memory) as a side module Pyodide's dlopen accepts:
    the same module with a "dylink.0" custom section (id 0) right after the header."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a WebAssembly module (version 1)")
    return wasm[:8] + bytes([0, len(DYLINK)]) + DYLINK + wasm[8:]


def load_matmul(wasm: bytes | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """`matmul(a, b)`: a @ b of two float32 matrices by the WebAssembly kernel `wasm`
    (default: matmul.wasm). None outside Pyodide, or where the browser cannot compile the
    kernel (no WebAssembly SIMD): the engine's einsums then run instead."""
    if sys.platform != "emscripten":
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:  # dlopen reads the file once
            path = Path(tmp) / "napkin_matmul.so"
            path.write_bytes(side_module(WASM.read_bytes() if wasm is None else wasm))
            kernel = ctypes.CDLL(str(path)).matmul
    except (OSError, AttributeError, ValueError) as e:
        log.warning("the WebAssembly SIMD matrix product is not available here (%s): "
                    "the linear layers run on NumPy's einsum", e)
        return None
    kernel.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int32] * 7
    kernel.restype = None

    def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b of two matrices a (M, K) and b (K, N): by the kernel for float32 (of any
        strides), by NumPy for other dtypes (the lab's models are float32)."""
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul takes two matrices that fit, got {a.shape} and "
                             f"{b.shape}")
        if a.dtype != np.float32 or b.dtype != np.float32:
            return np.matmul(a, b)
        (M, K), N = a.shape, b.shape[1]
        if b.strides[1] != 4:  # the kernel reads B's rows as contiguous runs
            b = np.ascontiguousarray(b)
        c = np.empty((M, N), dtype=np.float32)
        kernel(a.ctypes.data, b.ctypes.data, c.ctypes.data, M, N, K, a.strides[0],
               a.strides[1], b.strides[0], c.strides[0])
        return c

    return matmul
