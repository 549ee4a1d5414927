"""The logit lens, head roles, learning from zero and the recurrence contrast in the static
page, with Python really in Pyodide: one build, one boot, checked in Chromium.

Needs a full Pyodide 0.29.3 distribution in NAPKIN_PYODIDE_DIST (see test_pyodide_e2e.py,
whose site fixture this file shares; without the variable both are skipped, saying so).
"""

from __future__ import annotations

import json
import math

import pytest

from tests import test_pyodide_e2e
from tests.conftest import local_page, screenshot
from tests.test_pyodide_e2e import app, python, settled

pytestmark = pytest.mark.browser
site = test_pyodide_e2e.site  # the same fixture: the site built with --self-host, served
TRAIN_MS = 12_000  # training from zero, as fast as it can, before pausing


@pytest.fixture(scope="module")
def lab(browser, site):
    """One live lab for the module, opened on the residual view."""
    page = local_page(browser)
    page.goto(site.url + "index.html#view=residual")
    assert settled(page) == "ready", page.inner_text("#error-text")
    yield page
    assert page.outside == []
    page.context.close()


def go(page, button: str, text: str) -> None:
    app(page).get_by_role("button", name=button, exact=True).click()
    app(page).get_by_text(text).first.wait_for(timeout=120_000)


def test_the_logit_lens_reads_the_live_trace(lab):
    app(lab).get_by_text("the model guesses").first.wait_for(timeout=120_000)
    gap = python(lab, "import numpy; v = bridge.lab.views['residual']; s = v.session\n"
                      "r = v.lens.reading\n"
                      "float(abs(r.probs[-1] - s.trace.probs[0, s.query_position]).max())")
    assert gap < 1e-6  # the last depth is the model's own prediction, in the worker
    screenshot(lab, "pyodide-features-lens")


def test_head_roles_are_measured_in_the_worker_and_a_short_prompt_is_explained(lab):
    go(lab, "Attention", "Measured on a random sequence of 32 distinct characters")
    scores = json.loads(python(lab, (
        "import json, numpy; from engine.heads import head_scores\n"
        "roles = bridge.lab.views['attention'].roles; s = roles.session\n"
        "fresh = head_scores(s.model.forward(roles.sequence())[1])\n"
        "json.dumps([roles.scores.previous.tolist(), fresh.previous.tolist(),"
        " roles.scores.induction.tolist()])")))
    assert scores[0] == scores[1] and len(scores[0]) == 3 and len(scores[0][0]) == 4
    assert all(0 <= x <= 1 for row in scores[2] for x in row)
    app(lab).get_by_role("button", name="the prompt").click()
    box = app(lab).locator("textarea").first
    box.fill("x")
    box.press("Tab")
    app(lab).get_by_text("a head score needs at least 2").first.wait_for(timeout=60_000)
    box.fill("ROMEO:\nBut soft, what light")
    box.press("Tab")
    screenshot(lab, "pyodide-features-heads")


def test_learning_from_zero_trains_in_the_page(lab):
    go(lab, "Training", "Learn from zero")
    app(lab).get_by_role("button", name="Learn from zero").click()
    app(lab).get_by_text("Random weights (seed 0)").first.wait_for(timeout=120_000)
    fastest = app(lab).get_by_text("as fast as it can")
    if fastest.count():  # the transport's fastest setting, where it has one
        fastest.first.click()
    train = app(lab).get_by_role("button", name="▶ Train / ❚❚ Pause")
    train.click()
    lab.wait_for_timeout(TRAIN_MS)
    train.click()
    lab.wait_for_function("napkin.run('bridge.lab.session.clock.playing')"
                          ".then((playing) => !playing)", timeout=60_000)
    steps, per_minute, first_val, milestones = json.loads(python(lab, (
        "import json; s = bridge.lab.session\n"
        "json.dumps([len(s.history), s.steps_per_minute, s.val_history[0][1],"
        " [m.step for m in s.milestones]])")))
    print(f"\nlearning from zero in the page: {steps} steps in about {TRAIN_MS / 1000:g} s, "
          f"{per_minute:.0f} steps a minute (measured by the session while playing)")
    assert steps >= 5 and per_minute > 0
    assert abs(first_val - math.log(77)) < 0.05 and milestones[0] == 0
    app(lab).get_by_text("steps a minute").first.wait_for(timeout=60_000)
    app(lab).get_by_role("button", name="Learn from zero").click()  # twice: kept
    app(lab).get_by_text("already learning from zero").first.wait_for(timeout=60_000)
    screenshot(lab, "pyodide-features-from-zero")


def test_the_recurrence_contrast(lab):
    go(lab, "Scale", "the state is the smaller past 8 tokens")
    assert lab.errors == [] and lab.evaluate("napkin.log.errors") == []
    assert lab.evaluate("napkin.log.restarts") == 0
