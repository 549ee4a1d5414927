"""What goes into a GGUF file of our GPT, the format llama.cpp runs, and how it comes back.

A GGUF file is a header of key-value metadata, a table of tensors (name, shape, type,
offset) and the tensors' bytes. We hold what llama.cpp's own GPT-2 converter writes; this
module says what that is, in NumPy alone, and app/session/gguf_io.py writes and reads the
file itself with the `gguf` package (maintained with llama.cpp):

    metadata   general.architecture = "gpt2", gpt2.context_length = block_size,
               gpt2.embedding_length, gpt2.feed_forward_length (4·n_embd), gpt2.block_count,
               gpt2.attention.head_count, gpt2.attention.layer_norm_epsilon (1e-5)
    tokenizer  tokenizer.ggml.model = "gpt2": one token per character of our vocabulary, in
               our id order, written through GPT-2's byte-to-unicode map (" " is "Ġ", "\\n"
               is "Ċ"), plus the merges that put a multi-byte character back together
    tensors    ours                    GGUF                        type for --type q4_0
               wte (V, C)              token_embd.weight           Q8_0 (also the LM head)
               wpe (T, C)              position_embd.weight        F32
               h.0.ln_1.g / .b         blk.0.attn_norm.weight/bias F32
               h.0.attn.c_attn.w (C,3C) blk.0.attn_qkv.weight (3C,C)  Q4_0, transposed
               h.0.attn.c_proj.w       blk.0.attn_output.weight    Q4_0, transposed
               h.0.ln_2.g / .b         blk.0.ffn_norm.weight/bias  F32
               h.0.mlp.c_fc.w (C,4C)   blk.0.ffn_up.weight (4C,C)  Q4_0, transposed
               h.0.mlp.c_proj.w        blk.0.ffn_down.weight       Q4_0, transposed
               ln_f.g / .b             output_norm.weight/bias     F32

As llama.cpp's converter and `llama-quantize` do, `--type` applies to the matrices; biases,
LayerNorm and the position embedding stay F32, and the token embedding, which is also the
LM head, is kept at Q8_0 in both Q types (see `stored_type`). There is no `output.weight`:
llama.cpp then ties the head to `token_embd`, as our model is tied. Q8_0 and Q4_0 blocks
come from our own quantizers (engine/quant.py), byte for byte those of ggml and of the
`gguf` package.

llama.cpp's default BOS/EOS id (11) is an ordinary character here, so BOS, EOS and UNK are
set to "�" (our token for unknown characters, in every char vocabulary) and adding BOS/EOS
is switched off. llama.cpp learns the context from the file but its buffers are larger:
evaluating past `block_size` tokens aborts the process, so keep prompt + output within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from engine.char_tokenizer import UNKNOWN, CharTokenizer
from engine.model import GPT, GPTConfig
from engine.quant import BLOCK, ggml_layout, quantize

GGUF_TYPES = ("f32", "f16", "q8_0", "q4_0")
ARCH = "gpt2"
NAME = "napkin-gpt"
LAYER_NORM_EPS = 1e-5
FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}  # llama.cpp's llama_ftype
QUANT_VERSION = 2  # ggml's GGML_QNT_VERSION, for files with Q8_0/Q4_0 blocks
F16_MAX = 65504.0
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3  # llama.cpp's token types
# our parameter names -> llama.cpp's, in a block and outside
BLOCK_TENSORS = {
    "ln_1.g": "attn_norm.weight", "ln_1.b": "attn_norm.bias",
    "attn.c_attn.w": "attn_qkv.weight", "attn.c_attn.b": "attn_qkv.bias",
    "attn.c_proj.w": "attn_output.weight", "attn.c_proj.b": "attn_output.bias",
    "ln_2.g": "ffn_norm.weight", "ln_2.b": "ffn_norm.bias",
    "mlp.c_fc.w": "ffn_up.weight", "mlp.c_fc.b": "ffn_up.bias",
    "mlp.c_proj.w": "ffn_down.weight", "mlp.c_proj.b": "ffn_down.bias",
}
TOP_TENSORS = {"wte": "token_embd.weight", "wpe": "position_embd.weight",
               "ln_f.g": "output_norm.weight", "ln_f.b": "output_norm.bias"}


class GGUFError(ValueError):
    """A model that cannot be written as GGUF, or a file that cannot be read back."""


def gguf_name(name: str) -> str:
    """llama.cpp's name for one of our parameters: "h.2.mlp.c_fc.w" -> "blk.2.ffn_up.weight"."""
    if name in TOP_TENSORS:
        return TOP_TENSORS[name]
    _, layer, rest = name.split(".", 2)
    return f"blk.{layer}.{BLOCK_TENSORS[rest]}"


