"""llama.cpp's Q8_0 and Q4_0 block quantization, byte for byte, and quantized copies of a GPT.

A tensor is cut into blocks of 32 consecutive values along its last axis. Each block keeps
one scale d̂, stored as fp16, and 32 small integers q; it dequantizes to d̂·q. This follows
ggml's reference quantizers (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, which
`llama-quantize` uses when no importance matrix is given) and its dequantizers:

    Q8_0  d = amax / 127          q = roundf(x · (1/d))            in -127..127, one int8 each
          a block is 2 + 32 = 34 bytes: 8.5 bits per weight
    Q4_0  d = max / -8            q = min(15, trunc(x · (1/d) + 8.5))   in 0..15, x ≈ d̂·(q - 8)
          (max: the value of largest magnitude, sign kept; the first one wins a tie)
          a block is 2 + 16 = 18 bytes: 4.5 bits per weight; byte j (0..15) holds q[j] in
          its low nibble and q[j + 16] in its high nibble

All arithmetic is float32 like ggml's. q is computed from the fp32 d; only the stored scale
is rounded to fp16 (round to nearest even), so dequantization uses d̂ = fp16(d), and d̂·q is
exact in float32 (an 11-bit significand times an integer of at most 8 bits). A block of
zeros gets d = 0, whose inverse ggml takes as 0, so it stores zeros and no NaN appears.

A Q4_0 block, walked through: its largest magnitude is max = -0.8, so d = -0.8 / -8 = 0.1.
    x = -0.8   -8.0 + 8.5 = 0.5    q = 0     dequant d̂·(0 - 8)  = -0.7998
    x = 0.26    2.6 + 8.5 = 11.1   q = 11    dequant d̂·(11 - 8) =  0.2999
    x = 0.8     8.0 + 8.5 = 16.5   q = 15    dequant d̂·(15 - 8) =  0.6998   clipped!
with d̂ = fp16(0.1) = 0.0999755859375. The grid reaches 8 steps towards `max` but only 7
away from it, so values near -max lose up to a whole step; elsewhere the error is at most
half a step plus what the fp16 scale adds: |x - d̂·q| ≤ |d|/2 + |q|·|d̂ - d| (+ float32
rounding of x/d, a few parts in 10⁷ of a step).

Shapes: ggml refuses rows whose length is not a multiple of 32. Here the last axis is
zero-padded up to the next multiple instead, and the true shape is kept, so a tiny model
with n_embd = 48 (or a 1-D LayerNorm vector) can still be quantized and compared. Padding
with zeros changes nothing for the real values (a block's scale comes from its largest
magnitude, which zeros never raise, and zero quantizes to exactly 0 in both formats); the
padding bytes are counted in `nbytes`, so such a tensor honestly costs more than 8.5 or
4.5 bits per weight. NaN or infinite values are refused, as are values too large for an
fp16 scale (|x| > 65504·127 for Q8_0, 65504·8 for Q4_0).

`quantize_model` gives a GPT whose chosen parameters are replaced by their dequantized
values, so it runs through the very same forward. Like llama.cpp's GPT-2 converter, which
transposes the Conv1D weights to (out, in), the blocks of a `.w` matrix (stored here as
(in, out)) run along its input axis: the axis the matmul sums over. `error_histogram` and
`relative_rms_error` say what the rounding cost one tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from engine.model import GPT

BLOCK = 32  # values per block, QK8_0 = QK4_0 in ggml
FORMATS = ("q8_0", "q4_0")
Q8_MAX = 127  # Q8_0's grid runs -127..127
Q4_OFFSET = 8  # Q4_0 stores steps + 8: nibbles 0..15 mean -8..7 steps of d̂
F16_MAX = 65504.0  # largest finite fp16


# ---- the two formats on (n_blocks, 32) float32 blocks -----------------------------------

def _roundf(t: np.ndarray) -> np.ndarray:
    """C's roundf: to the nearest integer, halves away from zero (np.round goes to even).

    Exact in float32: a - floor(a) never rounds.
    """
    a = np.abs(t)
    r = np.floor(a)
    return np.copysign(r + (a - r >= 0.5), t)


def _inverse(d: np.ndarray) -> np.ndarray:
    """1/d in float32, and 0 where d == 0 (ggml's `id = d ? 1.0f/d : 0.0f`)."""
    return np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)


