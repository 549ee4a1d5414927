"""Training goes on in every view until the reader pauses it, under `napkin-gpt serve` in
Chromium: the other views follow the model as it learns and say so above them."""

from __future__ import annotations

import re
import time

from tests.support.browser import screenshot
from tests.support.serve import open_lab

NOTE = "Training goes on"


def note_step(page) -> int:
    """How many steps the note above the view says training has taken."""
    text = page.get_by_text(NOTE).first.locator("..").inner_text()
    return int(re.search(r"([\d,]+) steps? so far", text).group(1).replace(",", ""))


def wait_for_steps_beyond(page, step: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while note_step(page) <= step:
        assert time.monotonic() < deadline, f"training stayed at step {step}"
        page.wait_for_timeout(200)


def test_training_goes_on_in_other_views_until_paused(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Training", exact=True).click()
    page.get_by_text("No step taken yet").wait_for(timeout=20_000)
    page.get_by_role("button", name="▶ Train / ❚❚ Pause").click()
    page.get_by_text("Step 1: batch loss").wait_for(timeout=60_000)
    for view, drawn in (("Attention", "attends most to"), ("Embedding", "row"),
                        ("Training examples", "of the batch of step")):
        page.get_by_role("button", name=view, exact=True).click()
        page.get_by_text(drawn).first.wait_for(timeout=30_000)
        page.get_by_text(NOTE).first.wait_for(timeout=30_000)
        wait_for_steps_beyond(page, note_step(page))  # the note follows: training goes on
    screenshot(page, "serve-training-in-another-view")
    page.get_by_role("button", name="❚❚ Pause training").click()
    page.get_by_text(NOTE).first.wait_for(state="hidden", timeout=30_000)
    page.get_by_role("button", name="Training", exact=True).click()
    status = page.get_by_text(re.compile(r"Step \d+: batch loss")).first
    status.wait_for(timeout=30_000)
    shown = status.inner_text()
    page.wait_for_timeout(1500)  # paused means paused: nothing moves
    assert status.inner_text() == shown
    assert page.errors == [] and page.outside == []
