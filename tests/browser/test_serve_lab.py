"""The lab in a real browser: `napkin-gpt serve` on localhost, driven in the system Chromium."""

from __future__ import annotations

import pytest

from tests.support.browser import painted, screenshot, wait_until
from tests.support.serve import choose_view, open_lab, prompt_box, set_prompt

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

VIEW_CHECKS = {  # nav button -> text that only that view shows once it has drawn
    "Tokens": "tokens, vocabulary of 77",
    "Training examples": "Showing the window at",
    "Embedding": "row",
    "Attention": "attends most to",
    "Residual tracks": "Every token has its own track",
    "Next token": "Likeliest next token",
    "Training": "No step taken yet",
    "Scale": "GPT-3 175B",
    "Quantization": "Next token after the prompt",
}
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_every_view_renders_with_nothing_from_outside(page, lab_url):
    open_lab(page, lab_url)
    for button, text in VIEW_CHECKS.items():
        page.get_by_role("button", name=button, exact=True).click()
        page.get_by_text(text).first.wait_for(timeout=15_000)
        screenshot(page, f"lab-{button.lower().replace(' ', '-')}")
    assert page.errors == []
    assert page.outside == []


def test_the_lab_fits_a_phone_without_sideways_scrolling(page, lab_url):
    page.set_viewport_size({"width": 375, "height": 800})
    open_lab(page, lab_url)
    for button, text in VIEW_CHECKS.items():
        choose_view(page, button)  # the list of views folds away on a phone
        page.get_by_text(text).first.wait_for(timeout=15_000)
        painted(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{button}: the page is {width} px wide"
        screenshot(page, f"phone-{button.lower().replace(' ', '-')}")


def test_play_animates_the_stages_and_appends_tokens(page, lab_url):
    open_lab(page, lab_url)
    before = prompt_box(page).input_value()
    page.get_by_role("button", name="▶ Play / ❚❚ Pause").click()
    page.locator(".stage.active", has_text="block 0 attention").wait_for(timeout=10_000)
    # ten stages at two a second, then the sampled token is appended
    wait_until(page, lambda: prompt_box(page).input_value() != before, 20, "a new token")
    page.get_by_role("button", name="▶ Play / ❚❚ Pause").click()
    assert len(prompt_box(page).input_value()) > len(before)
    assert page.errors == []


def test_generate_adds_one_token_per_click(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Next token", exact=True).click()
    before = prompt_box(page).input_value()
    generate = page.get_by_role("button", name="Generate next token")
    for n in range(1, 4):
        generate.click()
        wait_until(page, lambda n=n: len(prompt_box(page).input_value()) == len(before) + n,
                   30, f"token {n}")  # a server shared by the whole run answers in ~0.2 s
    assert prompt_box(page).input_value().startswith(before)
    page.get_by_text("Sampled").first.wait_for()


def test_html_in_the_prompt_shows_as_text_and_never_runs(page, lab_url):
    open_lab(page, lab_url)
    set_prompt(page, XSS)
    page.get_by_role("button", name="Tokens", exact=True).click()
    page.get_by_text("became \ufffd").first.wait_for(timeout=10_000)  # '<' etc. are unknown
    page.get_by_role("button", name="Next token", exact=True).click()
    page.get_by_text("onerror").first.wait_for(timeout=10_000)  # shown, as text
    painted(page)  # an <img> would be in the page now, and its load failed at once
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.errors == []


def test_bad_prompts_get_visible_messages(page, lab_url):
    open_lab(page, lab_url)
    set_prompt(page, "")
    page.get_by_text("The prompt is empty").wait_for(timeout=10_000)
    set_prompt(page, "a" * 100)
    page.get_by_text("sees only the last 64").wait_for(timeout=10_000)


def test_keyboard_space_plays_and_arrows_step(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_text("A GPT small enough").click()  # focus the page, not a field
    page.keyboard.press("ArrowRight")
    page.locator(".stage.active", has_text="embedding").wait_for(timeout=10_000)
    page.keyboard.press("ArrowLeft")
    page.locator(".stage.active", has_text="tokens").wait_for(timeout=10_000)
    page.keyboard.press(" ")
    page.locator(".stage.active", has_text="embedding").wait_for(timeout=10_000)
    page.keyboard.press(" ")
    assert page.errors == []


def test_training_steps_through_phases_and_a_diverging_rate_is_stopped(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Training", exact=True).click()
    step = page.get_by_role("button", name="Step one phase ›")
    for phase in ("batch", "forward", "loss", "backward", "update"):
        step.click()
        page.locator(".stage.active", has_text=phase).first.wait_for(timeout=10_000)
    page.get_by_text("Step 0: batch loss").wait_for()
    screenshot(page, "lab-training-stepped")
    assert page.errors == []


def test_a_diverging_learning_rate_stops_training_with_a_message(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Training", exact=True).click()
    page.get_by_text("No step taken yet").wait_for(timeout=10_000)
    rate = page.get_by_role("slider").filter(has_text="").nth(2)  # speed, timeline, rate
    rate.focus()
    rate.press("End")  # the largest learning rate: 10
    page.get_by_text("Learning rate: 10").first.wait_for(timeout=10_000)
    page.get_by_role("button", name="▶ Train / ❚❚ Pause").click()
    page.get_by_text("training diverged at step").first.wait_for(timeout=30_000)
    screenshot(page, "lab-training-diverged")
    step = page.get_by_role("button", name="Step one phase ›")
    step.click()  # the lab keeps working after the failure
    assert page.errors == []


def test_a_link_to_a_view_opens_that_view(page, lab_url):
    """Under serve the address reaches Python only once the page has loaded; a view
    switched to before that showed its title over the default view's body."""
    page.goto(lab_url + "#view=code")
    page.get_by_text("Running: the shipped engine").wait_for(timeout=30_000)
    assert page.get_by_text("attends most to").first.is_hidden()
    assert page.errors == [] and page.outside == []


def test_code_editor_runs_edits_shows_errors_and_keeps_edits_across_reloads(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Code", exact=True).click()
    page.get_by_text("Running: the shipped engine").wait_for(timeout=15_000)
    page.locator(".ace_content").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\ndef broken(:\n")
    page.get_by_text("Edited here: layers.py").wait_for(timeout=10_000)
    page.get_by_role("button", name="▶ Run my code").click()
    page.get_by_text("SyntaxError").first.wait_for(timeout=30_000)
    screenshot(page, "lab-code-error")
    page.reload()  # the link now says view=code, so the lab opens on the editor
    page.get_by_text("Edited here: layers.py").wait_for(timeout=30_000)  # from localStorage
    page.get_by_role("button", name="Reset all").click()
    page.get_by_text("Edited here: nothing yet").wait_for(timeout=10_000)
    assert page.errors == [] and page.outside == []
