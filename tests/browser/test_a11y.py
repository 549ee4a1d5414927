"""The lab for screen readers, keyboards and reduced motion, in Chromium.

axe-core (tests/support/axe.py) audits, with no violation of impact serious or critical
allowed: every view, the tour (its first chapter and one that asks a question) and the embed
page under `napkin-gpt serve`; the static page's live lab in Pyodide (the shared `lab`, four
views); and the static page's snapshot before Python starts. The counts per place and rule
are printed. Then the keys: the lab's shortcuts never take a key from a text field, the code
editor or a slider, and the focus is seen; a reader who asks for less motion is told, and
can still step by hand; a generated token is announced politely.
"""

from __future__ import annotations

import pytest

from app.tour import CHAPTERS
from app.views import VIEWS
from tests.support import axe
from tests.support.browser import SHOWN, local_page, painted, wait_until
from tests.support.pyodide import LINK, app, python, wait_in_worker
from tests.support.serve import open_lab, prompt_box

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

PLAY = "▶ Play / ❚❚ Pause"
STATIC_VIEWS = ["attention", "next", "training", "code"]
ASKS = [c.view == "next" and c.checkpoint is not None for c in CHAPTERS].index(True) + 1


@pytest.fixture(scope="module", autouse=True)
def axe_installed():
    if not axe.axe_script().is_file():
        pytest.skip(axe.MISSING)


def go(page, place: str, scope=None) -> None:
    """Follow a link within the open lab (it follows its address) and wait until it drew."""
    scope = scope or page
    page.evaluate(f"location.hash = '{place}'")
    key, value = place.split("=", 1)
    if key == "tour":
        scope.get_by_text(f"Chapter {value} of {len(CHAPTERS)}",
                          exact=True).wait_for(timeout=60_000)
    else:
        scope.get_by_text(SHOWN[value]).first.wait_for(timeout=60_000)
    painted(page)


def audit_places(page, places: list[str], prefix: str = "", scope=None) -> dict:
    """Audit each place in turn; the stylesheet rules once, on the first."""
    found = {}
    for n, place in enumerate(places):
        go(page, place, scope)
        found[prefix + place] = axe.audit(page, stylesheets=n == 0)
    return found


def report(found: dict) -> None:
    print("\naxe-core " + axe.AXE_VERSION + ", serious and critical violations:\n"
          + axe.table({place: axe.counts(v) for place, v in found.items()}))
    bad = {place: axe.explain(v) for place, v in found.items() if v}
    assert bad == {}


# ---- axe-core: 0 serious or critical violations ------------------------------------------------


def test_every_view_the_tour_and_the_embed_under_serve_pass_axe(browser, lab_url):
    """Every view; the tour's own parts (its header, narration, question and footer) in
    two chapters, its first and one with a question (each chapter shows a section of a view
    audited here); the embed page in two views (the same views, without the page's header
    and list of views)."""
    page = local_page(browser)
    page.goto(lab_url + "#view=attention")
    page.get_by_text("attends most to").wait_for(timeout=30_000)
    found = audit_places(page, [f"view={key}" for key in VIEWS] + ["tour=1", f"tour={ASKS}"])
    embed = local_page(browser)
    embed.goto(lab_url + "embed#view=attention")
    embed.get_by_text("attends most to").wait_for(timeout=30_000)
    found |= audit_places(embed, ["view=attention", "view=next"], prefix="embed ")
    assert page.errors == embed.errors == [] and page.outside == embed.outside == []
    page.context.close()
    embed.context.close()
    report(found)


def test_the_static_page_before_python_passes_axe(visit):
    """The snapshot the static page shows while Python loads (here it never comes: the npm
    core has no numpy), then the page that says so."""
    v = visit()
    v.page.goto(v.base + "index.html#view=attention", wait_until="commit")
    v.page.locator('[data-view="attention"]').wait_for(state="visible", timeout=10_000)
    found = {"snapshot": axe.audit(v.page, stylesheets=True)}
    assert v.settled() == "error"
    found["snapshot, Python failed"] = axe.audit(v.page)
    report(found)


