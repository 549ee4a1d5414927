"""GGUF files on disk, through the `gguf` package that llama.cpp maintains.

    write_gguf("napkin-q8_0.gguf", model, tokenizer, "q8_0")   # for llama.cpp
    load_gguf("napkin-q8_0.gguf")                              # our Checkpoint back

What goes into the file (names, layouts, types, vocabulary) is engine/gguf_file.py's; this
module only hands it to the package's writer and takes it back from its reader. The package
is imported when a file is written or read, so the lab starts without it.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

from engine import gguf_file
from engine.char_tokenizer import CharTokenizer
from engine.gguf_file import (
    ARCH,
    GGUF_TYPES,
    GGUFError,
    GGUFTensor,
    char_tokenizer_from_gguf,
    gguf_config,
    params_from_gguf,
)
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
    """Our model and tokenizer from a GGUF that `write_gguf` wrote. Q8_0/Q4_0 and F16 tensors
    come back dequantized to float32, so the model computes with what llama.cpp's weights
    hold. A damaged, truncated or foreign file raises GGUFError naming the problem."""
    path = Path(path)
    gguf = import_gguf()
    try:
        reader = gguf.GGUFReader(path)
        fields = {name: f.contents() for name, f in reader.fields.items()}
        stored = list(reader.tensors)
    except OSError as e:
        raise GGUFError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # the reader raises ValueError, IndexError, ... on damaged files
        raise GGUFError(f"{path} is not a readable GGUF file (damaged, truncated or another "
                        f"format): {e}") from None
    try:
        tokens = fields.get("tokenizer.ggml.tokens") or []
        config = gguf_config(fields, len(tokens))  # the architecture is checked first
        tokenizer = char_tokenizer_from_gguf(tokens)
        arrays = {t.name: _values(gguf, t) for t in stored}
        params = params_from_gguf(config, arrays)
    except GGUFError as e:
        raise GGUFError(f"{path}: {e}") from None
    training = {"gguf": str(path), "description": fields.get("general.description", "")}
    return Checkpoint(GPT(config, params=params), tokenizer, training)


def _values(gguf, t) -> np.ndarray:
    """A stored tensor as float32 in the file's layout (matrices (out, in))."""
    kind = t.tensor_type.name.lower()
    if kind not in GGUF_TYPES:
        raise GGUFError(f"tensor {t.name} is {t.tensor_type.name}; napkin-gpt reads "
                        f"{', '.join(x.upper() for x in GGUF_TYPES)}")
    shape = tuple(int(n) for n in reversed(t.shape))  # GGUF lists the fastest axis first
    quantized = kind.startswith("q")
    if quantized:
        whole = t.data.shape == gguf.quants.quant_shape_to_byte_shape(shape, t.tensor_type)
    else:
        whole = t.data.size == math.prod(shape)
    if not whole:
        raise GGUFError(f"tensor {t.name} is cut short (the file is truncated)")
    if quantized:
        return gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    return np.asarray(t.data, dtype=np.float32).reshape(shape)