def stored_type(name: str, fmt: str) -> str:
    """What a parameter is stored as for `--type fmt`, following llama.cpp's converter and
    `llama-quantize`: the block matrices in `fmt`; biases, LayerNorm and wpe in f32; wte, which
    is also the (tied) LM head, in `fmt` for f32/f16 and in q8_0 for both Q types, as
    llama-quantize keeps a tied head (its Q6_K needs rows of 256 and falls back to Q8_0)."""
    if name == "wte":
        return "q8_0" if fmt in ("q8_0", "q4_0") else fmt
    return fmt if name.endswith(".w") else "f32"


# ---- the tokenizer ---------------------------------------------------------------------------

@cache
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters: bytes that are printable
    stay themselves ("A" -> "A"), the others move above 255 in order (" " -> "Ġ", "\\n" -> "Ċ")."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable},
            **{b: chr(256 + i) for i, b in enumerate(moved)}}


def gguf_vocab(tokenizer: CharTokenizer) -> tuple[list[str], list[str], int]:
    """(tokens, merges, special id): each character as GPT-2 writes its UTF-8 bytes, and the
    merges that join the bytes of a multi-byte character, for "é" (C3 A9) the merge "Ã ©".

    The merges only ever join bytes of one character (the right part is always a UTF-8
    continuation byte), so one-byte characters are never merged with anything.
    """
    if getattr(tokenizer, "kind", None) != "char":
        raise GGUFError("only character-level models can be exported to GGUF so far: this "
                        f"model uses a {getattr(tokenizer, 'kind', type(tokenizer).__name__)!r} "
                        "tokenizer, and writing its merges for llama.cpp is not done yet")
    b2u = byte_to_unicode()
    tokens, merges = [], {}
    for i, ch in enumerate(tokenizer.chars):
        try:
            raw = ch.encode("utf-8")
        except UnicodeEncodeError:
            raise GGUFError(f"vocabulary character {i} ({ch!r}) has no UTF-8 form (a lone "
                            "surrogate), so llama.cpp could not represent it") from None
        pieces = [b2u[b] for b in raw]
        for k in range(1, len(pieces)):
            merges.setdefault(f"{''.join(pieces[:k])} {pieces[k]}", None)
        tokens.append("".join(pieces))
    return tokens, list(merges), tokenizer.stoi[UNKNOWN]


def char_tokenizer_from_gguf(tokens: list[str]) -> CharTokenizer:
    """The inverse of `gguf_vocab`: GPT-2's characters back to bytes, then to our characters."""
    u2b = {u: b for b, u in byte_to_unicode().items()}
    chars = []
    for i, token in enumerate(tokens):
        try:
            ch = bytes(u2b[u] for u in token).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            ch = None
        if ch is None or len(ch) != 1:
            raise GGUFError(f"token {i} ({token!r}) is not one character: only the "
                            "character-level files napkin-gpt writes can be read back")
        chars.append(ch)
    try:
        return CharTokenizer(chars)
    except ValueError as e:
        raise GGUFError(f"the file's vocabulary is not a napkin-gpt one: {e}") from None