def test_the_live_static_lab_passes_axe(lab):
    """The live lab in the static page: the page around it and the lab drawn through the
    worker, in four views (the serve test above audits every view; the lab's parts are the
    same Python in both)."""
    try:
        found = audit_places(lab, [f"view={key}" for key in STATIC_VIEWS], scope=app(lab))
    finally:
        lab.evaluate(f"location.hash = '{LINK}'")
        wait_in_worker(lab, "bridge.lab.tour.chapter == 0 and bridge.lab.view == 'next'")
    report(found)


# ---- the keyboard ------------------------------------------------------------------------------


def playing(page) -> bool:
    return "bk-active" in page.get_by_role("button", name=PLAY).get_attribute("class")


def test_keys_typed_in_a_field_a_slider_or_the_editor_stay_there(page, lab_url):
    open_lab(page, lab_url)
    box = prompt_box(page)
    before = box.input_value()
    box.click()
    page.keyboard.press("End")
    page.keyboard.press(" ")  # a space in the prompt box is a space, not Play
    assert box.input_value() == before + " "
    block = page.get_by_role("slider", name="Block")
    block.focus()
    page.keyboard.press("ArrowRight")  # moves the slider, not the animation
    page.get_by_text("Block 1, head 0: token").wait_for(timeout=15_000)
    assert page.locator(".stage.active").inner_text() == "tokens"
    assert not playing(page)
    page.get_by_role("button", name="Code", exact=True).click()
    page.get_by_text("Running: the shipped engine").wait_for(timeout=15_000)
    page.locator(".ace_content").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.press(" ")  # a space in the code editor is a space in the code
    page.get_by_text("Edited here: layers.py").wait_for(timeout=10_000)
    assert not playing(page)
    assert page.errors == []


DEEP_FOCUS = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  const style = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || el.getAttribute('aria-label') || '').trim()
            .slice(0, 30),
          outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
          shadow: style.boxShadow !== 'none'};
}"""


def test_tab_reaches_the_controls_in_order_with_a_visible_focus(page, lab_url):
    open_lab(page, lab_url)
    page.locator("body").click(position={"x": 2, "y": 2})
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focus = page.evaluate(DEEP_FOCUS)
        assert focus["outline"] or focus["shadow"], f"no visible focus on {focus}"
        seen.append(focus["text"] or focus["tag"])
    print("\nTab order:", " → ".join(seen))
    # the page's order: the controls first (tour, prompt, the views), the picture after
    assert seen.index("▶ Take the tour") < seen.index("TEXTAREA") < seen.index("Tokens")


# ---- less motion --------------------------------------------------------------------------------


def test_a_reader_who_asks_for_less_motion_is_told_and_steps_by_hand(browser, lab_url):
    page = local_page(browser, reduced_motion="reduce")
    open_lab(page, lab_url)
    page.get_by_text("Your system asks for less motion").wait_for(timeout=15_000)
    page.get_by_role("button", name="›", exact=True).click()  # by hand, as ever
    page.locator(".stage.active", has_text="embedding").wait_for(timeout=10_000)
    page.evaluate("location.hash = 'tour=1'")
    page.get_by_text(f"Chapter 1 of {len(CHAPTERS)}", exact=True).wait_for(timeout=30_000)
    page.get_by_role("button", name="Next ›").click()
    page.get_by_text(f"Chapter 2 of {len(CHAPTERS)}", exact=True).wait_for(timeout=30_000)
    assert page.errors == []
    page.context.close()


def test_a_generated_token_is_announced_politely(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Next token", exact=True).click()
    page.get_by_role("button", name="Generate next token").click()
    region = page.locator("[role=status][aria-live=polite]", has_text="Generated")
    region.wait_for(state="attached", timeout=15_000)
    assert "probability" in region.inner_text()


def test_the_live_static_lab_hears_the_readers_motion_setting(lab):
    assert python(lab, "bridge.lab.session.clock.reduced_motion") is False
    lab.emulate_media(reduced_motion="reduce")
    try:
        wait_in_worker(lab, "bridge.lab.session.clock.reduced_motion")
        wait_until(lab, lambda: app(lab).get_by_text("asks for less motion").is_visible(), 30,
                   "the note")
    finally:
        lab.emulate_media(reduced_motion="no-preference")
        wait_in_worker(lab, "not bridge.lab.session.clock.reduced_motion")
