"""The quantization lab and its view, without a browser: llama.cpp's Q8_0 / Q4_0 applied to
the session's model, and what it costs (size, rounding error, loss, next-token probabilities).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.session.loader import load_session
from app.session.quantization import EVAL_WINDOWS, TENSOR_CHOICES, QuantizationLab
from app.views.quantization import QuantizationView
from engine import quant
from engine.model import GPT
from engine.quant import QuantTensor, ggml_layout, quantize
from engine.train import evaluate
from tests.support.models import WEIGHTS_TINY

BLOCK_BYTES = {"q8_0": 34, "q4_0": 18}  # ggml's block_q8_0 and block_q4_0: fp16 d + quants
# the validation loss of the shipped weights may move by at most this much (see the test)
MARGIN = {"q8_0": (-0.01, 0.01), "q4_0": (0.01, 0.1)}


@pytest.fixture
def view(session):
    return QuantizationView(session=session, active=True)


@pytest.fixture(scope="module")
def held_out(corpus_text):
    """A lab on the whole corpus, so its losses use the shipped model's real held-out tenth."""
    return QuantizationLab(session=load_session(WEIGHTS_TINY, corpus=corpus_text), active=True)


def text_of(pane) -> str:
    return re.sub(r"<[^>]+>", " ", pane.object)


def models(calls) -> list:
    """The models that ran, in order (forward_calls, tests/conftest.py)."""
    return [call.model for call in calls]


def expected_bytes(model: GPT, fmt: str, choose) -> int:
    """Bytes from first principles: every 32 values of a row (in ggml's layout, last axis
    zero-padded to 32) make one block; tensors kept float cost 4 bytes a value."""
    total = 0
    for name, w in model.params.items():
        if choose(name):
            a = ggml_layout(name, w)
            total += a.size // a.shape[-1] * math.ceil(a.shape[-1] / 32) * BLOCK_BYTES[fmt]
        else:
            total += 4 * w.size
    return total


# ---- the view ---------------------------------------------------------------------------------

def test_the_view_builds_and_shows_size_losses_probabilities_and_errors(view):
    lab = view.lab
    assert lab.active and lab.fmt == "q8_0" and lab.which == "block matrices"
    report = lab.report
    assert f"{report.bytes_before:,}" in text_of(view._size)
    assert f"{report.bytes_after:,}" in text_of(view._size)
    assert f"{lab.float_loss:.4f}" in text_of(view._loss)
    assert f"{lab.quant_loss:.4f}" in text_of(view._loss)
    assert f"{lab.float_perplexity:.3f}" in text_of(view._loss)
    assert f"Mean over {EVAL_WINDOWS} evenly spaced windows" in text_of(view._loss)
    assert "Next token after the prompt" in text_of(view._probs_text)
    assert len(view.prob_source.data["p_float"]) == 10
    # the tensor choice is shown: 12 matrices quantized, the rest named as kept float
    assert "12 of 40 tensors" in text_of(view._choice)
    assert "embeddings, biases, LayerNorm" in text_of(view._choice)
    assert view.param.tensor.objects == report.quantized and view.tensor in report.quantized
    assert sum(view.hist_source.data["count"]) == report.tensors[view.tensor].n_weights


def test_switching_format_updates_size_losses_and_figures(view):
    lab = view.lab
    q8 = (lab.report.bytes_after, lab.quant_loss, view.prob_source.data["p_quant"].copy(),
          list(view.hist_source.data["right"]))
    float_loss, float_probs = lab.float_loss, lab.float_probs
    lab.fmt = "q4_0"
    assert lab.report.fmt == "q4_0" and lab.report.bytes_after < q8[0]
    assert f"{lab.report.bytes_after:,}" in text_of(view._size) and "Q4_0" in view._size.object
    assert lab.quant_loss != q8[1] and f"{lab.quant_loss:.4f}" in text_of(view._loss)
    assert not np.array_equal(view.prob_source.data["p_quant"], q8[2])
    assert list(view.hist_source.data["right"]) != q8[3]  # Q4_0's coarser grid errs more
    assert lab.float_loss == float_loss and lab.float_probs is float_probs  # not recomputed
    assert "Q4_0" in view.probs.title.text


