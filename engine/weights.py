"""Weights on disk: a folder with `model.npz` (the arrays) and `config.json` (the rest).

config.json holds the format and its version, the GPTConfig, the dtype, the tokenizer, the
sha256 of model.npz and a free-form record of how the weights were trained. Loading checks
all of it and refuses anything off with a `WeightsError` that names the problem; arrays are
read with `allow_pickle=False`, so a weights file can never run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, tokenizer_from_dict

FORMAT = "napkin-gpt-weights"
FORMAT_VERSION = 1
NPZ_NAME = "model.npz"
CONFIG_NAME = "config.json"
BPE_NAME = "bpe.json"  # optional: byte-pair merges learned on the same text (tokens view)
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights_tiny"  # in a checkout
DTYPES = {"float32": np.float32, "float64": np.float64}


class WeightsError(ValueError):
    """A weights folder that cannot be loaded; the message says why."""


@dataclass
class Checkpoint:
    model: GPT
    tokenizer: Tokenizer
    training: dict = field(default_factory=dict)  # how the weights were made


def save_weights(folder: str | Path, model: GPT, tokenizer: Tokenizer,
                 training: dict | None = None) -> Path:
    """Write model.npz and config.json into `folder` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **model.params)
    npz = buffer.getvalue()
    (folder / NPZ_NAME).write_bytes(npz)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": vars(model.config),
        "dtype": model.dtype.name,
        "tokenizer": tokenizer.to_dict(),
        "npz_sha256": hashlib.sha256(npz).hexdigest(),
        "training": training or {},
    }
    (folder / CONFIG_NAME).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return folder


def load_weights(folder: str | Path) -> Checkpoint:
    """Read and check a weights folder written by `save_weights`."""
    folder = Path(folder)
    meta = _read_meta(folder / CONFIG_NAME)
    try:
        npz = (folder / NPZ_NAME).read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read {folder / NPZ_NAME}: {e.strerror or e}") from None
    digest = hashlib.sha256(npz).hexdigest()
    if digest != meta["npz_sha256"]:
        raise WeightsError(f"checksum mismatch: {NPZ_NAME} has sha256 {digest[:12]}…, "
                           f"config.json expects {str(meta['npz_sha256'])[:12]}…; "
                           "the file is damaged or belongs to other weights")
    config = _read_config(meta)
    params = _read_params(npz, config, meta)
    try:
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
    except (ValueError, TypeError, KeyError) as e:
        raise WeightsError(f"bad tokenizer in {CONFIG_NAME}: {e}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise WeightsError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                           f"expects vocab_size {config.vocab_size}")
    return Checkpoint(GPT(config, params=params), tokenizer, meta.get("training") or {})


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path.name} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsError(f"{path.name} is not a napkin-gpt weights file "
                           f"(expected \"format\": \"{FORMAT}\")")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise WeightsError(f"unknown format version {version!r}: this napkin-gpt reads "
                           f"version {FORMAT_VERSION}")
    for key in ("config", "dtype", "tokenizer", "npz_sha256"):
        if key not in meta:
            raise WeightsError(f"{path.name} lacks the field \"{key}\"")
    return meta


def _read_config(meta: dict) -> GPTConfig:
    try:
        return GPTConfig(**meta["config"])
    except (TypeError, ValueError) as e:
        raise WeightsError(f"bad model config in {CONFIG_NAME}: {e}") from None


def _read_params(npz: bytes, config: GPTConfig, meta: dict) -> dict[str, np.ndarray]:
    dtype = DTYPES.get(meta["dtype"])
    if dtype is None:
        raise WeightsError(f"unsupported dtype {meta['dtype']!r}; expected one of "
                           f"{sorted(DTYPES)}")
    try:
        with np.load(io.BytesIO(npz), allow_pickle=False) as arrays:
            loaded = {name: arrays[name] for name in arrays.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{NPZ_NAME} cannot be read as arrays: {e}") from None
    expected = config.param_shapes()
    missing = [n for n in expected if n not in loaded]
    extra = [n for n in loaded if n not in expected]
    if missing:
        raise WeightsError(f"missing tensors in {NPZ_NAME}: {', '.join(missing)}")
    if extra:
        raise WeightsError(f"unexpected tensors in {NPZ_NAME}: {', '.join(extra)}")
    params = {}
    for name, shape in expected.items():
        array = loaded[name]
        if array.shape != shape:
            raise WeightsError(f"tensor {name} has shape {array.shape}, expected {shape} "
                               "for this config")
        if array.dtype != dtype:
            raise WeightsError(f"tensor {name} is {array.dtype}, config.json says "
                               f"{meta['dtype']}")
        if not np.isfinite(array).all():
            raise WeightsError(f"tensor {name} holds {int((~np.isfinite(array)).sum())} "
                               "NaN or infinite values")
        params[name] = array
    return params
