"""Let NumPy's temporary arrays reuse freed memory instead of asking for fresh pages.

A training step creates and frees hundreds of arrays of a few megabytes. glibc's malloc
returns each freed block of that size to the operating system and maps new, zeroed pages
for the next one, which costs more than the arithmetic done on it (about a fifth of a
step for the shipped model). Raising malloc's mmap threshold keeps such blocks in the heap
for reuse, as PyTorch's caching allocator does for its tensors. This only exists on glibc
(Linux); elsewhere, the browser included, it does nothing.

It changes malloc for the whole process, so importing the engine never does it: a program
that trains for long calls `reuse_freed_memory()` once as it starts (the `napkin-gpt`
command does, before any subcommand; so do the engine benchmarks, for comparable figures).
"""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def reuse_freed_memory(largest_block: int = 64 << 20, kept: int = 1 << 30) -> bool:
    """Serve blocks up to `largest_block` bytes from the heap, and keep up to `kept` bytes
    of freed heap for reuse rather than handing it back after every step (a training
    step of the 4x model frees over 100 MB at once). True if malloc agreed."""
    if not sys.platform.startswith("linux"):  # not glibc: macOS, Windows, the browser
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, largest_block)
                    and libc.mallopt(M_TRIM_THRESHOLD, kept))
    except (ImportError, OSError, AttributeError):
        return False