def quantize_q8_0(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32) float32 -> scales (n,) float16 and quants (n, 32) int8, as ggml stores them.

    A block whose largest magnitude is 1.27 gets d = 1.27/127 = 0.01 (stored as
    d̂ = 0.010002); x = 0.123 becomes q = roundf(12.3) = 12 and comes back as 12·d̂ = 0.12003.
    """
    d = np.abs(blocks).max(axis=1) / np.float32(Q8_MAX)  # (n,)
    t = blocks * _inverse(d)[:, None]  # (n, 32), |t| ≤ 127 up to float32 rounding, < 127.5
    return d.astype(np.float16), _roundf(t).astype(np.int8)


def quantize_q4_0(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32) float32 -> scales (n,) float16 and packed nibbles (n, 16) uint8.

    With max = -0.8 (d = 0.1), x = 0.26 gives trunc(2.6 + 8.5) = 11, stored as the nibble
    0xB; if x sits at position 3 it lands in the low nibble of byte 3, at position 19 in the
    high nibble of byte 3.
    """
    first_max = np.abs(blocks).argmax(axis=1)  # (n,) first index of the largest |x|
    vmax = np.take_along_axis(blocks, first_max[:, None], axis=1)[:, 0]
    # ggml starts from max = +0.0, so an all-zero block gets d = +0.0 / -8 = -0.0 exactly
    vmax = np.where(vmax == 0, np.float32(0), vmax)
    d = vmax / np.float32(-Q4_OFFSET)  # (n,)
    t = blocks * _inverse(d)[:, None] + np.float32(Q4_OFFSET + 0.5)  # (n, 32), two roundings
    q = np.clip(np.trunc(t), 0, 15).astype(np.uint8)  # t ≥ 0.5, so only 15 ever binds
    return d.astype(np.float16), q[:, :16] | (q[:, 16:] << 4)


_QUANTIZERS = {"q8_0": quantize_q8_0, "q4_0": quantize_q4_0}