# ---- writing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GGUFTensor:
    """One tensor as it goes into the file."""

    name: str  # llama.cpp's name
    ggml_type: str  # "f32", "f16", "q8_0" or "q4_0"
    data: np.ndarray  # float32/float16 values, or (rows, bytes per row) uint8 blocks


def gguf_tensors(model: GPT, fmt: str) -> list[GGUFTensor]:
    """Every parameter in llama.cpp's name, layout and type; refuses what llama.cpp could not
    hold (non-finite values, fp16 overflow, rows that are not whole Q blocks)."""
    check_type(fmt)
    out = []
    for name, w in model.params.items():
        kind = stored_type(name, fmt)
        layout = np.ascontiguousarray(ggml_layout(name, w), dtype=np.float32)  # (out, in)
        bad = np.count_nonzero(~np.isfinite(layout))
        if bad:
            raise GGUFError(f"tensor {name} holds {bad} NaN or infinite value(s): there is "
                            "no model to export (reset or retrain it)")
        if kind == "f16":
            big = np.abs(layout).max()
            if big > F16_MAX:
                raise GGUFError(f"tensor {name} has |x| up to {big:g}, beyond fp16's "
                                f"{F16_MAX:g}: export it as f32")
            data = layout.astype(np.float16)
        elif kind in ("q8_0", "q4_0"):
            if layout.shape[-1] % BLOCK:
                raise GGUFError(f"{fmt} needs rows that are a multiple of {BLOCK}, but "
                                f"{name} has rows of {layout.shape[-1]}: export it as f16 "
                                "or f32")
            stored = quantize(layout, kind, name)
            data = np.frombuffer(stored.to_bytes(), np.uint8).reshape(layout.shape[0], -1)
        else:
            data = layout
        out.append(GGUFTensor(gguf_name(name), kind, data))
    return out


def check_type(fmt: str) -> None:
    if fmt not in GGUF_TYPES:
        raise GGUFError(f"unknown GGUF type {fmt!r}; choose one of {', '.join(GGUF_TYPES)}")


# ---- the metadata, and the file's size --------------------------------------------------------

ALIGNMENT = 32  # GGUF's default: the tensor data and each tensor in it start at a multiple
VALUE_BYTES = {"u32": 4, "i32": 4, "f32": 4, "bool": 1}  # GGUF's fixed-size value types


def gguf_metadata(config: GPTConfig, tokenizer: CharTokenizer, fmt: str,
                  description: str = "") -> list[tuple[str, object, str]]:
    """Every key the file holds, in order, as (key, value, GGUF value type): "u32", "f32",
    "bool", "str", or an array of them such as "str[]" (the types llama.cpp reads them as)."""
    check_type(fmt)
    tokens, merges, special = gguf_vocab(tokenizer)
    meta = [("general.architecture", ARCH, "str"), ("general.name", NAME, "str")]
    if description:
        meta.append(("general.description", description, "str"))
    meta.append(("general.file_type", FILE_TYPES[fmt], "u32"))
    if fmt.startswith("q"):
        meta.append(("general.quantization_version", QUANT_VERSION, "u32"))
    meta += [
        (f"{ARCH}.context_length", config.block_size, "u32"),
        (f"{ARCH}.embedding_length", config.n_embd, "u32"),
        (f"{ARCH}.feed_forward_length", 4 * config.n_embd, "u32"),
        (f"{ARCH}.block_count", config.n_layer, "u32"),
        (f"{ARCH}.attention.head_count", config.n_head, "u32"),
        (f"{ARCH}.attention.layer_norm_epsilon", LAYER_NORM_EPS, "f32"),
        ("tokenizer.ggml.model", "gpt2", "str"),
        ("tokenizer.ggml.pre", "gpt-2", "str"),
        ("tokenizer.ggml.tokens", tokens, "str[]"),
        ("tokenizer.ggml.token_type", [TOKEN_CONTROL if i == special else TOKEN_NORMAL
                                       for i in range(len(tokens))], "i32[]"),
        ("tokenizer.ggml.merges", merges, "str[]"),
        ("tokenizer.ggml.bos_token_id", special, "u32"),
        ("tokenizer.ggml.eos_token_id", special, "u32"),
        ("tokenizer.ggml.unknown_token_id", special, "u32"),
        ("tokenizer.ggml.add_bos_token", False, "bool"),
        ("tokenizer.ggml.add_eos_token", False, "bool"),
    ]
    return meta


