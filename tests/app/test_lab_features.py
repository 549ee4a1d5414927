"""The logit lens, head roles, learning from zero and the recurrence contrast in the lab,
without a browser: the session's state objects and the views that draw them."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.session.heads import HeadRoles
from app.session.lens import LogitLens
from app.session.training import FROM_ZERO_LR, SAMPLE_TOKENS, VAL_EVERY, is_milestone
from app.views.attention import AttentionView
from app.views.parts.markup import visible
from app.views.residual import ResidualView
from app.views.scale import ScaleView
from app.views.training import TrainingView
from engine.heads import head_scores
from engine.lens import logit_lens


def text_of(pane) -> str:
    return re.sub(r"<[^>]+>", " ", pane.object)


# ---- logit lens ---------------------------------------------------------------------------

def test_the_lens_decodes_the_sessions_trace_at_the_chosen_position(session, forward_calls):
    lens = LogitLens(session=session)
    assert lens.reading is None  # inactive: nothing computed
    lens.active = True
    expected = logit_lens(session.trace, session.model.params, len(session.ids) - 1)
    np.testing.assert_array_equal(lens.reading.probs, expected.probs)
    np.testing.assert_allclose(lens.reading.probs[-1], session.trace.probs[0, -1], atol=1e-6)
    session.query = 3
    assert lens.reading.position == 3
    assert forward_calls == []  # the trace already holds the stream: no extra pass


def test_the_residual_view_draws_the_lens_with_a_table(session):
    session.prompt = "R&J: O Romeo"  # '&' must come out escaped
    view = ResidualView(session=session, active=True)
    reading = view.lens.reading
    assert len(view.guess_source.data["prob"]) == 7 * 5
    np.testing.assert_allclose(view.final_source.data["prob"], reading.final_probs)
    final = session.pieces([reading.final])[0]
    assert f"p = {reading.final_probs[-1]:.2f}" in view._lens_caption.object
    assert "<td>2.mlp</td>" in view._lens_table.object
    assert repr(visible(final)) in text_of(view._lens_table).replace("&#x27;", "'")
    view.position.slider.value = 1  # the slider picks the position
    assert session.query == 1 and view.lens.reading.position == 1
    assert "After token 1 <b>&#x27;&amp;&#x27;</b>" in view._lens_caption.object  # escaped


# ---- head roles ---------------------------------------------------------------------------

def test_head_roles_run_one_small_pass_only_while_shown(session, forward_calls):
    roles = HeadRoles(session=session)
    assert roles.scores is None and forward_calls == []
    roles.active = True
    assert [shape for _, shape in forward_calls] == [(64,)]  # 32 characters, twice
    idx = roles.sequence()
    expected = head_scores(session.model.forward(idx)[1])
    np.testing.assert_array_equal(roles.scores.previous, expected.previous)
    np.testing.assert_array_equal(roles.scores.induction, expected.induction)
    forward_calls.clear()
    roles.active = False
    session.training.train_once()
    session.heads_off = [(0, 0)]
    assert all(model is session.model and shape != (64,) for model, shape in forward_calls)
    forward_calls.clear()
    roles.active = True  # catches up once: new weights, a head off
    assert [shape for _, shape in forward_calls] == [(64,)]
    masked = head_scores(session.model.forward(idx, head_mask=session.head_mask())[1])
    np.testing.assert_array_equal(roles.scores.induction, masked.induction)
    forward_calls.clear()
    session.prompt = "KING:\n"  # the random sequence does not depend on the prompt
    assert forward_calls and all(shape == (6,) for _, shape in forward_calls)


def test_the_random_sequence_is_fixed_distinct_and_repeated(session):
    roles = HeadRoles(session=session, active=True)
    idx = roles.sequence()
    assert len(idx) == 64 and np.array_equal(idx[:32], idx[32:])
    assert len(set(idx[:32].tolist())) == 32 and session.tokenizer.unknown_id not in idx
    assert np.array_equal(idx, HeadRoles(session=session).sequence())


def test_head_roles_on_the_prompt_and_a_prompt_too_short(session, forward_calls):
    roles = HeadRoles(session=session, source="prompt", active=True)
    assert forward_calls == []  # the session's own attention is scored
    np.testing.assert_array_equal(roles.scores.previous,
                                  head_scores(session.trace).previous)
    session.prompt = "x"
    assert "needs at least 2" in roles.note and np.isnan(roles.scores.previous).all()
    session.prompt = "abcdefg"
    assert "No token of the prompt repeats" in roles.note
    assert not np.isnan(roles.scores.previous).any()
    session.prompt = "the cat, the cat"
    assert roles.note == "" and roles.scores.induction_queries > 0


def test_head_roles_while_training_plays_every_few_steps_and_catch_up_on_pause(session):
    roles = HeadRoles(session=session, every=3, active=True)
    session.mode = "train"
    session.clock.playing = True  # no server: the clock's callback never fires; we tick
    measured = []
    for _ in range(7):
        session.clock.tick()
        measured.append(roles.measured_at)
    assert measured == [0, 0, 3, 3, 3, 6, 6]  # steps taken when last measured
    session.clock.playing = False  # paused between two measurements: catch up
    assert roles.measured_at == 7 and len(session.training.history) == 7


def test_clicking_a_head_in_the_grid_opens_it(session):
    view = AttentionView(session=session, active=True)
    assert view.grid.clickable and not TrainingView(session=session).grid.clickable
    source = view.grid.source
    assert len(source.data["score"]) == 24  # 12 heads, two roles
    np.testing.assert_array_equal(source.data["score"][12:], view.roles.scores.induction.ravel())
    source.selected.indices = [12 + 2 * 4 + 1]  # an induction cell: block 2, head 1
    assert (session.layer, session.head) == (2, 1)
    assert "Block 2, head 1" in view._caption.object
    assert source.selected.indices == [9, 21]  # the head outlined for both roles


# ---- learning from zero -------------------------------------------------------------------

def test_learning_from_zero_starts_at_ln_v_and_records_milestones(session):
    training = session.training
    view = TrainingView(session=session)
    shipped_model = session.model
    training.start_from_zero()
    assert training.from_zero and session.model is not shipped_model
    assert session.config == shipped_model.config and training.learning_rate == FROM_ZERO_LR
    ln_v = math.log(77)
    (step, val), = training.val_history
    assert step == 0 and abs(val - ln_v) < 0.05  # random weights: about uniform
    assert [m.step for m in training.milestones] == [0]
    assert len(training.milestones[0].sample) == SAMPLE_TOKENS
    assert list(view.val_source.data["step"]) == [0]  # the curve starts at ln V at once
    assert "Learning from zero" in view._zero.object
    first = training.train_once()
    assert abs(first.loss - ln_v) < 0.1
    for _ in range(VAL_EVERY - 1):
        training.train_once()
    assert [s for s, _ in training.val_history] == [0, VAL_EVERY]
    assert training.val_history[-1][1] < ln_v - 0.5  # it learnt something
    assert [m.step for m in training.milestones] == [0, VAL_EVERY]
    assert view.shipped.visible and view.shipped.location == 1.833
    labels = [getattr(i.label, "value", i.label) for i in view.loss_plot.legend.items]
    assert "shipped model: validation 1.833" in labels
    assert 1.833 in view.references.data["loss"]  # the axis reaches down to it
    assert f"{VAL_EVERY} steps" in view._zero.object and "8,000 steps" in view._zero.object
    assert "<td>25</td>" in view._milestones.object
    view.loss_numbers.showing_table = True  # the curve as numbers
    mean = np.mean([loss for _, loss in training.history[:VAL_EVERY]])
    assert f"<tr><td>25</td><td>{mean:.3f}</td>" in view._loss_table.object
    assert "<tr><td>0</td><td>–</td><td>" in view._loss_table.object


def test_starting_from_zero_twice_keeps_what_was_learnt(session):
    training = session.training
    training.start_from_zero()
    training.train_once()
    model, history = session.model, list(training.history)
    training.start_from_zero()
    assert "already learning from zero" in session.message and session.message_kind == "error"
    assert session.model is model and training.history == history
    session.reset_weights()
    assert not training.from_zero and training.milestones == []
    training.train_on_text("a b c d. " * 40)
    training.start_from_zero()  # from the reader's text back to the shipped one
    assert training.from_zero and session.config.vocab_size == 77
    assert session.corpus_name == "Shakespeare"


def test_a_step_paused_mid_way_is_finished_not_recomputed(session):
    training = session.training
    session.mode = "train"
    session.clock.tick()  # batch: forward and backward computed
    session.clock.tick()  # forward
    computed = training.train_step
    assert training.history == [] and session.clock.stage == "forward"
    session.clock.playing = True
    session.clock.tick()  # playing again: the computed step is applied
    assert training.train_step.batch is computed.batch and training.history[0][0] == 0
    assert len(training.history) == 1


def test_steps_a_minute_is_measured_only_while_playing(session):
    training = session.training
    session.mode = "train"
    for _ in range(6):
        training.train_once()
    assert training.steps_per_minute is None
    session.clock.playing = True
    for _ in range(6):
        session.clock.tick()
    assert training.steps_per_minute > 0


def test_milestones_are_dense_early():
    assert [s for s in range(1700) if is_milestone(s)] == [0, 25, 50, 100, 200, 400, 800,
                                                               1600]


# ---- recurrence contrast ------------------------------------------------------------------

def test_the_scale_view_contrasts_kv_cache_and_recurrent_state(session):
    view = ScaleView(session=session)
    text = text_of(view._contrast)
    assert "98.3 kB" in text and "12.3 kB" in text  # ours at 64 tokens, float32
    assert "9.66 GB" in text and "302 MB" in text  # GPT-3 at 2,048 tokens, 16-bit
    assert "smaller past 8 tokens and the cheaper past 16" in text
    ours = view.costs["Napkin GPT"].data
    assert ours["kv_bytes"][6] == 2 * 3 * 64 * 64 * 4  # context 2**6 = 64
    assert len(set(ours["rec_bytes"])) == 1  # the same at every length
    assert "<td>1,048,576</td>" in view._cost_tables.object
    flops = ours["rec_flops"][0]
    session.training.train_on_text("abcd efgh. " * 30)  # 10 characters and "�": a smaller LM head
    assert view.costs["Napkin GPT"].data["rec_flops"][0] == flops - 2 * (77 - 11) * 64


# ---- less motion, and what a screen reader is told ----------------------------------------------

def test_a_reader_who_asks_for_less_motion_gets_a_slower_clock_in_every_mode(session):
    from app.session.clock import REDUCED_SPEED

    clock, training_clock = session.clock, session.training.clock
    clock.speed = 4.0
    assert clock._period() == training_clock._period() == 250
    clock.reduced_motion = True  # what the page's ReaderPreferences reports
    assert training_clock.reduced_motion  # training plays on its own clock: it follows
    assert clock._period() == training_clock._period() == round(1000 / REDUCED_SPEED)
    clock.speed = 0.5  # slower than that already: unchanged
    assert clock._period() == 2000
    clock.fastest = True  # asked for by name: as fast as it can
    assert clock._period() == training_clock._period() == 1


def test_a_token_and_a_step_are_announced_and_not_every_frame_while_playing(session):
    from app.lab.announcer import ANNOUNCE_EVERY, Announcer

    announcer = Announcer(session=session)
    seconds = [0.0]
    announcer.now = lambda: seconds[0]
    sampled = session.generate_token()
    said = announcer.region.message
    assert said == f"Generated {visible(sampled.piece)!r}, probability {sampled.prob:.2f}."
    report = session.training.train_once()
    assert announcer.region.message == f"Training step {report.step + 1}: loss {report.loss:.3f}."
    session.clock.playing = True  # now at most once every ANNOUNCE_EVERY seconds
    try:
        seconds[0] += ANNOUNCE_EVERY - 0.1
        session.generate_token()
        assert announcer.region.message.startswith("Training step")  # too soon: not said
        seconds[0] += 0.2
        sampled = session.generate_token()
        assert announcer.region.message.startswith(f"Generated {visible(sampled.piece)!r}")
    finally:
        session.clock.playing = False