# ---- a quantized tensor ---------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class QuantTensor:
    """A tensor in ggml's block storage: the raw scales and quants, and its shape.

    Block i covers values 32·i .. 32·i + 31 of the tensor flattened row by row, each row (last
    axis) zero-padded to a multiple of 32. The arrays are read-only.
    """

    fmt: str  # "q8_0" or "q4_0"
    shape: tuple[int, ...]  # the tensor's true shape, without padding
    scales: np.ndarray  # (n_blocks,) float16: d̂ of each block
    qs: np.ndarray  # q8_0: (n_blocks, 32) int8 q;  q4_0: (n_blocks, 16) uint8, 2 nibbles a byte

    @property
    def n_blocks(self) -> int:
        return self.scales.shape[0]

    @property
    def n_weights(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes in a GGUF file: 34 (Q8_0) or 18 (Q4_0) per block."""
        return self.scales.nbytes + self.qs.nbytes

    @property
    def bits_per_weight(self) -> float:
        """8.5 or 4.5 when the last axis is a multiple of 32, more when it was padded."""
        return 8 * self.nbytes / self.n_weights

    def quants(self) -> np.ndarray:
        """(n_blocks, 32) int8: how many steps of d̂ each value is (Q4_0's nibbles minus 8)."""
        if self.fmt == "q8_0":
            return self.qs
        nibbles = np.concatenate([self.qs & 0x0F, self.qs >> 4], axis=1)  # (n_blocks, 32)
        return nibbles.astype(np.int8) - np.int8(Q4_OFFSET)

    def dequantize(self) -> np.ndarray:
        """float32 values d̂·q in the original shape, as ggml's dequantize_row_* computes."""
        values = self.quants() * self.scales.astype(np.float32)[:, None]  # (n_blocks, 32)
        n = self.shape[-1]
        padded_rows = values.reshape(-1, -(-n // BLOCK) * BLOCK)  # (rows, n rounded up to 32)
        return padded_rows[:, :n].reshape(self.shape)

    def to_bytes(self) -> bytes:
        """ggml's block layout: each block's fp16 scale (little-endian), then its quants."""
        scale_bytes = self.scales.astype("<f2").view(np.uint8).reshape(-1, 2)  # (n_blocks, 2)
        return np.concatenate([scale_bytes, self.qs.view(np.uint8)], axis=1).tobytes()


def quantize(x: np.ndarray, fmt: str, name: str | None = None) -> QuantTensor:
    """Quantize `x` to "q8_0" or "q4_0" in blocks of 32 along its last axis.

    Values are taken as float32 (ggml's input). `name` only labels error messages.
    """
    x = np.asarray(x)
    label = name or f"tensor of shape {x.shape}"
    if fmt not in _QUANTIZERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"cannot quantize {label}: it needs at least one axis and one value")
    bad = np.count_nonzero(~np.isfinite(x))
    if bad:
        raise ValueError(f"cannot quantize {label}: {bad} NaN or infinite value(s)")

    n = x.shape[-1]
    rows = x.astype(np.float32).reshape(-1, n)  # (rows, n)
    rows = np.pad(rows, ((0, 0), (0, -n % BLOCK)))  # (rows, n rounded up to 32)
    with np.errstate(over="ignore"):  # an fp16 overflow is refused just below
        scales, qs = _QUANTIZERS[fmt](rows.reshape(-1, BLOCK))
    if np.isinf(scales).any():
        raise ValueError(f"cannot quantize {label}: |x| up to {np.abs(x).max():g} needs a "
                         f"scale beyond fp16's {F16_MAX:g}")
    scales.setflags(write=False)
    qs.setflags(write=False)
    return QuantTensor(fmt, x.shape, scales, qs)


# ---- a quantized model ----------------------------------------------------------------------

def is_block_matrix(name: str) -> bool:
    """The default choice: the blocks' weight matrices (c_attn, attn c_proj, c_fc, mlp c_proj).

    The embeddings wte and wpe, the biases and the LayerNorm gains and biases stay float32.
    """
    return name.startswith("h.") and name.endswith(".w")


def ggml_layout(name: str, w: np.ndarray) -> np.ndarray:
    """The array as llama.cpp lays it out for quantization: `.w` matrices (in, out) are
    transposed to (out, in) so blocks run along the input axis; other tensors as they are."""
    return w.T if name.endswith(".w") else w


@dataclass(frozen=True, eq=False)
class TensorQuant:
    """One parameter in a quantized model: how it is stored, and what quantizing it cost."""

    name: str
    error: np.ndarray  # quantized - original, the parameter's shape (zeros if kept float)
    stored: QuantTensor | None  # the blocks (in `ggml_layout`); None if kept float32

    @property
    def fmt(self) -> str:
        return self.stored.fmt if self.stored else "f32"

    @property
    def n_weights(self) -> int:
        return self.error.size

    @property
    def bytes_before(self) -> int:
        """As float32: 4 bytes a value."""
        return 4 * self.n_weights

    @property
    def bytes_after(self) -> int:
        return self.stored.nbytes if self.stored else self.bytes_before

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.bytes_after / self.n_weights

    @property
    def max_abs_error(self) -> float:
        return float(np.abs(self.error).max())


@dataclass(frozen=True, eq=False)
class QuantReport:
    """Every parameter of a quantized model, in the model's order, and the totals.

    Sizes count tensor data only (no GGUF header or metadata).
    """

    fmt: str
    tensors: dict[str, TensorQuant]

    @property
    def quantized(self) -> list[str]:
        return [name for name, t in self.tensors.items() if t.stored]

    @property
    def n_weights(self) -> int:
        return sum(t.n_weights for t in self.tensors.values())

    @property
    def bytes_before(self) -> int:
        return sum(t.bytes_before for t in self.tensors.values())

    @property
    def bytes_after(self) -> int:
        """The file's tensor data: quantized tensors in blocks, the rest at 4 bytes a value."""
        return sum(t.bytes_after for t in self.tensors.values())

    @property
    def bits_per_weight(self) -> float:
        """Averaged over all parameters, float ones included."""
        return 8 * self.bytes_after / self.n_weights


def error_histogram(error: np.ndarray, bins: int = 41) -> tuple[np.ndarray, np.ndarray]:
    """(bins,) counts and (bins + 1,) edges of rounding errors (quantized - original) over
    ±their largest magnitude: symmetric, so with an odd `bins` one bin is centred on zero,
    where each block's largest weight lands (it sits on the grid). No error at all (a
    tensor kept float) spans ±1."""
    error = np.asarray(error, dtype=np.float64).ravel()
    bound = float(np.abs(error).max(initial=0.0)) or 1.0
    return np.histogram(error, bins=bins, range=(-bound, bound))


def relative_rms_error(error: np.ndarray, original: np.ndarray) -> float:
    """RMS(error) / RMS(original): the typical rounding error as a share of the typical
    weight. 0 when nothing was rounded (an all-zero tensor too: zero is on every grid)."""
    error = np.asarray(error, dtype=np.float64)
    rms_error = math.sqrt(np.mean(error**2))
    if rms_error == 0.0:
        return 0.0
    rms_weight = math.sqrt(np.mean(np.asarray(original, dtype=np.float64)**2))
    return rms_error / rms_weight if rms_weight else math.inf


def quantize_model(model: GPT, fmt: str,
                   which: Callable[[str], bool] | Collection[str] = is_block_matrix
                   ) -> tuple[GPT, QuantReport]:
    """A new GPT whose chosen parameters are quantized to `fmt` and dequantized back, and the
    report of what that cost. `which` picks parameters by a predicate on the name or as a
    collection of names; the others are copied bit for bit.
    """
    params = model.params
    if callable(which):
        chosen = {name for name in params if which(name)}
    else:
        chosen = {which} if isinstance(which, str) else set(which)
        unknown = sorted(chosen - params.keys())
        if unknown:
            raise ValueError(f"unknown parameter name(s) {unknown}")

    new_params, tensors = {}, {}
    for name, w in params.items():
        stored = None
        if name in chosen:
            stored = quantize(ggml_layout(name, w), fmt, name)
            new_params[name] = ggml_layout(name, stored.dequantize()).astype(w.dtype)
        else:
            new_params[name] = w.copy()
        tensors[name] = TensorQuant(name, new_params[name] - w, stored)
    quantized = GPT(model.config, params=new_params, layers=model.layers)
    return quantized, QuantReport(fmt, tensors)


def quantized_loss(model: GPT, fmt: str, idx, targets,
                   which: Callable[[str], bool] | Collection[str] = is_block_matrix
                   ) -> tuple[float, float]:
    """(float loss, quantized loss) of the same next-token targets, e.g. on validation data."""
    quantized, _ = quantize_model(model, fmt, which)
    return model.forward(idx, targets)[1].loss, quantized.forward(idx, targets)[1].loss
