"""Download GGUF in Chromium against `napkin-gpt serve`: the size announced is the size
saved, after choosing a type and after training on the reader's text."""

from __future__ import annotations

import re

from app.session.gguf_io import load_gguf
from tests.support.serve import open_lab


def test_download_in_chromium_after_choosing_a_type_and_after_training(
        page, lab_url, tmp_path, shipped):
    def download(name: str):
        box = page.locator(".napkin", has_text=f"{name}:").locator("visible=true").first
        box.wait_for(timeout=20_000)
        shown = int(re.search(rf"{re.escape(name)}: ([\d,]+) bytes",
                              box.inner_text()).group(1).replace(",", ""))
        button = page.get_by_role("button", name="Download GGUF").locator("visible=true")
        with page.expect_download(timeout=30_000) as info:
            button.click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        assert path.name == name
        assert path.stat().st_size == shown
        return load_gguf(path)

    open_lab(page, lab_url)
    page.get_by_role("button", name="Quantization", exact=True).click()
    page.get_by_role("button", name="Q4_0", exact=True).click()
    back = download("napkin-gpt-q4_0.gguf")
    assert back.tokenizer.chars == shipped.tokenizer.chars

    text = "Now is the winter of our discontent made glorious summer. " * 60
    page.get_by_role("button", name="Training", exact=True).click()
    page.get_by_placeholder("Paste a few thousand characters").fill(text)
    page.get_by_placeholder("Paste a few thousand characters").press("Tab")
    page.get_by_role("button", name="Train a new model on this text").click()
    page.get_by_text("will learn your").first.wait_for(timeout=30_000)
    back = download("napkin-gpt-f32.gguf")
    assert back.tokenizer.chars == [*sorted(set(text)), "\ufffd"]
    assert page.errors == []
