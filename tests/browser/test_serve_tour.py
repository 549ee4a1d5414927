"""The tour in a real browser against `napkin-gpt serve`: every chapter by Next and by its
link, its numbers the model's own (worked out here with the engine, apart from the lab), a
wrong and a right answer, a link that brings code, and the phone: the first picture on the
first screen of every chapter and view, nothing sideways, text of 16 px, fingers' targets."""

from __future__ import annotations

import numpy as np
import pytest

from app.lab.code_link import MAX_LINK, encode
from app.session.code_runner import editable, shipped_sources
from app.session.session import DEFAULT_PROMPT
from app.tour import CHAPTERS
from app.tour.flow import other_temperature
from app.views import VIEWS
from engine.sampling import SamplingSettings, next_token_probs
from tests.support.browser import SHOWN, painted, screenshot, wait_until
from tests.support.layout import (
    SMALL_PHONE,
    TOUR_TARGETS,
    first_picture,
    on_first_screen,
    page_width,
    smallest_target,
    smallest_text,
)
from tests.support.serve import open_lab, set_prompt

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

TOTAL = len(CHAPTERS)
SOURCES = shipped_sources()
SHIPPED = {name: SOURCES[name] for name in editable(SOURCES)}
MASK = "    att = softmax(np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf))\n"


def at_chapter(page, n: int) -> None:
    page.get_by_text(f"Chapter {n} of {TOTAL}", exact=True).wait_for(timeout=30_000)
    page.locator(".tour-title", has_text=CHAPTERS[n - 1].title).wait_for(timeout=10_000)


def go(page, place: str) -> None:
    """Follow a link within the open lab (the lab follows its address) and wait for it."""
    page.evaluate(f"location.hash = '{place}'")
    key, value = place.split("=")
    if key == "tour":
        at_chapter(page, int(value))
    else:
        page.get_by_text(SHOWN[value]).first.wait_for(timeout=30_000)
    painted(page)


def narration(page) -> str:
    return page.locator(".narration").inner_text()


def next_token(shipped, prompt: str, temperature: float) -> tuple[int, float, float]:
    """The likeliest next token of the shipped model after `prompt`, its probability at
    `temperature` and at the tour's other temperature: the engine's own arithmetic."""
    ids = shipped.tokenizer.encode(prompt)
    logits = shipped.model.forward(np.array(ids))[0][-1]

    def top(t):
        return next_token_probs(logits, SamplingSettings(t)).max()

    return int(np.argmax(logits)), top(temperature), top(other_temperature(temperature))


# ---- every chapter -----------------------------------------------------------------------------

def test_every_chapter_by_its_link_and_the_pages_turned_by_next_and_the_keys(page, lab_url):
    """(Next through every chapter: the static page's tour test.)"""
    open_lab(page, lab_url)
    page.get_by_role("button", name="▶ Take the tour").click()
    at_chapter(page, 1)
    assert "tour=1" in page.evaluate("location.hash")
    page.get_by_role("button", name="Next ›").click()
    at_chapter(page, 2)
    for n in range(1, TOTAL + 1):
        page.goto(f"{lab_url}#tour={n}")
        at_chapter(page, n)
        assert page.evaluate("location.hash") == f"#tour={n}"
    assert page.get_by_role("button", name="Next ›").is_disabled()
    page.keyboard.press("ArrowLeft")  # the keys turn the pages too
    at_chapter(page, TOTAL - 1)
    page.get_by_role("button", name="Leave the tour").click()
    page.get_by_role("button", name="▶ Take the tour").wait_for(timeout=10_000)
    assert not page.locator(".tour-count").is_visible()
    assert page.errors == [] and page.outside == []


def test_the_narration_is_the_models_own_numbers_and_follows_the_prompt(page, lab_url,
                                                                        shipped):
    page.goto(f"{lab_url}#tour=1")
    at_chapter(page, 1)
    for prompt in (DEFAULT_PROMPT, "KING RICHARD:\nNow is the winter of our discontent"):
        set_prompt(page, prompt)
        ids = shipped.tokenizer.encode(prompt)
        wait_until(page, lambda ids=ids: f"as {len(ids)} tokens" in narration(page), 15,
                   f"{len(ids)} tokens in the narration")
        assert f"is id {ids[0]}" in narration(page) and f"is id {ids[-1]}" in narration(page)
    page.goto(f"{lab_url}#tour={[c.view for c in CHAPTERS].index('next') + 1}"
              f"&prompt=KING%20RICHARD%3A%0ANow&temperature=0.6")
    top, p, _ = next_token(shipped, "KING RICHARD:\nNow", 0.6)
    wait_until(page, lambda: f"p = {p:.3f}, and" in narration(page), 20, f"p = {p:.3f}")
    assert f"'{shipped.tokenizer.decode([top])}'".replace(" ", "␣") in narration(page)
    assert page.errors == []


