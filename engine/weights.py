"""Weights on disk: a folder with `model.npz` (the arrays) and `config.json` (the rest), or
the same two files zipped in a folder, as the lab's "Download weights" gives them.

config.json holds the format and its version, the GPTConfig, the dtype, the tokenizer, the
sha256 of model.npz and a free-form record of how the weights were trained. Loading checks
all of it and refuses anything off with a `WeightsError` that names the problem; arrays are
read with `allow_pickle=False`, so a weights file can never run code. Sizes are checked
before anything is read or allocated: each file's length, the shape config.json declares
against what the lab can hold (engine/ceiling.py), each array's header against that shape,
and in a zip every path (none may leave its folder) and every declared size (a few hundred
bytes may not unpack to gigabytes).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from engine.ceiling import MAX_FILE_BYTES, ModelTooLarge, check_fits, describe_bytes
from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, tokenizer_from_dict

FORMAT = "napkin-gpt-weights"
FORMAT_VERSION = 1
NPZ_NAME = "model.npz"
CONFIG_NAME = "config.json"
BPE_NAME = "bpe.json"  # optional: byte-pair merges learned on the same text (tokens view)
ZIP_FOLDER = "napkin-gpt-weights"  # the folder a weights zip holds its files in
MAX_JSON_BYTES = 4 * 2**20  # config.json: a vocabulary of 100,000 characters takes 0.6 MB
MAX_ZIP_FILES = 16
NPY_HEADER_BYTES = 4096  # room for one array's .npy header and its zip entry
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights_tiny"  # in a checkout
DTYPES = {"float32": np.float32, "float64": np.float64}


class WeightsError(ValueError):
    """A weights folder that cannot be loaded; the message says why."""


@dataclass
class Checkpoint:
    model: GPT
    tokenizer: Tokenizer
    training: dict = field(default_factory=dict)  # how the weights were made


def weights_files(model: GPT, tokenizer: Tokenizer, training: dict | None = None
                  ) -> dict[str, bytes]:
    """model.npz and config.json, as bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **model.params)
    npz = buffer.getvalue()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": vars(model.config),
        "dtype": model.dtype.name,
        "tokenizer": tokenizer.to_dict(),
        "npz_sha256": hashlib.sha256(npz).hexdigest(),
        "training": training or {},
    }
    return {NPZ_NAME: npz, CONFIG_NAME: (json.dumps(meta, indent=1) + "\n").encode("utf-8")}


def save_weights(folder: str | Path, model: GPT, tokenizer: Tokenizer,
                 training: dict | None = None) -> Path:
    """Write model.npz and config.json into `folder` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in weights_files(model, tokenizer, training).items():
        (folder / name).write_bytes(data)
    return folder


def weights_zip(model: GPT, tokenizer: Tokenizer, training: dict | None = None) -> bytes:
    """The weights folder as a zip: ZIP_FOLDER/model.npz and ZIP_FOLDER/config.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in weights_files(model, tokenizer, training).items():
            archive.writestr(f"{ZIP_FOLDER}/{name}", data)
    return buffer.getvalue()


def load_weights(folder: str | Path) -> Checkpoint:
    """Read and check a weights folder written by `save_weights`."""
    folder = Path(folder)
    text = _read_file(folder / CONFIG_NAME, MAX_JSON_BYTES)
    meta = _read_meta(text, folder / CONFIG_NAME)
    config = _read_config(meta)
    npz = _read_file(folder / NPZ_NAME, MAX_FILE_BYTES)
    return _checkpoint(meta, config, npz)


def read_weights_zip(data: bytes, source: str = "the zip") -> Checkpoint:
    """Read and check a weights folder zipped as `weights_zip` writes it (the files may
    also sit at the zip's top level). Every path and declared size is checked before a
    file is unpacked: a path that leaves the folder, a link, or a file that declares more
    than its place allows (a decompression bomb) is refused, naming `source`."""
    try:
        return _read_zip(data)
    except WeightsError as e:
        raise WeightsError(f"{source}: {e}") from None


