"""The checked edit in a real browser: `napkin-gpt serve`, the Code view, an edit typed into
the editor, Run, and the check's table in the page."""

from __future__ import annotations

from tests.support.browser import screenshot
from tests.support.serve import open_lab


def type_at_end(page, text: str) -> None:
    page.locator(".ace_content").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def test_the_check_flags_a_forward_only_edit_and_passes_a_consistent_one(page, lab_url):
    open_lab(page, lab_url)
    page.get_by_role("button", name="Code", exact=True).click()
    page.get_by_text("Running: the shipped engine").wait_for(timeout=15_000)
    run = page.get_by_role("button", name="▶ Run my code")

    type_at_end(page, "\ndef gelu(x): return np.maximum(x, 0.0), x\n")  # GELU's backward kept
    page.get_by_text("Edited here: layers.py").wait_for(timeout=10_000)
    run.click()
    page.get_by_text("Training with this code follows a wrong gradient").wait_for(timeout=60_000)
    table = page.locator("table.check")
    assert "WRONG" in table.inner_text() and "changed: by up to" in table.inner_text()
    page.get_by_text("The lab now runs your edited layers.py").wait_for(timeout=10_000)
    screenshot(page, "lab-code-check-wrong")

    type_at_end(page, "\ndef gelu_backward(dout, x): return dout * (x > 0)\n")
    run.click()
    page.get_by_text("every backward pass still matches its forward pass").wait_for(
        timeout=60_000)
    assert "WRONG" not in page.locator("table.check").inner_text()
    screenshot(page, "lab-code-check-consistent")

    page.get_by_role("button", name="Reset all").click()
    page.get_by_text("Edited here: nothing yet").wait_for(timeout=10_000)
    assert page.errors == [] and page.outside == []
