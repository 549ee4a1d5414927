"""Model files for the tests of Open model…: the shipped weights in every form the lab writes,
and hostile ones, each with the words its refusal must contain.

GGUFs are written by the `gguf` package (llama.cpp's writer) from metadata and tensors that
engine/gguf_file.py makes and a case then spoils; zips with the standard library.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.gguf_file import GGUF_TYPES, GGUFTensor, gguf_metadata, gguf_tensors
from engine.weights import ZIP_FOLDER, load_weights, weights_files, weights_zip
from tests.support.models import WEIGHTS_TINY

Meta = list[tuple[str, object, str]]


@dataclass(frozen=True)
class Hostile:
    """A file the lab must refuse, and a regular expression its message must match."""

    name: str
    data: bytes
    message: str


def shipped_files() -> dict[str, bytes]:
    """The shipped weights as each GGUF type ("f32" ... "q4_0") and as a weights zip."""
    from app.session.gguf_io import gguf_bytes

    ck = load_weights(WEIGHTS_TINY)
    files = {fmt: gguf_bytes(ck.model, ck.tokenizer, fmt) for fmt in GGUF_TYPES}
    files["zip"] = weights_zip(ck.model, ck.tokenizer)
    return files


def spoiled_gguf(meta: Callable[[Meta], Meta] = lambda m: m,
                 tensors: Callable[[list[GGUFTensor]], list[GGUFTensor]] = lambda t: t,
                 fmt: str = "f32") -> bytes:
    """The shipped weights as a GGUF whose metadata and tensors `meta` and `tensors` have
    changed, written by the gguf package."""
    import gguf

    ck = load_weights(WEIGHTS_TINY)
    metadata = meta(gguf_metadata(ck.model.config, ck.tokenizer, fmt))
    stored = tensors(gguf_tensors(ck.model, fmt))
    types = gguf.GGUFValueType
    kinds = {"u32": types.UINT32, "i32": types.INT32, "f32": types.FLOAT32,
             "bool": types.BOOL, "str": types.STRING}
    arch = {k: v for k, v, _ in metadata}["general.architecture"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spoiled.gguf"
        writer = gguf.GGUFWriter(path, arch)  # it writes general.architecture itself
        for key, value, kind in metadata:
            if key == "general.architecture":
                continue
            if kind.endswith("[]"):
                writer.add_key_value(key, value, types.ARRAY, sub_type=kinds[kind[:-2]])
            else:
                writer.add_key_value(key, value, kinds[kind])
        for t in stored:
            raw = getattr(gguf.GGMLQuantizationType, t.ggml_type.upper())
            writer.add_tensor(t.name, t.data, raw_dtype=raw if t.data.dtype == np.uint8 else None)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def _set(key: str, value) -> Callable[[Meta], Meta]:
    return lambda meta: [(k, value if k == key else v, kind) for k, v, kind in meta]


def _tensor(name: str, change: Callable[[np.ndarray], np.ndarray]):
    return lambda ts: [GGUFTensor(t.name, t.ggml_type, change(t.data.copy()))
                       if t.name == name else t for t in ts]


def _with_nan(a: np.ndarray) -> np.ndarray:
    a[0, 0] = np.nan
    return a


def _with_inf(a: np.ndarray) -> np.ndarray:
    a[-1] = np.inf
    return a


def _duplicate_token(meta: Meta) -> Meta:
    out = []
    for k, v, kind in meta:
        if k == "tokenizer.ggml.tokens":
            v = [v[0], v[0], *v[2:]]  # "Ċ" (newline) twice
        out.append((k, v, kind))
    return out


def zipped(files: dict[str, bytes], deflate: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                         ) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _shipped_weights() -> dict[str, bytes]:
    ck = load_weights(WEIGHTS_TINY)
    return weights_files(ck.model, ck.tokenizer)


def _declaring(key: str, value) -> bytes:
    """A weights zip whose config.json declares config[key] = value."""
    files = _shipped_weights()
    meta = json.loads(files["config.json"])
    meta["config"][key] = value
    files["config.json"] = json.dumps(meta).encode()
    return zipped({f"{ZIP_FOLDER}/{n}": d for n, d in files.items()})


def hostile_files() -> list[Hostile]:
    """Every kind of hostile file the lab must refuse, each with the words of its refusal."""
    f32 = shipped_files()["f32"]
    weights = _shipped_weights()
    return [
        Hostile("empty.gguf", b"", r"empty\.gguf.* is empty"),
        Hostile("truncated.gguf", f32[:len(f32) // 2], r"runs past the end of the file.*"
                                                       r"truncated"),
        Hostile("header-cut.gguf", f32[:3000], r"the file ends inside .*truncated"),
        Hostile("other-format.gguf", b"GGUF" + bytes(range(256)) * 4,
                r"declares GGUF version 50,462,976; napkin-gpt reads versions 2 and 3"),
        Hostile("notes.txt", b"hello world\n" * 20, r"neither a GGUF file nor a zip"),
        Hostile("long-context.gguf", spoiled_gguf(_set("gpt2.context_length", 2**31)),
                r"context 2,147,483,648 .*the page holds models up to 1 GiB: WebAssembly's "
                r"memory is 32-bit"),
        Hostile("million-blocks.gguf", spoiled_gguf(_set("gpt2.block_count", 1_000_000)),
                r"1,000,000 blocks .*the page holds models up to 1 GiB"),
        Hostile("three-heads.gguf", spoiled_gguf(_set("gpt2.attention.head_count", 3)),
                r"n_embd \(64\) must be divisible by n_head \(3\)"),
        Hostile("nan.gguf", spoiled_gguf(tensors=_tensor("blk.1.ffn_up.weight", _with_nan)),
                r"blk\.1\.ffn_up\.weight holds NaN or infinite values"),
        Hostile("inf.gguf", spoiled_gguf(tensors=_tensor("output_norm.bias", _with_inf)),
                r"output_norm\.bias holds NaN or infinite values"),
        Hostile("wrong-shape.gguf",
                spoiled_gguf(tensors=_tensor("blk.0.ffn_up.weight", lambda a: a[:, :32])),
                r"blk\.0\.ffn_up\.weight has shape \(256, 32\), expected \(256, 64\)"),
        Hostile("missing-tensor.gguf",
                spoiled_gguf(tensors=lambda ts: [t for t in ts if t.name != "output_norm.bias"]),
                r"lacks the tensor output_norm\.bias"),
        Hostile("duplicate-characters.gguf", spoiled_gguf(_duplicate_token),
                r"duplicate character '\\n'"),
        Hostile("llama.gguf", spoiled_gguf(_set("general.architecture", "llama")),
                r"architecture 'llama'"),
        Hostile("sentencepiece.gguf", spoiled_gguf(_set("tokenizer.ggml.model", "llama")),
                r"no gpt2 tokenizer"),
        Hostile("escape.zip", zipped({"napkin-gpt-weights/config.json": weights["config.json"],
                                      "../model.npz": weights["model.npz"]}),
                r"'\.\./model\.npz', outside a single folder"),
        Hostile("bomb.zip", zipped({"napkin-gpt-weights/config.json": weights["config.json"],
                                    "napkin-gpt-weights/model.npz": bytes(48 * 2**20)}),
                r"model\.npz declares 50,331,648 bytes.*a decompression bomb"),
        Hostile("config-bomb.zip", zipped({"napkin-gpt-weights/config.json": b" " * 2**23,
                                           "napkin-gpt-weights/model.npz": b""}),
                r"config\.json declares 8,388,608 bytes.*a decompression bomb"),
        Hostile("long-context.zip", _declaring("block_size", 2**31),
                r"config\.json declares a model .*context 2,147,483,648"),
        Hostile("npy-header.zip", _npy_claiming((10**9, 64)),
                r"tensor wte has shape \(1000000000, 64\), expected \(77, 64\)"),
    ]


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A weights zip whose model.npz's wte.npy header declares `shape` over a few bytes,
    with config.json's checksum in step (so that the header check is what refuses it)."""
    import hashlib

    files = _shipped_weights()
    header = repr({"descr": "<f4", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64)
    with np.load(io.BytesIO(files["model.npz"])) as arrays:
        members = {f"{n}.npy": _npy(arrays[n]) for n in arrays.files}
    members["wte.npy"] = npy
    files["model.npz"] = zipped(members, deflate=False)
    meta = json.loads(files["config.json"])
    meta["npz_sha256"] = hashlib.sha256(files["model.npz"]).hexdigest()
    files["config.json"] = json.dumps(meta).encode()
    return zipped({f"{ZIP_FOLDER}/{n}": d for n, d in files.items()})


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ---- what the page should show, computed here from the files' weights ------------------------

def next_token(model, tokenizer, prompt: str, temperature: float = 0.8) -> tuple[str, float]:
    """The likeliest next token after `prompt` and its probability after sampling's
    temperature, as the Next token view's summary gives them."""
    from engine.sampling import SamplingSettings, next_token_probs

    ids = tokenizer.encode(prompt)[-model.config.block_size:]
    probs = next_token_probs(model.forward(np.array(ids))[0][-1], SamplingSettings(temperature))
    top = int(np.argmax(probs))
    return tokenizer.piece(top), float(probs[top])


def kl_and_agreement(this, other, tokenizer, prompt: str) -> tuple[float, int, int]:
    """KL(this ‖ other) at the next token, and at how many of the prompt's positions both
    pick the same likeliest token, of how many: from the two models' logits, in float64."""
    ids = np.array(tokenizer.encode(prompt)[-this.config.block_size:])

    def probs(model):
        z = model.forward(ids)[0].astype(np.float64)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    p, q = probs(this), probs(other)
    kl = float(np.sum(np.where(p[-1] > 0, p[-1] * (np.log(p[-1]) - np.log(q[-1])), 0.0)))
    return kl, int(np.sum(p.argmax(-1) == q.argmax(-1))), len(ids)