def _read_zip(data: bytes) -> Checkpoint:
    if len(data) > MAX_FILE_BYTES:
        raise WeightsError(f"it is {len(data):,} bytes; the lab opens files up to "
                           f"{describe_bytes(MAX_FILE_BYTES)}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise WeightsError(f"it is not a readable zip file: {e}") from None
    if len(infos) > MAX_ZIP_FILES:
        raise WeightsError(f"it holds {len(infos):,} files; a weights zip holds "
                           f"{NPZ_NAME} and {CONFIG_NAME} (and {BPE_NAME}) in one folder")
    files = _zip_members(infos)
    for name in (CONFIG_NAME, NPZ_NAME):
        if name not in files:
            raise WeightsError(f"it has no {name}: a weights zip holds {NPZ_NAME} and "
                               f"{CONFIG_NAME} in one folder")
    text = _unzip(archive, files[CONFIG_NAME], MAX_JSON_BYTES)
    meta = _read_meta(text, Path(files[CONFIG_NAME].filename))
    config = _read_config(meta)
    npz = _unzip(archive, files[NPZ_NAME], _npz_bytes(config, meta))
    return _checkpoint(meta, config, npz)


def _zip_members(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The zip's files by name within their one folder, every path checked."""
    files: dict[str, zipfile.ZipInfo] = {}
    folders = set()
    for info in infos:
        name = info.filename
        path = PurePosixPath(name)
        if (name.startswith(("/", "\\")) or "\\" in name or ":" in name
                or ".." in path.parts or len(path.parts) > 2):
            raise WeightsError(f"it holds the path {name!r}, outside a single folder: "
                               "refused, as unpacking it could write elsewhere")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise WeightsError(f"it holds a link, {name!r}: refused")
        if info.is_dir():
            continue
        folders.add(path.parts[0] if len(path.parts) == 2 else "")
        if path.name in files:
            raise WeightsError(f"it holds {path.name} twice")
        files[path.name] = info
    if len(folders) > 1:
        raise WeightsError(f"its files are in {len(folders)} folders; a weights zip has one")
    return files


def _unzip(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """One file of the zip, refused if it declares, or unpacks to, more than `limit`."""
    if info.file_size > limit:
        raise WeightsError(f"its {info.filename} declares {info.file_size:,} bytes, more than "
                           f"the {limit:,} it can hold here (from {info.compress_size:,} "
                           "packed: a decompression bomb, or not a weights zip)")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise WeightsError(f"its {info.filename} cannot be unpacked: {e}") from None
    if len(data) > limit:
        raise WeightsError(f"its {info.filename} unpacks to more than {limit:,} bytes")
    return data


def _npz_bytes(config: GPTConfig, meta: dict) -> int:
    """The most a model.npz of `config` can take: its arrays, and a header for each."""
    shapes = config.param_shapes()
    itemsize = np.dtype(DTYPES[meta["dtype"]]).itemsize
    return (itemsize * sum(math.prod(s) for s in shapes.values())
            + NPY_HEADER_BYTES * (len(shapes) + 1))


def _read_file(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise WeightsError(f"{path} is {size:,} bytes; the lab reads it up to "
                               f"{describe_bytes(limit)}")
        return path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None


def _checkpoint(meta: dict, config: GPTConfig, npz: bytes) -> Checkpoint:
    """The model of a checked config.json (`meta`, `config`) and the bytes of model.npz."""
    digest = hashlib.sha256(npz).hexdigest()
    if digest != meta["npz_sha256"]:
        raise WeightsError(f"checksum mismatch: {NPZ_NAME} has sha256 {digest[:12]}…, "
                           f"config.json expects {str(meta['npz_sha256'])[:12]}…; "
                           "the file is damaged or belongs to other weights")
    params = _read_params(npz, config, meta)
    try:
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
    except (ValueError, TypeError, KeyError) as e:
        raise WeightsError(f"bad tokenizer in {CONFIG_NAME}: {e}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise WeightsError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                           f"expects vocab_size {config.vocab_size}")
    return Checkpoint(GPT(config, params=params), tokenizer, meta.get("training") or {})


def _read_meta(data: bytes, path: Path) -> dict:
    try:
        meta = json.loads(data.decode("utf-8"))
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
    if not isinstance(meta["dtype"], str) or meta["dtype"] not in DTYPES:
        raise WeightsError(f"unsupported dtype {meta['dtype']!r}; expected one of "
                           f"{sorted(DTYPES)}")
    return meta


def _read_config(meta: dict) -> GPTConfig:
    """The GPTConfig of config.json, checked against what the lab can hold."""
    try:
        config = GPTConfig(**meta["config"])
        check_fits(config)
    except ModelTooLarge as e:
        raise WeightsError(f"{CONFIG_NAME} declares {e}") from None
    except (TypeError, ValueError) as e:
        raise WeightsError(f"bad model config in {CONFIG_NAME}: {e}") from None
    return config


def _read_params(npz: bytes, config: GPTConfig, meta: dict) -> dict[str, np.ndarray]:
    dtype = DTYPES[meta["dtype"]]
    expected = config.param_shapes()
    try:
        with zipfile.ZipFile(io.BytesIO(npz)) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            missing = [n for n in expected if n not in members]
            extra = [n for n in members if n not in expected]
            if missing:
                raise WeightsError(f"missing tensors in {NPZ_NAME}: {', '.join(missing)}")
            if extra:
                raise WeightsError(f"unexpected tensors in {NPZ_NAME}: {', '.join(extra)}")
            for name, shape in expected.items():  # each header before any array is read
                _check_npy_header(archive, members[name], name, shape, np.dtype(dtype), meta)
        with np.load(io.BytesIO(npz), allow_pickle=False) as arrays:
            loaded = {name: arrays[name] for name in arrays.files}
    except WeightsError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{NPZ_NAME} cannot be read as arrays: {e}") from None
    params = {}
    for name in expected:
        array = loaded[name]
        if not np.isfinite(array).all():
            raise WeightsError(f"tensor {name} holds {int((~np.isfinite(array)).sum())} "
                               "NaN or infinite values")
        params[name] = array
    return params


def _check_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                      shape: tuple[int, ...], dtype: np.dtype, meta: dict) -> None:
    """One array's .npy header against the shape and dtype config.json gives it, and its
    declared size against theirs, before it is read."""
    room = math.prod(shape) * dtype.itemsize + NPY_HEADER_BYTES
    if info.file_size > room:
        raise WeightsError(f"{NPZ_NAME}'s {name} declares {info.file_size:,} bytes, more than "
                           f"its shape {shape} needs")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise WeightsError(f"{NPZ_NAME}'s {name} is in .npy format {version}, which "
                               "napkin-gpt does not write")
        found, _, found_dtype = read(member)
    if found != shape:
        raise WeightsError(f"tensor {name} has shape {found}, expected {shape} for this "
                           "config")
    if found_dtype != dtype:
        raise WeightsError(f"tensor {name} is {found_dtype}, config.json says {meta['dtype']}")