def gguf_size(metadata: list[tuple[str, object, str]], tensors: list[GGUFTensor]) -> int:
    """The file's length in bytes, from what it holds: the header (magic, version, counts),
    each key-value pair, each tensor's entry (name, dims, type, offset), then the tensor
    data, aligned. Lets the lab show the size without writing the file."""
    def string(text: str) -> int:
        return 8 + len(text.encode("utf-8"))  # u64 length, then UTF-8 bytes

    def value(v, kind: str) -> int:
        if kind.endswith("[]"):
            item = kind[:-2]
            return 4 + 8 + sum(value(x, item) for x in v)  # item type, count, items
        return string(v) if kind == "str" else VALUE_BYTES[kind]

    def padded(n: int) -> int:
        return -(-n // ALIGNMENT) * ALIGNMENT

    head = 4 + 4 + 8 + 8
    head += sum(string(k) + 4 + value(v, kind) for k, v, kind in metadata)
    head += sum(string(t.name) + 4 + 8 * t.data.ndim + 4 + 8 for t in tensors)
    return padded(head) + sum(padded(t.data.nbytes) for t in tensors)


# ---- reading back: from what a GGUF reader found to our model ------------------------------------

def gguf_config(fields: dict, vocab_size: int) -> GPTConfig:
    """Our GPTConfig from a file's metadata (`fields`: key -> value)."""
    arch = fields.get("general.architecture")
    if arch != ARCH:
        raise GGUFError(f"it holds a model of architecture {arch!r}; napkin-gpt reads the "
                        f"{ARCH!r} files it writes")
    if fields.get("tokenizer.ggml.model") != "gpt2" or not vocab_size:
        raise GGUFError("it has no gpt2 tokenizer vocabulary")
    keys = {"block_size": "context_length", "n_layer": "block_count",
            "n_head": "attention.head_count", "n_embd": "embedding_length"}
    values = {}
    for ours, key in keys.items():
        value = fields.get(f"{ARCH}.{key}")
        if not isinstance(value, int):
            raise GGUFError(f"it lacks the integer {ARCH}.{key}")
        values[ours] = value
    ff = fields.get(f"{ARCH}.feed_forward_length")
    if ff != 4 * values["n_embd"]:
        raise GGUFError(f"its feed_forward_length is {ff}; napkin-gpt's MLP is 4 x "
                        f"{values['n_embd']}")
    try:
        return GPTConfig(vocab_size=vocab_size, **values)
    except (TypeError, ValueError) as e:
        raise GGUFError(f"it describes a model napkin-gpt cannot build: {e}") from None


def params_from_gguf(config: GPTConfig, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our parameters from the file's tensors, given as float32 values in the file's layout
    (matrices (out, in)) under llama.cpp's names: checked, and `.w` transposed back."""
    params = {}
    for name, shape in config.param_shapes().items():
        stored = arrays.get(gguf_name(name))
        if stored is None:
            raise GGUFError(f"it lacks the tensor {gguf_name(name)}")
        expected = ggml_layout(name, np.empty(shape)).shape
        if stored.shape != expected:
            raise GGUFError(f"its tensor {gguf_name(name)} has shape {stored.shape}, "
                            f"expected {expected}")
        if not np.isfinite(stored).all():
            raise GGUFError(f"its tensor {gguf_name(name)} holds NaN or infinite values")
        params[name] = np.ascontiguousarray(ggml_layout(name, stored), dtype=np.float32)
    extra = sorted(set(arrays) - {gguf_name(n) for n in params})
    if extra:
        raise GGUFError(f"it holds tensors napkin-gpt does not know: {', '.join(extra)}")
    return params
