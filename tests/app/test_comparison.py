"""Compare with…: each second model is the one it says, the numbers are KL and agreement as
computed here from the two models' own logits, models that cannot be compared position by
position are not, and nothing is computed while no view shows it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.session.code_runner import load_engine, shipped_sources
from app.views.parts.comparison import AttentionComparison, NextTokenComparison
from engine.char_tokenizer import CharTokenizer
from engine.model import GPT, GPTConfig
from engine.quant import is_block_matrix, quantize_model
from engine.weights import weights_zip
from tests.support.models import random_model


def softmax64(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def check_numbers(session, other: GPT) -> None:
    """The comparison's figures against a direct computation from both models' logits."""
    c = session.comparison
    ids = np.array(session.ids)
    p = softmax64(session.model.forward(ids)[0])  # (T, V)
    q = softmax64(other.forward(ids)[0])
    np.testing.assert_allclose(c.other.logits[0], other.forward(ids)[0], atol=1e-5)
    kl = np.sum(np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0), axis=-1)  # (T,)
    assert c.kl == pytest.approx(kl[-1], rel=1e-6, abs=1e-9)
    assert c.kl_mean == pytest.approx(kl.mean(), rel=1e-6, abs=1e-9)
    assert c.largest == pytest.approx(np.abs(p[-1] - q[-1]).max(), abs=1e-9)
    assert c.agreement == np.mean(p.argmax(-1) == q.argmax(-1))
    assert c.reason == ""


@pytest.fixture
def shown(session):
    """The session with a view showing the comparison."""
    session.comparison.show("a view", True)
    return session


def test_nothing_is_computed_while_no_view_shows_it(session):
    c = session.comparison
    c.target = "q4_0"
    assert c.other is None and c.kl is None
    c.show("next", True)
    assert c.other is not None and c.kl > 0
    c.show("attention", True)
    c.show("next", False)  # another view still shows it
    assert c.active
    c.show("attention", False)
    session.prompt = "JULIET:"
    assert c.other.idx.shape[1] != len(session.ids)  # waits...
    c.show("next", True)
    assert c.other.idx.shape[1] == len(session.ids)  # ...and catches up


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
def test_the_quantized_model(shown, fmt):
    shown.comparison.target = fmt
    quantized, _ = quantize_model(shown.model, fmt, is_block_matrix)
    check_numbers(shown, quantized)
    assert shown.comparison.other_loss > shown.comparison.loss - 0.01
    assert shown.comparison.eval_windows == 32


def test_the_shipped_model_beside_one_learning_and_it_stays_live(shown):
    c = shown.comparison
    c.target = "shipped"
    assert c.kl == pytest.approx(0.0, abs=1e-12) and c.agreement == 1.0
    shown.training.start_from_zero()
    shipped = GPT(shown.training.shipped.model.config,
                  params=shown.training.shipped.model.params)
    check_numbers(shown, shipped)
    loss, kl = c.loss, c.kl
    shown.training.train_once()  # a step: both the figures and the loss follow
    check_numbers(shown, shipped)
    assert c.kl != kl and c.loss != loss and c.other_loss == pytest.approx(
        shown.engine.train.evaluate(shipped, shown.val_tokens, 32, 32))


def test_this_model_when_training_started(shown):
    c = shown.comparison
    c.target = "start"
    assert "Training has not started" in c.reason and c.other is None
    before = {n: p.copy() for n, p in shown.model.params.items()}
    shown.training.train_once()
    check_numbers(shown, GPT(shown.config, params=before))


def test_the_model_learning_from_zero_after_a_reset(shown):
    c = shown.comparison
    c.target = "zero"
    assert "No model has learned from zero" in c.reason
    shown.training.start_from_zero()
    assert "is the one learning from zero" in c.reason
    shown.training.train_once()
    zero = shown.training.zero_model
    shown.reset_weights()
    check_numbers(shown, GPT(zero.config, params=zero.params))


def test_the_model_before_the_code_edit(shown):
    c = shown.comparison
    c.target = "code"
    assert "runs the shipped engine" in c.reason
    source = shipped_sources()["layers.py"].replace(
        "def causal_mask(", "def _shipped_mask(") + (
        "\ndef causal_mask(Tq, Tk):\n    return np.ones((Tq, Tk), dtype=bool)\n")
    shown.use_engine(load_engine({"layers.py": source}))  # attention may look ahead
    check_numbers(shown, GPT(shown.config, params=shown.model.params))
    assert c.kl > 0.01


def test_an_opened_file_and_models_that_cannot_be_compared(shown):
    c = shown.comparison
    c.target = "file"
    assert "No model has been opened" in c.reason
    tok = CharTokenizer.from_text("abcdefgh ijk\n")
    small = random_model(GPTConfig(tok.vocab_size, 16, 2, 2, 32), dtype=np.float32)
    assert shown.opened.open("small.zip", weights_zip(small, tok))
    check_numbers(shown, small)
    c.target = "shipped"
    assert "reads 77 tokens and this model 14" in c.reason and c.other is None
    shipped = shown.training.shipped
    short = random_model(GPTConfig(77, 32, 3, 4, 64), dtype=np.float32)
    assert shown.opened.open("short.zip", weights_zip(short, shipped.tokenizer))
    assert "sees 64 tokens of context and this model 32" in c.reason
    same = GPT(shipped.model.config, params={n: p * 1.01 for n, p in
                                             shipped.model.params.items()})
    assert shown.opened.open("same.zip", weights_zip(same, CharTokenizer(
        [*shipped.tokenizer.chars[1:], shipped.tokenizer.chars[0]])))
    assert "reads 77 tokens and this model 77, but other ones" in c.reason


def test_the_parts_draw_both_models_and_say_when_a_head_is_missing(session):
    nxt = NextTokenComparison(session=session, active=True)
    att = AttentionComparison(session=session, active=True)
    c = session.comparison
    c.target = "q8_0"
    p, q = nxt.source.data["p_this"], nxt.source.data["p_other"]
    assert len(p) == 12 and np.all(np.diff(np.maximum(p, q)) <= 1e-12)
    np.testing.assert_allclose(max(q), c.other.probs[0, -1].max())
    assert "KL(this ‖ other), next token" in nxt._numbers.object
    assert "no attention weight differs by more than" in att._caption.object
    tok = session.training.shipped.tokenizer
    small = random_model(GPTConfig(77, 64, 1, 2, 32), dtype=np.float32)
    session.layer, session.head = 2, 3
    assert session.opened.open("small.zip", weights_zip(small, tok))  # bounds: block 0 now
    c.target = "shipped"
    session.layer, session.head = 0, 1
    assert "no attention weight differs" in att._caption.object
    assert "its heads all on: the shapes differ" in att._caption.object
    nxt.active = att.active = False
    assert not c.active
