"""llama.cpp's Q8_0 / Q4_0 block quantization: exact bytes, derived error bounds, and a
quantized GPT.

Notation: u = 2^-24, float32's unit roundoff. d is the fp32 scale the quantizer computes
(d = fl(amax/127) for Q8_0, d = max/-8 for Q4_0), d̂ = fp16(d) the scale stored.
"""

from __future__ import annotations

import math
import struct
import warnings

import numpy as np
import pytest

from engine.model import GPT, GPTConfig
from engine.quant import (
    FORMATS,
    QuantTensor,
    error_histogram,
    ggml_layout,
    is_block_matrix,
    quantize,
    quantize_model,
    quantized_loss,
    relative_rms_error,
)

U = 2.0**-24
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18}
GGML_DTYPE = {  # one block as ggml's C structs lay it out: fp16 d, then the quants
    "q8_0": np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
    "q4_0": np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
}


# ---- independent references ------------------------------------------------------------------

def ggml_ref_block(block: np.ndarray, fmt: str) -> bytes:
    """ggml's quantize_row_{q8_0,q4_0}_ref for one block, transcribed line by line with
    float32 scalars; the fp16 scale is packed by `struct` (round to nearest even)."""
    x = [np.float32(v) for v in block]
    if fmt == "q8_0":
        amax = np.float32(0)
        for v in x:
            amax = max(amax, np.float32(abs(v)))
        d = amax / np.float32(127)
        inv = np.float32(1) / d if d else np.float32(0)
        qs = [int(math.copysign(math.floor(abs(v * inv) + 0.5), v * inv)) for v in x]  # roundf
        return struct.pack("<e32b", d, *qs)
    amax, vmax = np.float32(0), np.float32(0)
    for v in x:
        if amax < abs(v):
            amax, vmax = np.float32(abs(v)), v
    d = vmax / np.float32(-8)
    inv = np.float32(1) / d if d else np.float32(0)
    q = [min(15, int(v * inv + np.float32(8.5))) for v in x]  # int(): C's truncating cast
    return struct.pack("<e", d) + bytes(q[j] | q[j + 16] << 4 for j in range(16))


def dequantize_bytes(data: bytes, fmt: str) -> np.ndarray:
    """ggml's dequantize_row_* straight from the bytes: (n_blocks, 32) float32 d̂·q."""
    blocks = np.frombuffer(data, dtype=GGML_DTYPE[fmt])
    q = blocks["qs"].astype(np.int32)
    if fmt == "q4_0":
        q = np.concatenate([q & 0x0F, q >> 4], axis=1) - 8  # byte j: values j and j + 16
    return q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]