def test_the_tensor_choice_changes_what_is_quantized_and_the_selector(view):
    lab = view.lab
    view.tensor = "h.2.mlp.c_proj.w"
    lab.which = "block matrices + embeddings"
    assert set(lab.report.quantized) == {n for n in lab.report.tensors
                                         if TENSOR_CHOICES[lab.which](n, quant)}
    assert "wte" in view.param.tensor.objects and view.tensor == "h.2.mlp.c_proj.w"
    assert "14 of 40 tensors" in text_of(view._choice)
    lab.which = "every tensor"
    assert len(lab.report.quantized) == 40 and "stay float32" not in view._choice.object
    view.tensor = "ln_f.g"
    assert sum(view.hist_source.data["count"]) == 64


def test_views_never_run_the_model_the_lab_runs_it_once_per_needed_recomputation(
        session, forward_calls):
    view = QuantizationView(session=session, active=True)
    lab = view.lab
    assert len(forward_calls) == 3  # float loss, quantized loss, quantized next-token probs
    forward_calls.clear()
    view.tensor = "h.1.attn.c_proj.w"
    session.temperature, session.top_k = 1.3, 5
    assert forward_calls == []  # drawing another tensor or sampling needs no model
    lab.fmt = "q4_0"
    assert models(forward_calls) == [lab.model, lab.model]  # its loss and its probabilities
    forward_calls.clear()
    session.prompt = "JULIET:\nO Romeo"
    assert models(forward_calls) == [session.model, lab.model]  # the session's pass, then the lab's
    forward_calls.clear()
    session.heads_off = [(0, 1)]  # the session: masked and baseline; the lab: masked
    assert models(forward_calls) == [session.model, session.model, lab.model]


def test_nothing_is_computed_while_inactive_and_it_catches_up(session, forward_calls):
    lab = QuantizationLab(session=session)
    assert forward_calls == [] and lab.report is None
    lab.active = True
    report, loss = lab.report, lab.float_loss
    lab.active = False  # the reader went to train
    forward_calls.clear()
    for _ in range(3):
        session.training.train_once()
    session.prompt = "KING:\n"
    assert all(model is session.model for model, _ in forward_calls)  # training alone ran
    assert lab.report is report
    forward_calls.clear()
    lab.active = True  # back: the new weights need everything again, once
    assert models(forward_calls) == [lab.model, session.model, lab.model]
    assert lab.report is not report and lab.float_loss != loss
    assert lab.float_loss == evaluate(session.model, session.val_tokens, EVAL_WINDOWS,
                                      EVAL_WINDOWS)


def test_a_new_model_or_a_reset_is_followed(view):
    s, lab = view.session, view.lab
    s.training.train_on_text("<&>" * 100)  # 4 tokens, too short a text to hold any out
    assert lab.quant_probs.shape == (4,) and lab.model.config.vocab_size == 4
    assert lab.float_loss is None and "no held-out text" in text_of(view._loss)
    summary = view._probs_text.object
    bare = re.sub(r"</?(div|p|span)( class=['\"][a-z]+['\"])?>", "", summary)
    assert "<" not in bare and ">" not in bare and not re.search(r"&(?!lt;|gt;|amp;|#x27;)",
                                                                 bare)
    s.reset_weights()
    assert lab.quant_probs.shape == (77,) and lab.float_loss is not None


# ---- the numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
def test_bytes_equal_the_exact_block_count(view, fmt):
    lab = view.lab
    lab.fmt = fmt
    for which, choose in TENSOR_CHOICES.items():
        lab.which = which
        report = lab.report
        assert report.bytes_after == expected_bytes(view.session.model, fmt,
                                                    lambda n, choose=choose: choose(n, quant))
        stored = [t.stored for t in report.tensors.values() if t.stored]
        floats = [t for t in report.tensors.values() if not t.stored]
        assert report.bytes_after == (sum(len(q.to_bytes()) for q in stored)
                                      + sum(4 * t.n_weights for t in floats))
        assert report.bits_per_weight == 8 * report.bytes_after / 159_104
    assert f"{report.bytes_after:,}" in text_of(view._size)
    assert f"{report.bits_per_weight:.3f}" in text_of(view._size)


