"""Training plays whatever view is shown, until the reader pauses it; the views follow it as
often as the page can draw. No server here: the clocks' callbacks never fire, so the tests
tick them (a tick is exactly what the running clock does)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.lab.page import Lab
from app.session.clock import Clock
from app.views.parts.training_note import TrainingNote


@pytest.fixture
def lab(session):
    lab = Lab(session=session)
    lab.view = "training"
    return lab


def test_training_goes_on_in_another_view_and_comes_back_to_the_training_view(lab):
    s, training = lab.session, lab.session.training
    s.clock.playing = True  # Train, in the Training view
    s.clock.tick()
    lab.view = "attention"
    assert training.clock.playing and not s.clock.playing and training.playing
    version, steps = s.weights_version, len(training.history)
    training.clock.tick()
    assert len(training.history) == steps + 1 and s.weights_version > version
    assert lab.views["attention"].active
    lab.view = "training"  # its Play shows that training plays, and plays it from here
    assert s.clock.playing and not training.clock.playing
    s.clock.tick()
    assert len(training.history) == steps + 2
    s.clock.toggle()  # the space bar, in the Training view: pause
    assert not training.playing


def test_play_in_another_view_animates_it_while_training_goes_on(lab):
    s, training = lab.session, lab.session.training
    s.clock.playing = True
    lab.view = "next"
    prompt = s.prompt
    s.clock.toggle()  # the space bar: the view's animation
    assert s.clock.playing and training.clock.playing
    s.clock.tick()
    training.clock.tick()
    assert s.clock.stage == "embedding"
    s.clock.frame = len(s.clock.stages) - 1  # on to the last stage: the next tick samples
    s.clock.tick()
    training.clock.tick()
    assert len(s.prompt) == len(prompt) + 1 and len(training.history) == 2
    s.clock.toggle()
    assert not s.clock.playing and training.playing  # pausing the view leaves training be


def test_the_note_above_other_views_says_training_goes_on_and_pauses_it(lab):
    s, training = lab.session, lab.session.training
    note = TrainingNote(session=s)
    assert not note._layout.visible
    s.clock.playing = True
    lab.view = "embedding"
    training.clock.tick()
    assert note._layout.visible
    text = note._text.object
    assert "Training goes on" in text and "(1 step so far" in text and "as it is now" in text
    assert "stage by stage" in text  # what Play animates in this view
    pause = next(b for b in note._layout.objects if getattr(b, "label", "").endswith("Pause "
                                                                                   "training"))
    pause.clicks += 1
    assert not training.playing and not note._layout.visible
    lab.view = "training"
    assert not s.clock.playing  # comes back paused


def test_views_follow_only_when_the_page_can_draw_and_a_pause_shows_the_last_step(lab):
    s, training = lab.session, lab.session.training
    ready = [False]
    s.clock.page_ready = lambda: ready[0]
    s.clock.playing = True
    versions = (training.history_version, s.weights_version)
    for _ in range(3):
        assert s.clock.tick() is False  # the clock need not wait for the page
    assert len(training.history) == 3  # the weights changed three times ...
    assert (training.history_version, s.weights_version) == versions  # ... unseen
    ready[0] = True
    s.clock.tick()  # the page can draw: this tick shows the last step and takes none
    assert len(training.history) == 3 and training.train_step.step == 2
    assert training.history_version > versions[0] and s.weights_version > versions[1]
    ready[0] = False
    s.clock.tick()
    s.clock.playing = False  # a pause shows the step the page had no time for
    assert training.train_step.step == 3
    trace = s.trace
    s.clock.playing = True
    s.clock.playing = False  # nothing new to show: nothing redrawn
    assert s.trace is trace


def test_everything_that_installs_a_model_pauses_training_in_every_view(lab):
    s, training = lab.session, lab.session.training
    s.clock.playing = True
    lab.view = "tokens"
    assert training.playing
    s.reset_weights()
    assert not training.playing and not s.clock.playing
    training.clock.playing = True
    training.start_from_zero()
    assert not training.playing


def test_a_diverging_step_in_another_view_stops_training_and_says_why(lab):
    s, training = lab.session, lab.session.training
    training.learning_rate = 10.0
    s.clock.playing = True
    lab.view = "attention"
    for _ in range(30):
        training.clock.tick()
        if not training.playing:
            break
    assert not training.playing and "diverged" in s.message


def test_training_keeps_the_speed_the_page_is_set_to(session):
    session.clock.speed, session.clock.fastest = 7.5, True
    assert (session.training.clock.speed, session.training.clock.fastest) == (7.5, True)


def test_a_tick_that_draws_when_it_likes_does_not_wait_for_the_page():
    waited = []

    async def pace():
        waited.append(True)

    async def two_ticks():
        for result in (False, None):
            clock = Clock(on_tick=lambda result=result: result)
            clock.pace = pace
            await clock._tick_safely()

    asyncio.run(two_ticks())
    assert waited == [True]  # only the animation's tick (None) waited


def test_the_quantized_models_losses_follow_training_every_few_steps(lab, monkeypatch):
    """Two passes over 4,096 tokens a redraw would hold the view back: while training plays
    they are measured every LOSSES_EVERY steps, the quantized probabilities every redraw;
    a pause catches up."""
    from app.session import quantization
    from app.session.quantization import QuantizationLab

    monkeypatch.setattr(quantization, "LOSSES_EVERY", LOSSES_EVERY := 3)  # fewer steps here
    s, training = lab.session, lab.session.training
    quantized = QuantizationLab(session=s, active=True)
    s.clock.playing = True
    losses, probs = [], []
    for _ in range(LOSSES_EVERY + 1):
        s.clock.tick()
        losses.append(quantized.quant_loss)
        probs.append(quantized.quant_probs)
    assert len(set(losses)) == 2 and losses[0] != losses[LOSSES_EVERY]  # at steps 0 and 10
    assert len({p.tobytes() for p in probs}) == LOSSES_EVERY + 1
    s.clock.tick()
    last = quantized.float_loss
    s.clock.playing = False
    assert quantized.float_loss != last and not training.playing
