"""The lab's languages in the static page, with Python in Pyodide, on the one booted lab of the
run (the session-scoped `lab` of conftest.py): the catalogues reached the worker in our wheel,
the switcher changes the page in place (same worker, same session, same model), and the
address carries `lang=`. The test leaves the lab in English, as it found it.

Needs a full Pyodide 0.29.3 distribution (see tests/support/pyodide.py).
"""

from __future__ import annotations

from tests.support.browser import painted, wait_until
from tests.support.pyodide import app, python, wait_in_worker


def test_the_switcher_speaks_spanish_and_chinese_in_the_worker_and_keeps_the_lab(lab):
    page = lab
    before = python(page, "s = bridge.lab.session; [id(s), id(s.model), id(s.trace), s.prompt]")
    starts = page.evaluate("napkin.log.starts")
    # the compiled catalogues are in the wheel Pyodide installed, read with gettext
    assert python(page, "from app.i18n import translation; translation('es')('Attention')") \
        == "Atención"
    select = app(page).locator("select:has(option:text-is('Español'))")
    try:
        select.select_option(label="Español")
        app(page).get_by_role("button", name="Siguiente token", exact=True).wait_for(
            timeout=60_000)
        app(page).get_by_text("Siguiente token más probable").wait_for(timeout=60_000)
        assert "0," in app(page).get_by_text("Siguiente token más probable").inner_text()
        wait_until(page, lambda: "lang=es" in page.evaluate("location.hash"))
        select.select_option(label="简体中文")
        app(page).get_by_text("最可能的下一个词元").wait_for(timeout=60_000)
        wait_in_worker(page, "bridge.lab.session.language == 'zh'")
        painted(page)
    finally:
        select.select_option(label="English")
        app(page).get_by_text("Likeliest next token").wait_for(timeout=60_000)
        wait_in_worker(page, "bridge.lab.session.language == 'en'")
    # the same worker, session, model and trace: switched in place
    assert page.evaluate("napkin.log.starts") == starts
    assert python(page, "s = bridge.lab.session; [id(s), id(s.model), id(s.trace), s.prompt]") \
        == before
