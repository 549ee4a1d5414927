"""Training in the static page, with Python in Pyodide: it goes on in every view until the
reader pauses it, the worker keeps stepping while the page draws, and it sends the page one
patch at a time. On the one booted lab (tests/browser/conftest.py); what is changed here is
put back (the shipped weights, the transport's speed)."""

from __future__ import annotations

import json

from tests.support.browser import screenshot
from tests.support.pyodide import app, python, wait_in_worker

SESSION = "bridge.lab.session"
STATE = (f"import json; s = {SESSION}\n"
         "json.dumps([len(s.training.history), s.mode, s.clock.playing,"
         " s.training.clock.playing])")
# the most patches the page has held at once, received but not yet painted, sampled per
# frame (the answer to a reader's click goes out at once; what training draws, one at a time)
WATCH = """(() => {
  window.__held = 0;
  const sample = () => {
    __held = Math.max(__held, napkin.log.patches - napkin.log.painted);
    window.__watching = requestAnimationFrame(sample);
  };
  sample();
})()"""


def state(page) -> list:
    return json.loads(python(page, STATE))


def show(page, button: str, text: str) -> None:
    app(page).get_by_role("button", name=button, exact=True).click()
    app(page).get_by_text(text).first.wait_for(timeout=120_000)


def test_training_goes_on_in_every_view_until_paused(lab):
    errors = len(lab.evaluate("napkin.log.errors"))  # the shared lab's, from earlier tests
    show(lab, "Training", "Step one phase")
    fastest = app(lab).get_by_role("button", name="as fast as it can")
    fastest.click()  # the words themselves: the whole toggle is the button
    wait_in_worker(lab, f"{SESSION}.clock.fastest", 30)
    train = app(lab).get_by_role("button", name="▶ Train / ❚❚ Pause")
    train.click()
    wait_in_worker(lab, f"len({SESSION}.training.history) >= 3", 120)
    for button, text in (("Attention", "attends most to"), ("Embedding", "row"),
                         ("Next token", "Likeliest next token")):
        show(lab, button, text)
        app(lab).get_by_text("Training goes on").first.wait_for(timeout=60_000)
        lab.wait_for_function("napkin.log.patches === napkin.log.painted", timeout=60_000)
        lab.evaluate(WATCH)  # from a moment the page has painted all (the click's answer too)
        steps, painted = state(lab)[0], lab.evaluate("napkin.log.painted")
        wait_in_worker(lab, f"len({SESSION}.training.history) >= {steps + 5}", 120)
        lab.wait_for_function(f"napkin.log.painted >= {painted + 2}", timeout=60_000)
        held = lab.evaluate("cancelAnimationFrame(__watching); __held")
        assert held <= 1, button  # never a second patch before the page painted the first
        _, mode, view_plays, training_plays = state(lab)
        assert (mode, view_plays, training_plays) == ("generate", False, True), button
    screenshot(lab, "pyodide-training-in-another-view")
    show(lab, "Training", "Step one phase")
    assert state(lab)[1:] == ["train", True, False]  # its Play shows training, and plays it
    train.click()
    wait_in_worker(lab, f"not {SESSION}.training.playing", 60)
    steps = state(lab)[0]
    for _ in range(5):  # paused means paused, in every view
        assert state(lab)[0] == steps
    app(lab).get_by_text(f"Step {steps - 1}: batch loss").first.wait_for(timeout=60_000)
    fastest.click()
    wait_in_worker(lab, f"not {SESSION}.clock.fastest", 30)
    app(lab).get_by_role("button", name="Reset to shipped weights").click()
    app(lab).get_by_text("Back to the shipped weights").first.wait_for(timeout=60_000)
    assert lab.errors == [] and lab.evaluate("napkin.log.errors")[errors:] == []
