"""GGUF files on disk, through the `gguf` package that llama.cpp maintains.

    write_gguf("napkin-q8_0.gguf", model, tokenizer, "q8_0")   # for llama.cpp
    load_gguf("napkin-q8_0.gguf")                              # our Checkpoint back
    read_gguf(data)                                            # the same from bytes

What goes into the file (names, layouts, types, vocabulary) is engine/gguf_file.py's; this
module only hands it to the package's writer and takes it back from its reader. The package
is imported when a file is written or read, so the lab starts without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

from engine import gguf_file
from engine.ceiling import MAX_FILE_BYTES, describe_bytes
from engine.char_tokenizer import CharTokenizer
from engine.gguf_file import ARCH, GGUFError, GGUFTensor, params_from_gguf
from engine.gguf_header import TensorEntry, check_gguf, read_header
from engine.model import GPT
from engine.weights import Checkpoint

GGUF_PACKAGE = "gguf==0.19.0"  # the version this was written and tested against


def import_gguf():
    """The `gguf` package, or a GGUFError saying how to install it."""
    try:
        import gguf
    except ImportError:
        raise GGUFError(f"writing or reading GGUF needs the gguf package: pip install "
                        f"'{GGUF_PACKAGE}'") from None
    return gguf


# ---- writing ----------------------------------------------------------------------------------

def write_gguf(path: str | Path, model: GPT, tokenizer: CharTokenizer, fmt: str,
               description: str = "", code: ModuleType = gguf_file) -> Path:
    """Write `model` to `path` as a GGUF of type `fmt`. Everything is checked before the
    file is touched, the file is written beside it under a temporary name and renamed at the
    end: on any error no file, whole or half, is left at `path`. `code` is the gguf_file
    module of the engine in use (the lab passes `session.engine.gguf_file`)."""
    path = Path(path)
    tensors = code.gguf_tensors(model, fmt)
    metadata = code.gguf_metadata(model.config, tokenizer, fmt, description)
    gguf = import_gguf()
    if path.is_dir():
        raise GGUFError(f"cannot write {path}: it is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                   dir=path.parent if str(path.parent) else ".")
        os.close(fd)
    except OSError as e:
        raise GGUFError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        _write(gguf, tmp, metadata, tensors)
        os.replace(tmp, path)
    except OSError as e:
        raise GGUFError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def gguf_bytes(model: GPT, tokenizer: CharTokenizer, fmt: str, description: str = "",
               code: ModuleType = gguf_file) -> bytes:
    """The GGUF file `write_gguf` would write, as bytes (written in a temporary folder)."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_gguf(Path(folder) / "model.gguf", model, tokenizer, fmt, description,
                          code)
        return path.read_bytes()


def _write(gguf, path: str, metadata: list[tuple[str, object, str]],
           tensors: list[GGUFTensor]) -> None:
    types = gguf.GGUFValueType
    kinds = {"u32": types.UINT32, "i32": types.INT32, "f32": types.FLOAT32,
             "bool": types.BOOL, "str": types.STRING}
    w = gguf.GGUFWriter(path, ARCH)  # it writes general.architecture itself
    try:
        for key, value, kind in metadata:
            if key == "general.architecture":
                continue
            if kind.endswith("[]"):
                w.add_key_value(key, value, types.ARRAY, sub_type=kinds[kind[:-2]])
            else:
                w.add_key_value(key, value, kinds[kind])
        for t in tensors:
            raw = getattr(gguf.GGMLQuantizationType, t.ggml_type.upper())
            w.add_tensor(t.name, t.data, raw_dtype=raw if t.data.dtype == np.uint8 else None)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()


# ---- reading back -----------------------------------------------------------------------------

def load_gguf(path: str | Path) -> Checkpoint:
    """Our model and tokenizer from a GGUF file on disk (see `read_gguf`); a file longer
    than the lab opens is refused before it is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GGUFError(f"{path} is {size:,} bytes; the lab opens model files up to "
                            f"{describe_bytes(MAX_FILE_BYTES)}")
        data = path.read_bytes()
    except OSError as e:
        raise GGUFError(f"cannot read {path}: {e.strerror or e}") from None
    return read_gguf(data, str(path))


def read_gguf(data: bytes, source: str = "the file") -> Checkpoint:
    """Our model and tokenizer from the bytes of a GGUF that `write_gguf` wrote. The header
    is read and checked first (engine/gguf_header.py: sizes, the shape against the lab's
    ceiling, the vocabulary, every tensor's shape, type and place); only then are the
    tensors read, F16, Q8_0 and Q4_0 dequantized to float32 by the `gguf` package, so the
    model computes with what llama.cpp's weights hold. A damaged, truncated, foreign or
    too large file raises GGUFError naming `source` and the problem."""
    try:
        header = read_header(data)
    except GGUFError as e:
        raise GGUFError(f"{source} is not a readable GGUF file: {e}") from None
    gguf = import_gguf()
    try:
        config, tokenizer, tensors = check_gguf(header, len(data))
        arrays = {name: _values(gguf, data, t) for name, t in tensors.items()}
        params = params_from_gguf(config, arrays)
    except GGUFError as e:
        raise GGUFError(f"{source}: {e}") from None
    training = {"gguf": source, "description": header.fields.get("general.description", "")}
    return Checkpoint(GPT(config, params=params), tokenizer, training)


def _values(gguf, data: bytes, t: TensorEntry) -> np.ndarray:
    """A tensor's bytes, checked by `check_gguf`, as float32 in the file's layout (matrices
    (out, in))."""
    raw = np.frombuffer(data, np.uint8, count=t.nbytes, offset=t.offset)
    if t.ggml_type == "f32":
        return raw.view("<f4").reshape(t.shape).astype(np.float32)
    if t.ggml_type == "f16":
        return raw.view("<f2").reshape(t.shape).astype(np.float32)
    kind = getattr(gguf.GGMLQuantizationType, t.ggml_type.upper())
    rows = raw.reshape(*t.shape[:-1], -1)  # (..., bytes per row): the package's layout
    return gguf.quants.dequantize(rows, kind).astype(np.float32, copy=False)