def test_a_wrong_and_a_right_answer(page, lab_url, shipped):
    sampling = [c.view == "next" and c.checkpoint is not None for c in CHAPTERS].index(True)
    page.goto(f"{lab_url}#tour={sampling + 1}")
    at_chapter(page, sampling + 1)
    _, p1, p2 = next_token(shipped, DEFAULT_PROMPT, 0.8)
    right = "rise" if p2 > p1 else "fall" if p2 < p1 else "stay the same"
    wrong = "rise" if right != "rise" else "fall"
    page.get_by_role("button", name=wrong, exact=True).click()
    page.get_by_text("Not quite.").wait_for(timeout=15_000)
    page.get_by_role("button", name=right, exact=True).click()
    page.get_by_text("Right.").wait_for(timeout=15_000)
    assert f"p = {p1:.3f}" in page.locator(".note.ok").inner_text()
    # one head: the token it attends to most, picked among the prompt's
    head = [c.section for c in CHAPTERS].index("steps") + 1
    page.goto(f"{lab_url}#tour={head}")
    at_chapter(page, head)
    att = shipped.model.forward(np.array(shipped.tokenizer.encode(DEFAULT_PROMPT)))[1]
    strongest = int(np.argmax(att.blocks[0].att[0, 0, -1]))
    choices = page.locator("button.choice")
    choices.nth((strongest + 1) % choices.count()).click()
    page.get_by_text("Not quite.").wait_for(timeout=15_000)
    choices.nth(strongest).click()
    page.get_by_text("Right.").wait_for(timeout=15_000)
    screenshot(page, "tour-answered")
    assert page.errors == []


# ---- a link that brings code -------------------------------------------------------------------

def test_a_link_with_code_is_shown_unrun_then_runs_on_the_readers_click(page, lab_url):
    edited = SHIPPED["layers.py"].replace(MASK, "    att = softmax(scores)  # no mask\n")
    code = encode({"layers.py": edited}, SHIPPED)
    page.goto(f"{lab_url}#tour={TOTAL}&code={code}")
    at_chapter(page, TOTAL)
    page.get_by_text("This link brings code: changes to layers.py").wait_for(timeout=20_000)
    page.get_by_text("+    att = softmax(scores)  # no mask").wait_for(timeout=10_000)
    page.get_by_text("Running: the shipped engine").wait_for(timeout=10_000)  # not run
    assert "The lab runs the shipped engine." in narration(page)
    assert "code=" not in page.evaluate("location.hash")
    screenshot(page, "tour-code-link")
    page.get_by_role("button", name="▶ Run my code").click()
    page.get_by_text("The lab now runs your edited layers.py").first.wait_for(timeout=60_000)
    wait_until(page, lambda: "runs your edited layers.py" in narration(page), 15, "narrated")
    page.get_by_role("button", name="Reset all").click()
    page.get_by_text("Back to the shipped engine").first.wait_for(timeout=30_000)
    assert page.errors == [] and page.outside == []


@pytest.mark.parametrize(("code", "says"), [
    ("1.eJzLSM3JyQcABiwCFQ", "damaged"),
    ("1." + "A" * (MAX_LINK + 10), f"at most {MAX_LINK:,}"),
])
def test_a_damaged_or_too_long_code_link_opens_the_lab_without_it(page, lab_url, code, says):
    page.goto(f"{lab_url}#view=code&code={code}")
    page.get_by_text(says).first.wait_for(timeout=30_000)
    page.get_by_text("The lab opened without it").first.wait_for(timeout=10_000)
    page.get_by_text("Edited here: nothing yet").wait_for(timeout=10_000)
    assert page.errors == []


# ---- a phone: picture first ---------------------------------------------------------------------

def test_a_small_phones_first_screen_shows_the_picture_in_every_chapter_and_view(page, lab_url):
    """At 360 × 740; the static page's test does the same at 390 × 844."""
    size = SMALL_PHONE
    page.set_viewport_size(size)
    page.goto(lab_url + "#tour=1")
    at_chapter(page, 1)
    places = [f"tour={n}" for n in range(1, TOTAL + 1)] + [f"view={key}" for key in VIEWS]
    for place in places:
        go(page, place)
        page.evaluate("window.scrollTo(0, 0)")
        box = first_picture(page)
        assert on_first_screen(page, size["height"]), f"{place}: first picture at {box}"
        assert page_width(page) <= size["width"], f"{place}: {page_width(page)} px wide"
        size_px, text = smallest_text(page)
        assert size_px >= 16, f"{place}: '{text}' is {size_px} px"
        height, label = smallest_target(page, TOUR_TARGETS)
        assert height >= 44, f"{place}: '{label}' is {height} px high"
    assert page.errors == [] and page.outside == []


def test_an_embed_shows_the_picture_first_and_it_fits_the_frame(page, lab_url):
    page.set_viewport_size({"width": 800, "height": 600})  # a 4:3 iframe 800 px wide
    page.goto(lab_url + "embed#view=attention")
    page.get_by_text("attends most to").wait_for(timeout=30_000)
    for place in [f"view={key}" for key in VIEWS] + ["tour=5", "tour=9"]:
        go(page, place)
        box = first_picture(page)
        assert page_width(page) <= 800, place
        if place == "view=code":  # the editor scrolls: it need only start in the frame
            assert on_first_screen(page, 600), f"{place}: {box}"
        else:
            assert box["top"] >= 0 and box["bottom"] <= 600, f"{place}: {box}"
        screenshot(page, f"embed-{place.replace('=', '-')}")
    assert page.errors == [] and page.outside == []
