"""The lab's session and views, without a browser: state flows engine -> trace -> views."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.lab.page import VIEWS, Lab
from app.session.loader import load_session
from tests.support.models import WEIGHTS_TINY


@pytest.fixture
def lab(session):
    """A lab on its first view; a test builds the views it needs by showing them."""
    return Lab(session=session)


@pytest.fixture
def every_view(lab):
    """The lab with every view built once, as a reader clicking through would."""
    for key in VIEWS:
        lab.view = key
    return lab


def test_every_view_builds_and_shows_the_session(every_view):
    for key, (title, cls, mode) in VIEWS.items():
        every_view.view = key
        assert isinstance(every_view._views[key], cls)
        assert every_view._shown.objects and every_view.session.mode == mode, title


def test_views_never_run_the_model_themselves(every_view, forward_calls):
    s = every_view.session
    s.temperature, s.top_k, s.top_p = 1.3, 5, 0.9
    s.layer, s.head, s.query = 2, 3, 4
    s.tokenizer_view = "bpe"
    assert forward_calls == []  # sampling settings and view choices reuse the trace
    s.prompt = "JULIET:\nO Romeo"
    assert len(forward_calls) == 1  # one forward pass for all eight views
    s.heads_off = [(0, 1)]
    assert len(forward_calls) == 3  # with a head off: the masked pass and the baseline


def test_a_training_step_updates_loss_history_weights_and_trace(lab):
    s = lab.session
    lab.view = "training"
    trace, version = s.trace, s.weights_version
    before = s.model.params["h.0.attn.c_attn.w"].copy()
    report = s.training.train_once()
    assert report is not None and report.step == 0
    assert s.training.history == [(0, report.loss)] and len(s.training.val_history) == 1
    assert s.trace is not trace and s.weights_version > version
    assert not np.array_equal(before, s.model.params["h.0.attn.c_attn.w"])
    training = lab._views["training"]
    assert list(training.loss_source.data["loss"]) == [report.loss]
    assert len(training.norm_source.data["norm"]) == len(s.model.params)


def test_stepping_walks_the_five_phases_and_only_the_last_changes_weights(lab):
    s = lab.session
    lab.view = "training"
    clock = s.clock
    w = s.model.params["wte"].copy()
    stages = []
    for _ in range(5):
        clock.tick()
        stages.append(clock.stage)
        if clock.stage != "update":
            np.testing.assert_array_equal(w, s.model.params["wte"])
    assert stages == ["batch", "forward", "loss", "backward", "update"]
    assert not np.array_equal(w, s.model.params["wte"]) and len(s.training.history) == 1


def test_the_generate_timeline_ends_by_appending_a_sampled_token(lab):
    s = lab.session
    lab.view = "attention"
    prompt = s.prompt
    stages = list(s.clock.stages)
    assert stages[0] == "tokens" and stages[-1] == "sample"
    for _ in range(len(stages)):
        s.clock.tick()
    assert s.clock.frame == 0 and len(s.prompt) == len(prompt) + 1
    assert s.prompt[-1] == s.sampled.piece and s.next_probs[s.sampled.token] > 0
    assert {f"block {i} attention" for i in range(3)} <= set(stages)


def test_generation_is_seeded(session):
    session.seed = 7
    start = session.prompt
    first = [session.generate_token().token for _ in range(5)]
    session.prompt = start
    assert [session.generate_token().token for _ in range(5)] == first


def test_bad_prompts_give_visible_notes(session):
    session.prompt = ""
    assert "empty" in session.prompt_notes[0] and session.ids
    session.prompt = "naïve €uro"
    assert any("not in the model's vocabulary" in n for n in session.prompt_notes)
    session.prompt = "x" * 200
    assert any("sees only the last 64" in n for n in session.prompt_notes)
    assert len(session.ids) == 64


def test_a_diverging_learning_rate_stops_with_a_message_and_the_lab_goes_on(lab):
    s = lab.session
    lab.view = "training"
    s.training.learning_rate = 10.0
    for _ in range(30):
        if s.training.train_once() is None:
            break
    assert "diverged" in s.message and not s.clock.playing
    assert all(np.isfinite(p).all() for p in s.model.params.values())
    s.training.learning_rate = 1e-3
    assert s.training.train_once() is not None and s.message == ""


def test_training_a_new_model_on_pasted_text_and_resetting(session):
    text = "the cat sat on the mat. " * 40
    session.training.train_on_text(text)
    assert session.config.vocab_size == len(set(text)) + 1 and session.corpus == text
    report = session.training.train_once()
    assert report is not None and report.loss > 1.0
    session.training.train_on_text("too short")
    assert "at least" in session.message
    session.reset_weights()
    assert session.config.vocab_size == 77 and session.training.history == []


def test_two_sessions_are_independent(corpus_text):
    a = load_session(WEIGHTS_TINY, corpus=corpus_text[:20_000])
    b = load_session(WEIGHTS_TINY, corpus=corpus_text[:20_000])
    a.prompt = "KING:\n"
    a.training.train_once()
    assert b.prompt != a.prompt and b.training.history == []
    assert not np.array_equal(a.model.params["wte"], b.model.params["wte"])


def test_a_failing_callback_becomes_a_plain_message(lab):
    lab._show_error(RuntimeError("<b>boom</b>"))
    assert "Something went wrong (RuntimeError" in lab.session.message
    assert "&lt;b&gt;boom&lt;/b&gt;" in lab._notes.object  # escaped, never raw HTML
