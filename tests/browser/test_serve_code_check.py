"""The checked edit in a real browser: `napkin-gpt serve`, the Code view, an edit typed into
the editor, Run, and the check's table in the page; the kernels standing in, the switch to
the readable code only, and the files in reading order."""

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
    page.get_by_text("not as shipped: gelu, gelu_backward.").wait_for(timeout=10_000)
    assert "kernels.gelu" not in page.locator("table.swap").inner_text()
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


def test_the_kernels_standing_in_are_shown_and_can_be_switched_off(page, lab_url):
    from app.session.code_runner import reading_groups, shipped_sources

    open_lab(page, lab_url)
    page.get_by_role("button", name="Code", exact=True).click()
    page.get_by_text("Running: the shipped engine").wait_for(timeout=15_000)
    swap = page.locator("table.swap")
    assert "kernels.gelu_by_exp, kernels.gelu_backward" in swap.inner_text()  # natively
    groups = page.locator("select optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups == list(reading_groups(shipped_sources()))

    readable_only = page.get_by_role("button", name="Run the readable code only")
    readable_only.click()
    page.get_by_text("You asked for the readable code only").wait_for(timeout=15_000)
    assert swap.count() == 0
    screenshot(page, "lab-code-readable-only")
    readable_only.click()
    swap.wait_for(timeout=15_000)
    assert page.errors == [] and page.outside == []