def test_probabilities_before_and_after_sum_to_one(view):
    s, lab = view.session, view.lab
    for fmt in ("q8_0", "q4_0"):
        lab.fmt = fmt
        for probs in (lab.float_probs, lab.quant_probs):
            assert probs.shape == (77,) and probs.min() > 0
            assert abs(probs.sum() - 1) < 1e-12
        np.testing.assert_allclose(lab.float_probs, s.trace.probs[0, -1], atol=1e-6)
    s.heads_off = [(1, 2)]  # "before" is the model as the session runs it, heads off too
    np.testing.assert_allclose(lab.float_probs, s.trace.probs[0, -1], atol=1e-6)
    masked = lab.model.forward(np.array(s.ids), head_mask=s.head_mask())[0][-1]
    np.testing.assert_allclose(lab.quant_probs, np.exp(masked) / np.exp(masked).sum(),
                               atol=1e-6)


def test_quantized_validation_loss_of_the_shipped_weights_is_within_the_margin(held_out):
    """The shipped weights on their held-out tenth (64 windows of 64 tokens), the block
    matrices quantized. Measured (float32 1.82885):

        Q8_0   1.82778   -0.0011   (all 512 windows: 1.83297 -> 1.83246, -0.0005)
        Q4_0   1.88244   +0.0536   (all 512 windows: 1.83297 -> 1.88139, +0.0484)

    Q8_0 rounds to 1/254 of a block's largest value at worst; its RMS error is about 0.6 %
    of the weights', and the loss moves by 0.001, either way. |Δ| ≤ 0.01 leaves ten times
    that, yet a scale 5 % off (a wrong divisor) costs +0.032 and a scale taken from the
    neighbouring block +0.94 (test_the_margins_catch_broken_quantizers).

    Q4_0's step is amax/8 instead of amax/127, 16 times coarser, so the error's variance is
    about 250 times larger, and the loss pays for it: +0.05. It must cost something (at
    least 0.01: zero would mean nothing was quantized), and at most 0.1, twice what was
    measured: swapped nibbles cost +4.5, scales from the neighbouring block +3.2, scales
    10 % off +0.18.
    """
    lab = held_out
    lab.which = "block matrices"
    assert lab.eval_windows == EVAL_WINDOWS
    assert lab.float_loss == pytest.approx(1.82885, abs=1e-4)
    for fmt, (low, high) in MARGIN.items():
        lab.fmt = fmt
        assert low <= lab.quant_loss - lab.float_loss <= high, fmt
        assert lab.quant_perplexity == pytest.approx(math.exp(lab.quant_loss))


def broken(tensor: QuantTensor, fault: str) -> QuantTensor:
    """A quantizer with a typical bug: its scales 5 % off, taken from the next block, or
    Q4_0's nibbles packed the other way round."""
    scales, qs = tensor.scales.astype(np.float32), tensor.qs
    if fault == "scale 5 % off":
        scales = scales * 1.05
    elif fault == "scale of the next block":
        scales = np.roll(scales, 1)
    else:
        qs = (qs << 4) | (qs >> 4)
    return QuantTensor(tensor.fmt, tensor.shape, scales.astype(np.float16), qs)


@pytest.mark.parametrize(("fmt", "fault"), [("q8_0", "scale 5 % off"),
                                            ("q8_0", "scale of the next block"),
                                            ("q4_0", "scale of the next block"),
                                            ("q4_0", "nibbles swapped")])
def test_the_margins_catch_broken_quantizers(held_out, fmt, fault):
    s = held_out.session
    params = {}
    for name, w in s.model.params.items():
        if TENSOR_CHOICES["block matrices"](name, quant):
            bad = broken(quantize(ggml_layout(name, w), fmt), fault)
            params[name] = ggml_layout(name, bad.dequantize()).astype(w.dtype)
        else:
            params[name] = w
    loss = evaluate(GPT(s.config, params=params), s.val_tokens, EVAL_WINDOWS, EVAL_WINDOWS)
    low, high = MARGIN[fmt]
    assert not low <= loss - held_out.float_loss <= high
