"""The logit lens, head roles, learning from zero and the recurrence contrast in a real
browser: `napkin-gpt serve` on localhost, driven in the system Chromium."""

from __future__ import annotations

from tests.support.browser import screenshot
from tests.support.serve import open_lab, set_prompt


def go(page, view: str, text: str) -> None:
    page.get_by_role("button", name=view, exact=True).click()
    page.get_by_text(text).first.wait_for(timeout=20_000)


def test_the_logit_lens_follows_the_chosen_position_and_has_a_table(page, lab_url):
    open_lab(page, lab_url)
    go(page, "Residual tracks", "the model guesses")
    page.get_by_text("After token 26 't'").wait_for(timeout=10_000)
    slider = page.get_by_role("slider").last  # the lens's position
    slider.focus()
    slider.press("Home")
    page.get_by_text("After token 0 'R'").wait_for(timeout=10_000)
    page.get_by_role("button", name="Show as table").last.click()
    page.get_by_text("top 5 guesses").wait_for(timeout=10_000)
    screenshot(page, "features-lens")
    assert page.errors == [] and page.outside == []


def test_head_roles_a_click_opens_the_head_and_a_short_prompt_is_explained(page, lab_url):
    open_lab(page, lab_url)
    measured = page.get_by_text("Measured on a random sequence of 32 distinct characters")
    measured.wait_for(timeout=20_000)
    top = measured.bounding_box()["y"]
    below = [(box["y"], canvas) for canvas in page.locator("canvas").all()
             if (box := canvas.bounding_box()) and box["y"] > top]
    grid = min(below, key=lambda pair: pair[0])[1]  # the head roles grid, right below
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    # its top row is block 0, its rightmost column head 3 (of the induction grid)
    page.mouse.click(box["x"] + box["width"] - 30, box["y"] + 45)
    page.get_by_text("Block 0, head 3: token 26").wait_for(timeout=10_000)
    page.get_by_role("button", name="Show as table").last.click()
    page.get_by_text("previous token").last.wait_for(timeout=10_000)
    page.get_by_role("button", name="the prompt").click()
    set_prompt(page, "x")
    page.get_by_text("a head score needs at least 2").wait_for(timeout=10_000)
    screenshot(page, "features-head-roles")
    assert page.errors == [] and page.outside == []


def test_learning_from_zero_trains_shows_its_speed_and_is_not_restarted_by_accident(
        page, lab_url):
    open_lab(page, lab_url)
    go(page, "Training", "No step taken yet")
    start = page.get_by_role("button", name="Learn from zero")
    start.click()
    page.get_by_text("Random weights (seed 0)").wait_for(timeout=20_000)
    page.get_by_text("Learning from zero: 0 steps").wait_for(timeout=10_000)
    train = page.get_by_role("button", name="▶ Train / ❚❚ Pause")
    train.click()
    page.get_by_text("steps a minute").wait_for(timeout=120_000)
    page.get_by_text("(at step 25)").wait_for(timeout=180_000)  # validation, every 25 steps
    train.click()  # pause
    page.locator("td", has_text="4.3").first.wait_for(timeout=10_000)  # step 0: about ln V
    start.click()
    page.get_by_text("already learning from zero").wait_for(timeout=10_000)
    screenshot(page, "features-from-zero")
    assert page.errors == [] and page.outside == []


def test_the_recurrence_contrast_with_its_table(page, lab_url):
    open_lab(page, lab_url)
    go(page, "Scale", "the state is the smaller past 8 tokens")
    page.get_by_role("button", name="Show as table").click()
    page.get_by_text("1,048,576").first.wait_for(timeout=10_000)
    screenshot(page, "features-scale")
    assert page.errors == [] and page.outside == []