def random_blocks(n_rows: int = 256, seed: int = 0) -> np.ndarray:
    """(n_rows, 256) float32 whose rows span 14 orders of magnitude (e^-30 .. e^2), so
    blocks meet fp16 scales that are normal, subnormal and flushed to zero."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(-30, 2, size=(n_rows, 1)))
    return (rng.standard_normal((n_rows, 256)) * scale).astype(np.float32)


# ---- exactly ggml -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_match_a_line_by_line_transcription_of_ggml(fmt):
    x = random_blocks(8)
    x[0, :32] = 0.0  # a zero block
    x[1, :32] = np.float32(1e-9) * np.arange(32)  # a scale below fp16's range
    x[2, :32] = np.repeat([-3.0, 3.0], 16)  # a magnitude tie: the first one wins
    x[3, :32] = -0.0  # ggml's max starts at +0.0, so Q4_0 still stores d = -0.0
    expected = b"".join(ggml_ref_block(b, fmt) for b in x.reshape(-1, 32))
    assert quantize(x, fmt).to_bytes() == expected


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(8, 64), (5, 40), (3, 2, 7)])
def test_dequantize_is_exactly_scale_times_quants_from_the_bytes(fmt, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    qt = quantize(x, fmt)
    padded = -(-shape[-1] // 32) * 32
    from_bytes = dequantize_bytes(qt.to_bytes(), fmt).reshape(-1, padded)[:, :shape[-1]]
    out = qt.dequantize()
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, from_bytes.reshape(shape))


def test_q8_0_block_bytes_by_hand():
    # k·0.5 for k = -16..14, and 63.5 = 127·0.5 as the largest: d = 63.5/127 = 0.5 exactly
    k = np.r_[np.arange(-16, 15), 127]
    qt = quantize(0.5 * k, "q8_0")
    assert qt.to_bytes() == bytes([0x00, 0x38]) + bytes(int(v) & 0xFF for v in k)  # fp16 0.5
    np.testing.assert_array_equal(qt.dequantize(), 0.5 * k)


def test_q4_0_block_bytes_by_hand():
    # the first value of largest magnitude is -8, so d = -8/-8 = 1 and q = x + 8 exactly:
    # values j = 0..15 are j - 8 (q = j), values j + 16 are 7 - j (q = 15 - j)
    x = np.r_[np.arange(16) - 8, 7 - np.arange(16)].astype(np.float32)
    qt = quantize(x, "q4_0")
    data = qt.to_bytes()
    assert data[:2] == bytes([0x00, 0x3C])  # fp16 1.0
    assert list(data[2:]) == [j | (15 - j) << 4 for j in range(16)]  # 0xF0, 0xE1, ... 0x0F
    assert [b & 0x0F for b in data[2:]] == list(range(16))  # value j: low nibble of byte j
    assert [b >> 4 for b in data[2:]] == list(range(15, -1, -1))  # value j+16: high nibble
    np.testing.assert_array_equal(qt.dequantize(), x)


@pytest.mark.parametrize(("fmt", "expected"), [
    ("q8_0", bytes(2 + 32)),  # d = 0/127 = +0
    ("q4_0", bytes([0x00, 0x80]) + bytes([0x88]) * 16),  # d = +0/-8 = -0; q = trunc(8.5) = 8
])
def test_zero_block_stores_a_zero_scale_and_no_nan(fmt, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero on the way
        qt = quantize(np.zeros(32, np.float32), fmt)
        out = qt.dequantize()
    assert qt.to_bytes() == expected
    np.testing.assert_array_equal(out, np.zeros(32))


def test_q8_0_outlier_leaves_the_rest_a_step_or_less_and_rounds_ties_away_from_zero():
    # 127 sets d = 1; C's roundf sends halves away from zero (np.round would give 2 for 2.5)
    x = np.zeros(32, np.float32)
    x[:8] = [127.0, 0.49, 0.5, -0.5, 1.4, -1.4, 2.5, -2.5]
    qt = quantize(x, "q8_0")
    assert list(qt.qs[0, :8]) == [127, 0, 1, -1, 1, -1, 3, -3]
    np.testing.assert_array_equal(qt.dequantize()[:8], [127, 0, 1, -1, 1, -1, 3, -3])


def test_q4_0_outlier_collapses_the_rest_to_zero_or_one_step():
    # 8 is the largest: d = 8/-8 = -1, so q = trunc(-x + 8.5) and x ≈ -(q - 8). The +8.5 and
    # truncation round r = x/d half up, so the ties ±0.5 both go towards -max: 0.5 -> 0, -0.5 -> -1
    x = np.zeros(32, np.float32)
    x[:7] = [8.0, 0.3, 0.6, -0.6, 0.5, -0.5, -0.3]
    qt = quantize(x, "q4_0")
    assert qt.to_bytes()[:2] == bytes([0x00, 0xBC])  # fp16 -1.0
    np.testing.assert_array_equal(qt.quants()[0, :7], [-8, 0, -1, 1, 0, 1, 0])
    np.testing.assert_array_equal(qt.dequantize()[:7], [8, 0, 1, -1, 0, -1, 0])


def test_q4_0_value_opposite_the_largest_is_off_by_a_whole_step():
    # max = 8 gives d = -1; -8 would need q - 8 = +8 but the grid stops at +7 (nibble 15):
    # it comes back as -7, one whole step |d| away, twice the usual half-step bound
    x = np.zeros(32, np.float32)
    x[:2] = [8.0, -8.0]
    qt = quantize(x, "q4_0")
    assert qt.to_bytes() == bytes([0x00, 0xBC, 0x80, 0x8F]) + bytes([0x88]) * 14
    out = qt.dequantize()
    assert out[1] == -7.0 and abs(out[1] - x[1]) == 1.0 == abs(-8.0 / -8)


# ---- derived error bounds --------------------------------------------------------------------

def test_q8_0_round_trip_error_bound():
    """|x - d̂·q| ≤ d·(1/2 + 384u) + 127·|d̂ - d|, per block with its own d and d̂.

    Derivation. The quantizer computes d = fl(amax/127), id = fl(1/d), t = fl(x·id), q = roundf(t).
    With r = x/d: |r| ≤ amax/d ≤ 127/(1 - u) < 128, and t = r(1+ε₁)(1+ε₂) with |εᵢ| ≤ u, so
    |t - r| < 128·3u = 384u. Rounding gives |t - q| ≤ 1/2, hence |r - q| ≤ 1/2 + 384u (and
    |q| ≤ 127, as |t| < 127.5). Then x - d̂q = d(r - q) + (d - d̂)q, which gives the bound.
    Dequantization adds nothing: d̂·q is exact in float32 (11-bit times 7-bit significands).
    The actual |d̂ - d| of each block is used, not its worst case, because the random data
    includes scales below fp16's normal range, where the relative 2^-11 does not hold (see
    the next test); for a block whose d̂ flushes to 0, the bound is d/2 + 127d ≥ amax.
    """
    x = random_blocks()
    blocks = x.reshape(-1, 32).astype(np.float64)  # (n, 32)
    d = (np.abs(x.reshape(-1, 32)).max(axis=1) / np.float32(127)).astype(np.float64)  # (n,)
    d_hat = d.astype(np.float16).astype(np.float64)
    bound = (d * (0.5 + 384 * U) + 127 * np.abs(d_hat - d))[:, None]
    err = np.abs(quantize(x, "q8_0").dequantize().reshape(-1, 32) - blocks)
    assert np.all(err <= bound)
    assert (err / np.where(bound > 0, bound, 1)).max() > 0.99  # and the bound is attained


def test_fp16_scale_rounding_is_at_most_2_to_the_minus_11_in_the_normal_range():
    """fp16 keeps 10 fraction bits, so rounding to nearest moves d by at most 2^-11·|d| while
    |d| lies in fp16's normal range [2^-14, 65504]; then the Q8_0 bound is at most
    d·(1/2 + 384u + 127·2^-11) ≈ 0.562·d, and the Q4_0 one |d|·(1/2 + 40u + 8·2^-11)."""
    d = np.abs(random_blocks().reshape(-1, 32)).max(axis=1) / np.float32(127)
    d_hat = quantize(random_blocks(), "q8_0").scales.astype(np.float64)
    normal = d >= 2.0**-14
    assert normal.sum() > 100 and (~normal).sum() > 100  # both regimes are exercised
    rel = np.abs(d_hat - d)[normal] / d[normal]
    assert rel.max() <= 2.0**-11
    assert np.all(np.abs(d_hat - d)[~normal] <= 2.0**-25)  # there: half the spacing 2^-24


def test_q4_0_round_trip_error_bound():
    """|x - d̂·(q-8)| ≤ |d|·(1/2 + 40u) + 8·|d̂ - d|, except |d| + 8·|d̂ - d| for values
    within half a step of -max.

    Derivation. d = max/-8 is exact (a power of two), so r = x/d lies in [-8, 8], with r = -8
    at x = max. The quantizer computes s = fl(x·fl(1/d)), |s - r| ≤ 8·3u = 24u, then
    t = fl(s + 8.5) < 32, which rounds by at most half an ulp there, 2^-20 = 16u; so
    |t - (r + 8.5)| ≤ 40u. Since t > 0, trunc(t) = floor(t):
      unclipped (floor(t) ≤ 15): q ≤ t < q + 1 gives |r - (q - 8)| ≤ 1/2 + 40u;
      clipped (t ≥ 16, so r ≥ 7.5 - 40u): q - 8 = 7 and r ≤ 8 give |r - 7| ≤ 1, a whole step.
    Then x - d̂(q-8) = d(r - (q-8)) + (d - d̂)(q-8) with |q - 8| ≤ 8, and d̂·(q-8) is exact.
    """
    x = random_blocks()
    blocks = x.reshape(-1, 32)
    first_max = np.abs(blocks).argmax(axis=1)
    d = (blocks[np.arange(len(blocks)), first_max] / np.float32(-8)).astype(np.float64)
    d_hat = d.astype(np.float16).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = blocks / d[:, None]  # NaN in zero blocks: compares False, so unclipped
    clipped = r >= 7.5 - 40 * U
    steps = np.where(clipped, 1.0, 0.5 + 40 * U)
    bound = np.abs(d)[:, None] * steps + 8 * np.abs(d_hat - d)[:, None]
    err = np.abs(quantize(x, "q4_0").dequantize().reshape(-1, 32) - blocks)
    assert np.all(err <= bound)
    assert (err / np.where(bound > 0, bound, 1)).max() > 0.99  # attained
    # the exception is needed: clipped values do exceed half a step plus the scale term
    half = np.abs(d) * (0.5 + 40 * U) + 8 * np.abs(d_hat - d)  # (n,)
    assert np.any(err[clipped] > np.broadcast_to(half[:, None], err.shape)[clipped])


# ---- sizes, shapes, refusals ---------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "bits"), [("q8_0", 8.5), ("q4_0", 4.5)])
def test_sizes(fmt, bits):
    qt = quantize(np.ones((4, 64), np.float32), fmt)
    assert qt.n_blocks == 8 and qt.n_weights == 256
    assert qt.nbytes == 8 * BLOCK_BYTES[fmt] == len(qt.to_bytes())
    assert qt.bits_per_weight == bits


@pytest.mark.parametrize("fmt", FORMATS)
def test_last_axis_not_a_multiple_of_32_is_zero_padded(fmt):
    # rows of 40 take 2 blocks each, the second holding 8 real values and 24 zeros
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 40)).astype(np.float32)
    qt = quantize(x, fmt)
    explicit = quantize(np.pad(x, ((0, 0), (0, 24))), fmt)
    assert qt.shape == (3, 40) and qt.n_blocks == 6
    assert qt.to_bytes() == explicit.to_bytes()
    np.testing.assert_array_equal(qt.dequantize(), explicit.dequantize()[:, :40])
    assert np.all(qt.quants().reshape(3, 64)[:, 40:] == 0)  # padding stays exactly zero
    assert qt.bits_per_weight == 8 * 6 * BLOCK_BYTES[fmt] / 120  # padding is paid for
    assert quantize(x[0, :5], fmt).dequantize().shape == (5,)  # a short 1-D vector too


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_finite_values_are_refused_with_name_and_count(fmt):
    x = np.zeros((2, 32), np.float32)
    x[0, 3], x[1, 0], x[1, 5] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"h\.0\.mlp\.c_fc\.w: 3 NaN or infinite"):
        quantize(x, fmt, name="h.0.mlp.c_fc.w")
    with pytest.raises(ValueError, match=r"tensor of shape \(2, 32\): 3 NaN"):
        quantize(x, fmt)


def test_scales_beyond_fp16_are_refused():
    quantize(np.full(32, 65504.0 * 127), "q8_0")  # d = 65504 still fits
    with pytest.raises(ValueError, match="beyond fp16"):
        quantize(np.full(32, 70000.0 * 127), "q8_0")
    with pytest.raises(ValueError, match="beyond fp16"):
        quantize(np.full(32, 70000.0 * 8), "q4_0")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown format 'q5_0'"):
        quantize(np.ones(32), "q5_0")
    with pytest.raises(ValueError, match="at least one"):
        quantize(np.float32(1.0), "q8_0")
    with pytest.raises(ValueError, match="at least one"):
        quantize(np.ones((3, 0)), "q8_0")


def test_quant_tensor_storage_is_read_only():
    qt = quantize(np.ones(64), "q4_0")
    assert isinstance(qt, QuantTensor)
    with pytest.raises(ValueError, match="read-only"):
        qt.qs[0, 0] = 0


# ---- a quantized model ----------------------------------------------------------------------

CONFIG = GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=64)


@pytest.fixture(scope="module")
def model() -> GPT:
    return GPT(CONFIG, seed=1)


@pytest.fixture(scope="module")
def quantized(model) -> dict:
    return {fmt: quantize_model(model, fmt) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_quantizes_the_block_matrices_and_copies_the_rest(model, quantized, fmt):
    qmodel, report = quantized[fmt]
    assert report.quantized == [f"h.{i}.{m}.w" for i in range(2)
                                for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    assert list(qmodel.params) == list(model.params)
    for name, p in model.params.items():
        q = qmodel.params[name]
        assert q.dtype == p.dtype and q.shape == p.shape and q is not p
        if name in report.quantized:
            # blocks along the input axis: llama.cpp's (out, in) layout
            expected = quantize(p.T, fmt).dequantize().T
            np.testing.assert_array_equal(q, expected)
            assert report.tensors[name].stored.shape == p.T.shape
        else:
            np.testing.assert_array_equal(q, p)  # bit-identical
        np.testing.assert_array_equal(report.tensors[name].error, q - p)


def test_report_totals_add_up(model, quantized):
    C, L = CONFIG.n_embd, CONFIG.n_layer
    n_quantized = L * 12 * C * C  # c_attn 3C² + c_proj C² + c_fc 4C² + mlp c_proj 4C²
    n_float = CONFIG.n_params - n_quantized
    for fmt, (_, report) in quantized.items():
        t = report.tensors
        assert report.n_weights == CONFIG.n_params == sum(v.n_weights for v in t.values())
        assert report.bytes_before == 4 * CONFIG.n_params
        size = n_quantized // 32 * BLOCK_BYTES[fmt] + 4 * n_float
        assert report.bytes_after == size == sum(v.bytes_after for v in t.values())
        assert report.bits_per_weight == 8 * size / CONFIG.n_params
        c_fc = t["h.0.mlp.c_fc.w"]
        assert c_fc.fmt == fmt and c_fc.bits_per_weight == {"q8_0": 8.5, "q4_0": 4.5}[fmt]
        assert c_fc.max_abs_error == np.abs(c_fc.error).max() > 0
        assert t["wte"].fmt == "f32" and t["wte"].max_abs_error == 0
        assert t["wte"].bytes_after == t["wte"].bytes_before == 4 * 64 * 64


def test_quantized_logits_stay_close(model, quantized):
    """Each quantized matrix W carries an error E whose entries are nearly independent,
    zero-mean and uniform within a step, with relative size ρ = ‖E‖/‖W‖ (measured from the
    report; for Gaussian weights ρ ≈ rms(amax)/(√12·σ·127) ≈ 0.5% for Q8_0 and 16 times that,
    ≈ 9%, for Q4_0's 8 steps). For such E, xE is about ρ·‖xW‖, so each sublayer's output moves
    by about ρ of itself; those outputs are only part of the residual stream (the embeddings
    are not quantized) and ln_f and the float wte head carry relative changes through, so
    the logits of this small random model move by less than ρ (we measured about 0.75ρ,
    across seeds 0.70ρ..0.81ρ). To first order the change is linear in E, so Q4_0's logit
    error over Q8_0's is ρ₄/ρ₈ (measured 0.94..1.04 of it across seeds).
    """
    idx = np.random.default_rng(3).integers(0, CONFIG.vocab_size, size=(4, 16))
    logits, _ = model.forward(idx)
    rel, rho = {}, {}
    for fmt, (qmodel, report) in quantized.items():
        q_logits, _ = qmodel.forward(idx)
        rel[fmt] = np.linalg.norm(q_logits - logits) / np.linalg.norm(logits)
        rho[fmt] = math.sqrt(sum(np.sum(report.tensors[n].error.astype(np.float64) ** 2)
                                 / np.sum(model.params[n].astype(np.float64) ** 2)
                                 * model.params[n].size for n in report.quantized)
                             / sum(model.params[n].size for n in report.quantized))
        assert 0 < rel[fmt] < rho[fmt]
    assert 0.004 < rho["q8_0"] < 0.007 and 0.07 < rho["q4_0"] < 0.11
    ratio = (rel["q4_0"] / rel["q8_0"]) / (rho["q4_0"] / rho["q8_0"])
    assert 0.8 < ratio < 1.25


def test_rounding_statistics_of_a_quantized_tensor(model, quantized):
    """The histogram counts every error in bins symmetric about zero; the relative RMS is
    the sums written out."""
    original = model.params["h.0.mlp.c_fc.w"]
    for fmt, (_, report) in quantized.items():
        error = report.tensors["h.0.mlp.c_fc.w"].error
        counts, edges = error_histogram(error, bins=41)
        assert counts.sum() == error.size and len(edges) == 42
        bound = float(np.abs(error).max())
        assert edges[0] == -bound and edges[-1] == bound
        assert edges[20] < 0 < edges[21] and edges[20] == pytest.approx(-edges[21])  # 0 centred
        e, w = error.astype(np.float64).ravel(), original.astype(np.float64).ravel()
        expected = math.sqrt(sum(e * e) / e.size) / math.sqrt(sum(w * w) / w.size)
        assert relative_rms_error(error, original) == pytest.approx(expected, rel=1e-12)
        assert 0 < expected < {"q8_0": 0.01, "q4_0": 0.15}[fmt]
    kept = report.tensors["wte"].error  # kept float: no error at all
    counts, edges = error_histogram(kept, bins=5)
    assert counts.tolist() == [0, 0, kept.size, 0, 0] and edges[-1] == 1.0
    assert relative_rms_error(kept, model.params["wte"]) == 0.0
    assert relative_rms_error(np.zeros(4), np.zeros(4)) == 0.0  # zeros round to zeros


def test_choosing_tensors(model):
    names = ["wte", "h.1.ln_2.g"]  # g has 64 values: two blocks
    qmodel, report = quantize_model(model, "q8_0", which=names)
    assert report.quantized == names
    assert report.tensors["h.1.ln_2.g"].stored.n_blocks == 2
    np.testing.assert_array_equal(qmodel.params["h.0.mlp.c_fc.w"], model.params["h.0.mlp.c_fc.w"])
    _, by_predicate = quantize_model(model, "q4_0", which=lambda n: n.endswith("c_fc.w"))
    assert by_predicate.quantized == ["h.0.mlp.c_fc.w", "h.1.mlp.c_fc.w"]
    assert quantize_model(model, "q4_0", which="wpe")[1].quantized == ["wpe"]
    with pytest.raises(ValueError, match=r"unknown parameter name\(s\) \['h.9.ln_1.g'\]"):
        quantize_model(model, "q8_0", which=["wte", "h.9.ln_1.g"])


def test_helpers_name_the_layout():
    assert is_block_matrix("h.3.attn.c_attn.w") and is_block_matrix("h.0.mlp.c_proj.w")
    assert not any(map(is_block_matrix, ["wte", "wpe", "h.0.ln_1.g", "h.0.mlp.c_fc.b"]))
    w = np.zeros((2, 3))
    assert ggml_layout("h.0.mlp.c_fc.w", w).shape == (3, 2)
    assert ggml_layout("wte", w) is w


def test_padded_float64_model_keeps_its_dtype():
    config = GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=48)
    model = GPT(config, dtype=np.float64)
    qmodel, report = quantize_model(model, "q4_0")
    assert all(p.dtype == np.float64 for p in qmodel.params.values())
    # c_fc.w is (48, 192), stored (192, 48): 192 rows of 2 blocks, 18 bytes each
    assert report.tensors["h.0.mlp.c_fc.w"].bytes_after == 192 * 2 * 18
    logits, _ = qmodel.forward(np.arange(8))
    assert np.all(np.isfinite(logits))


def test_quantized_loss_helper(model):
    rng = np.random.default_rng(4)
    idx, targets = rng.integers(0, CONFIG.vocab_size, size=(2, 2, 16))
    float_loss, q8_loss = quantized_loss(model, "q8_0", idx, targets)
    assert float_loss == model.forward(idx, targets)[1].loss
    assert q8_loss != float_loss and abs(q8_loss - float_loss) < 0.01 * float_loss
