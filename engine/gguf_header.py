"""A GGUF file's header, read and checked here before anything of the size it declares is
allocated: every count and length against the bytes the file has, the model's shape against
what the lab can hold (engine/ceiling.py), each tensor against the model's shape.

The layout (ggml's docs/gguf.md; llama.cpp's gguf-py writes it), all little-endian:

    "GGUF" | version u32 (2 or 3) | tensor count u64 | metadata count u64
    metadata   key, value type u32, value          a string is a u64 length, then UTF-8
                                                   an array: item type u32, count u64, items
    tensors    name, n_dims u32, dims u64 x n_dims (fastest axis first), type u32,
               offset u64 (from the start of the data, a multiple of the alignment)
    data       from the first multiple of general.alignment (default 32) after the header

    header = read_header(data)                 # GGUFError if the bytes are not such a file
    config, tokenizer, tensors = check_gguf(header, len(data))
                                               # GGUFError if it is not a model napkin-gpt
                                               # writes and the lab can hold

app/session/gguf_io.py then reads the tensors' bytes with the `gguf` package.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from engine.ceiling import ModelTooLarge, check_fits
from engine.char_tokenizer import CharTokenizer
from engine.gguf_file import (
    ALIGNMENT,
    GGUF_TYPES,
    GGUFError,
    char_tokenizer_from_gguf,
    gguf_config,
    gguf_name,
)
from engine.model import GPTConfig

MAGIC = b"GGUF"
VERSIONS = (2, 3)
# GGUF's value types: number -> (name, struct format); 8 is a string and 9 an array
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
           12: "d"}
STRING, ARRAY = 8, 9
# ggml's tensor types that napkin-gpt reads: number -> (name, values per block, bytes per block)
GGML_TYPES = {0: ("f32", 1, 4), 1: ("f16", 1, 2), 8: ("q8_0", 32, 34), 2: ("q4_0", 32, 18)}
MAX_DIMS = 4  # ggml's GGML_MAX_DIMS


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor table."""

    name: str
    shape: tuple[int, ...]  # slowest axis first, as NumPy has it: (out, in) for a matrix
    kind: int  # ggml's type number (GGML_TYPES names the ones we read)
    offset: int  # where its bytes start, from the start of the file

    @property
    def ggml_type(self) -> str:
        return GGML_TYPES[self.kind][0] if self.kind in GGML_TYPES else f"type {self.kind}"

    @property
    def nbytes(self) -> int:
        """Bytes its values take (a type GGML_TYPES knows, whole blocks per row)."""
        _, per_block, block_bytes = GGML_TYPES[self.kind]
        return math.prod(self.shape) // per_block * block_bytes


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    fields: dict[str, object]  # key -> int, float, bool, str or a list of them
    tensors: list[TensorEntry]
    data_start: int  # where the tensor data begins


# ---- parsing ----------------------------------------------------------------------------------

