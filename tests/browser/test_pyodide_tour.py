"""The tour in the static page, with Python in Pyodide: on the one booted lab of the run (the
session-scoped `lab` of conftest.py), every chapter by Next and by its link, its numbers the
session's own, a wrong and a right answer checked in the worker, a link that brings code,
and a phone's first screen. Each test leaves the lab out of the tour, as it found it.

Needs a full Pyodide 0.29.3 distribution (see tests/support/pyodide.py).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from app.lab.code_link import MAX_LINK, encode
from app.session.code_runner import editable, shipped_sources
from app.tour import CHAPTERS
from app.views import VIEWS
from tests.support.browser import SHOWN, painted, screenshot, wait_until
from tests.support.layout import (
    PHONE,
    TOUR_TARGETS,
    first_picture,
    on_first_screen,
    page_width,
    smallest_target,
    smallest_text,
)
from tests.support.pyodide import LINK, app, python, wait_in_worker

TOTAL = len(CHAPTERS)
SOURCES = shipped_sources()
SHIPPED = {name: SOURCES[name] for name in editable(SOURCES)}
MASK = "    att = softmax(np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf))\n"


def at_chapter(page, n: int) -> None:
    app(page).get_by_text(f"Chapter {n} of {TOTAL}", exact=True).wait_for(timeout=180_000)
    app(page).locator(".tour-title", has_text=CHAPTERS[n - 1].title).wait_for(timeout=60_000)
    wait_in_worker(page, f"bridge.lab.tour.chapter == {n}")


def go(page, place: str) -> None:
    """Follow a link within the live lab (it follows its address) and wait for it."""
    page.evaluate(f"location.hash = '{place}'")
    key, value = place.split("=", 1)
    if key == "tour":
        at_chapter(page, int(value))
    else:
        app(page).get_by_text(SHOWN[value]).first.wait_for(timeout=180_000)
    painted(page)


def narration(page) -> str:
    return app(page).locator(".narration").inner_text()


@pytest.fixture
def touring(lab):
    """The shared lab, put back after the test: out of the tour, on the link it opened."""
    prompt = python(lab, "bridge.lab.session.prompt")
    yield lab
    lab.set_viewport_size({"width": 1280, "height": 900})
    python(lab, f"bridge.lab.session.prompt = {prompt!r}")
    go(lab, LINK.lstrip("#").split("&")[0])
    lab.evaluate(f"location.hash = '{LINK}'")
    wait_in_worker(lab, "bridge.lab.tour.chapter == 0 and bridge.lab.view == 'next'")
    assert lab.errors == [] and lab.evaluate("napkin.log.errors") == []


def test_every_chapter_by_next_and_by_its_link(touring):
    lab = touring
    app(lab).get_by_role("button", name="▶ Take the tour").click()
    at_chapter(lab, 1)
    for n in range(2, TOTAL + 1):
        app(lab).get_by_role("button", name="Next ›").click()
        at_chapter(lab, n)
    for n in (TOTAL, 7, 1, 5):  # links: the lab follows its address
        go(lab, f"tour={n}")
        assert lab.evaluate("location.hash") == f"#tour={n}"
        assert python(lab, "bridge.lab.view") == CHAPTERS[n - 1].view
    screenshot(lab, "pyodide-tour-5")


def test_the_narration_is_the_sessions_numbers_and_follows_the_prompt(touring):
    lab = touring
    go(lab, "tour=1")
    box = app(lab).locator("textarea").first
    for prompt in ("KING RICHARD:\nNow is the winter", "JULIET:\nO Romeo, Romeo"):
        box.fill(prompt)
        box.press("Tab")
        wait_in_worker(lab, f"bridge.lab.session.prompt == {prompt!r}")
        ids = json.loads(python(lab, "import json; json.dumps(bridge.lab.session.ids)"))
        wait_until(lab, lambda ids=ids: f"as {len(ids)} tokens" in narration(lab), 60,
                   f"{len(ids)} tokens")
        assert f"is id {ids[0]}" in narration(lab) and f"is id {ids[-1]}" in narration(lab)
        facts = json.loads(python(lab, "import json; json.dumps(bridge.lab.tour.facts)"))
        assert facts["n_tokens"] == len(ids) and facts["first_id"] == ids[0]
    sampling = [c.view == "next" and c.checkpoint is not None for c in CHAPTERS].index(True)
    go(lab, f"tour={sampling + 1}")
    p = python(lab, "float(bridge.lab.session.next_probs.max())")
    wait_until(lab, lambda: f"p = {p:.3f}, and" in narration(lab), 60, f"p = {p:.3f}")


def test_a_wrong_and_a_right_answer_checked_in_the_worker(touring):
    lab = touring
    sampling = [c.view == "next" and c.checkpoint is not None for c in CHAPTERS].index(True)
    go(lab, f"tour={sampling + 1}")
    p1, p2 = json.loads(python(lab, (
        "import json; from engine.sampling import SamplingSettings, next_token_probs\n"
        "from app.tour.flow import other_temperature\n"
        "s = bridge.lab.session; z = s.trace.logits[0, -1]\n"
        "json.dumps([float(next_token_probs(z, SamplingSettings(t)).max()) for t in "
        "(s.temperature, other_temperature(s.temperature))])")))
    right = "rise" if p2 > p1 else "fall" if p2 < p1 else "stay the same"
    wrong = "rise" if right != "rise" else "fall"
    app(lab).get_by_role("button", name=wrong, exact=True).click()
    app(lab).get_by_text("Not quite.").first.wait_for(timeout=60_000)
    app(lab).get_by_role("button", name=right, exact=True).click()
    app(lab).get_by_text("Right.").first.wait_for(timeout=60_000)
    assert f"p = {p1:.3f}" in app(lab).locator(".note.ok", has_text="Right.").inner_text()
    # the causal mask, removed: two tiny models trained in the worker, within its guard
    go(lab, f"tour={TOTAL}")
    started = time.monotonic()
    app(lab).get_by_role("button", name="lower", exact=True).click()
    app(lab).locator(".note", has_text="the one with it").wait_for(timeout=120_000)
    seconds = time.monotonic() - started
    print(f"\nthe mask experiment in Pyodide, answer to verdict: {seconds:.1f} s")
    assert lab.evaluate("napkin.log.restarts") == 0
    verdict = app(lab).locator(".note", has_text="the one with it").inner_text()
    unmasked, masked = map(float, re.search(r"loss of ([\d.]+), the one with it ([\d.]+)",
                                            verdict).groups())
    assert ("Right." in verdict) == (masked - unmasked > 0.1)
    screenshot(lab, "pyodide-tour-mask")


def test_a_link_with_code_is_shown_unrun_then_runs(touring):
    lab = touring
    edited = SHIPPED["layers.py"].replace(MASK, "    att = softmax(scores)  # no mask\n")
    lab.evaluate(f"location.hash = 'tour={TOTAL}&code={encode({'layers.py': edited}, SHIPPED)}'")
    at_chapter(lab, TOTAL)
    app(lab).get_by_text("This link brings code: changes to layers.py").wait_for(
        timeout=60_000)
    app(lab).get_by_text("+    att = softmax(scores)  # no mask").wait_for(timeout=30_000)
    assert python(lab, "len(bridge.lab.session.engine.edited)") == 0  # not run
    assert "code=" not in lab.evaluate("location.hash")
    app(lab).get_by_role("button", name="▶ Run my code").click()
    app(lab).get_by_text("The lab now runs your edited layers.py").first.wait_for(
        timeout=60_000)
    assert python(lab, "','.join(bridge.lab.session.engine.edited)") == "layers.py"
    app(lab).get_by_role("button", name="Reset all").click()
    wait_in_worker(lab, "not bridge.lab.session.engine.edited")


@pytest.mark.parametrize(("code", "says"), [
    ("1.eJzLSM3JyQcABiwCFQ", "damaged"),
    ("1." + "A" * (MAX_LINK + 10), f"at most {MAX_LINK:,}"),
])
def test_a_damaged_or_too_long_code_link_opens_the_lab_without_it(touring, code, says):
    lab = touring
    lab.evaluate(f"location.hash = 'view=code&code={code}'")
    app(lab).get_by_text(says).first.wait_for(timeout=60_000)
    app(lab).get_by_text("The lab opened without it").first.wait_for(timeout=10_000)
    assert python(lab, "len(bridge.lab.views['code'].edits)") == 0


def test_a_phones_first_screen_shows_the_picture_in_every_chapter_and_view(touring):
    lab = touring
    lab.set_viewport_size(PHONE)
    places = [f"tour={n}" for n in range(1, TOTAL + 1)] + [f"view={key}" for key in VIEWS]
    for place in places:
        go(lab, place)
        lab.evaluate("window.scrollTo(0, 0)")
        screenshot(lab, f"pyodide-phone-{place.replace('=', '-')}")
        assert on_first_screen(lab, PHONE["height"]), (place, first_picture(lab))
        assert page_width(lab) <= PHONE["width"], place
        size, text = smallest_text(lab)
        assert size >= 16, f"{place}: '{text}' is {size} px"
        height, label = smallest_target(lab, TOUR_TARGETS)
        assert height >= 44, f"{place}: '{label}' is {height} px high"
