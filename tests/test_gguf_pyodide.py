"""Download GGUF in the static page, with Python really in Pyodide (the worker writes the
file with the gguf wheel the site ships). Needs NAPKIN_PYODIDE_DIST, like
tests/test_pyodide_e2e.py, whose site and page fixtures it uses; skipped, saying so, without."""

from __future__ import annotations

import re

import pytest

from tests.test_pyodide_e2e import lab, live, site  # noqa: F401 (fixtures; skips without DIST)

pytestmark = pytest.mark.browser
pytest.importorskip("gguf", reason="the gguf package is not installed (pip install -e '.[app]')")


def test_download_gguf_in_pyodide(lab, tmp_path, shipped):  # noqa: F811
    from app.session.gguf_io import load_gguf

    page = lab("#view=quantization")
    note = live(page).locator(".napkin", has_text="napkin-gpt-q8_0.gguf:").first
    note.wait_for(timeout=120_000)
    shown = int(re.search(r"napkin-gpt-q8_0\.gguf: ([\d,]+) bytes",
                          note.inner_text()).group(1).replace(",", ""))
    with page.expect_download(timeout=60_000) as info:
        live(page).get_by_role("button", name="Download GGUF").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "napkin-gpt-q8_0.gguf"
    assert path.stat().st_size == shown
    back = load_gguf(path)
    assert back.tokenizer.chars == shipped.tokenizer.chars
    assert page.errors == []