class _Cursor:
    """Reads `data` front to back; asking for more than is left raises GGUFError."""

    def __init__(self, data: bytes):
        self.data, self.at = memoryview(data), 0

    def left(self) -> int:
        return len(self.data) - self.at

    def take(self, n: int, what: str) -> memoryview:
        if n > self.left():
            raise GGUFError(f"the file ends inside {what} (it needs {n:,} more bytes at byte "
                            f"{self.at:,}, and has {self.left():,}): it is truncated or not "
                            "a GGUF file")
        piece = self.data[self.at:self.at + n]
        self.at += n
        return piece

    def number(self, fmt: str, what: str):
        return struct.unpack(f"<{fmt}", self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.number("Q", what)
        try:
            return str(self.take(n, what), "utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{what} is not UTF-8 text") from None

    def count(self, what: str, least_bytes: int) -> int:
        """A u64 count of items of at least `least_bytes` each, checked against what is left."""
        n = self.number("Q", f"the count of {what}")
        if n * least_bytes > self.left():
            raise GGUFError(f"the file declares {n:,} {what}, which cannot fit in the "
                            f"{self.left():,} bytes left: it is damaged or not a GGUF file")
        return n


def _value(cur: _Cursor, kind: int, key: str, in_array: bool = False):
    if kind in SCALARS:
        return cur.number(SCALARS[kind], f"the value of {key}")
    if kind == STRING:
        return cur.string(f"the value of {key}")
    if kind == ARRAY and not in_array:
        item = cur.number("I", f"the item type of {key}")
        if item in SCALARS:
            fmt = SCALARS[item]
            n = cur.count(f"items in {key}", struct.calcsize(fmt))
            return list(struct.unpack(f"<{n}{fmt}", cur.take(n * struct.calcsize(fmt), key)))
        if item == STRING:
            n = cur.count(f"items in {key}", 8)
            return [cur.string(f"item {i} of {key}") for i in range(n)]
        kind = item
    raise GGUFError(f"the value of {key} has type {kind}, which GGUF does not define (or an "
                    "array of arrays, which napkin-gpt files never hold)")


def read_header(data: bytes) -> GGUFHeader:
    """The metadata and tensor table of a GGUF file given as bytes, every length checked
    against the bytes there are; GGUFError names the first thing that does not fit."""
    if len(data) < 4 or bytes(data[:4]) != MAGIC:
        start = bytes(data[:4])
        raise GGUFError("it is empty" if not data else
                        f"it does not start with GGUF's magic \"GGUF\" (but with {start!r})")
    cur = _Cursor(data)
    cur.take(4, "the magic")
    version = cur.number("I", "the version")
    if version not in VERSIONS:
        raise GGUFError(f"it declares GGUF version {version:,}; napkin-gpt reads versions "
                        f"{' and '.join(map(str, VERSIONS))} (it is damaged or another format "
                        "with the same magic)")
    n_tensors = cur.number("Q", "the tensor count")
    n_fields = cur.count("metadata keys", 8 + 4 + 1)
    fields: dict[str, object] = {}
    for _ in range(n_fields):
        key = cur.string("a metadata key")
        if key in fields:
            raise GGUFError(f"the metadata key {key!r} appears twice")
        fields[key] = _value(cur, cur.number("I", f"the type of {key}"), key)
    if n_tensors * (8 + 4 + 4 + 8) > cur.left():
        raise GGUFError(f"the file declares {n_tensors:,} tensors, whose table cannot fit in "
                        f"the {cur.left():,} bytes left: it is damaged or truncated")
    alignment = fields.get("general.alignment", ALIGNMENT)
    if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise GGUFError(f"its general.alignment {alignment!r} is not a power of two")
    entries = []
    for _ in range(n_tensors):
        name = cur.string("a tensor name")
        n_dims = cur.number("I", f"the dimensions of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFError(f"tensor {name} has {n_dims:,} dimensions; ggml allows 1 to "
                            f"{MAX_DIMS}")
        dims = struct.unpack(f"<{n_dims}Q", cur.take(8 * n_dims, f"the shape of {name}"))
        kind = cur.number("I", f"the type of {name}")
        offset = cur.number("Q", f"the offset of {name}")
        if offset % alignment:
            raise GGUFError(f"tensor {name} starts at {offset:,}, not a multiple of the "
                            f"alignment {alignment}")
        entries.append((name, tuple(reversed(dims)), kind, offset))
    data_start = -(-cur.at // alignment) * alignment
    tensors = [TensorEntry(name, shape, kind, data_start + offset)
               for name, shape, kind, offset in entries]
    return GGUFHeader(version, fields, tensors, data_start)


# ---- what it declares, against what napkin-gpt writes and the lab holds ----------------------

def check_gguf(header: GGUFHeader, length: int
               ) -> tuple[GPTConfig, CharTokenizer, dict[str, TensorEntry]]:
    """The model a header describes, checked: its architecture and tokenizer, its shape
    against the lab's ceiling, its vocabulary, and each tensor's name, shape, type and bytes
    (within the file's `length`). Returns the config, the tokenizer and the tensors by
    llama.cpp's name; GGUFError names the first problem."""
    fields = header.fields
    tokens = fields.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        tokens = []
    config = gguf_config(fields, len(tokens))  # architecture, tokenizer, integers, n_head | C
    try:
        check_fits(config)
    except ModelTooLarge as e:
        raise GGUFError(f"it declares {e}") from None
    tokenizer = char_tokenizer_from_gguf(tokens)
    expected = {gguf_name(name): (tuple(reversed(shape)) if name.endswith(".w") else shape)
                for name, shape in config.param_shapes().items()}
    tensors: dict[str, TensorEntry] = {}
    for t in header.tensors:
        if t.name in tensors:
            raise GGUFError(f"the tensor {t.name} appears twice")
        if t.name not in expected:
            raise GGUFError(f"it holds a tensor napkin-gpt does not know: {t.name}")
        if t.shape != expected[t.name]:
            raise GGUFError(f"its tensor {t.name} has shape {t.shape}, expected "
                            f"{expected[t.name]} for the shape its metadata declares")
        if t.kind not in GGML_TYPES:
            raise GGUFError(f"tensor {t.name} is of ggml type {t.kind}; napkin-gpt reads "
                            f"{', '.join(x.upper() for x in GGUF_TYPES)}")
        _, per_block, _ = GGML_TYPES[t.kind]
        if t.shape[-1] % per_block:
            raise GGUFError(f"tensor {t.name} is {t.ggml_type.upper()}, whose rows must be "
                            f"whole blocks of {per_block}, but its rows have {t.shape[-1]}")
        if t.offset + t.nbytes > length:
            raise GGUFError(f"tensor {t.name} runs past the end of the file (bytes "
                            f"{t.offset:,} to {t.offset + t.nbytes:,} of {length:,}): it is "
                            "truncated")
        tensors[t.name] = t
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise GGUFError(f"it lacks the tensor {missing[0]}"
                        + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    return config, tokenizer, tensors
