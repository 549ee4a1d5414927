"""The lab in three languages under `napkin-gpt serve`, in Chromium: the switcher changes the
page in place (Spanish, Chinese, English again) and keeps the reader's prompt, block and head;
the address carries `lang=`; a link with `#lang=es` opens in Spanish, a Spanish browser gets
Spanish without one, and a language the lab lacks gives English and a notice."""

from __future__ import annotations

import pytest

from tests.support.browser import local_page, painted, wait_until
from tests.support.serve import open_lab, prompt_box, set_prompt

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

PROMPT = "JULIET:\nO Romeo, Romeo"


def switch(page, language: str) -> None:
    page.locator("select:has(option:text-is('Español'))").select_option(label=language)


def hash_of(page) -> str:
    return page.evaluate("location.hash")


def test_the_switcher_changes_the_page_in_place_and_keeps_the_state(browser, lab_url):
    page = local_page(browser, locale="en-US")
    open_lab(page, lab_url + "#layer=1&head=2")
    set_prompt(page, PROMPT)
    wait_until(page, lambda: "prompt=JULIET" in hash_of(page))
    page.get_by_text("Block 1, head 2: token").wait_for(timeout=30_000)
    loads = page.evaluate("performance.getEntriesByType('navigation').length")

    switch(page, "Español")
    page.get_by_text("Bloque 1, cabeza 2: el token").wait_for(timeout=30_000)
    for shown in ("atiende sobre todo a", "Cada token hace una pregunta", "▶ Hacer el recorrido",
                  "Siguiente token", "Pistas residuales"):
        assert page.get_by_text(shown).first.is_visible(), shown
    assert page.get_by_role("button", name="Atención", exact=True).is_visible()
    wait_until(page, lambda: "lang=es" in hash_of(page))
    assert page.evaluate("document.body.innerText").count("attends most to") == 0
    painted(page)

    switch(page, "简体中文")
    page.get_by_text("块 1，头 2：第").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="注意力", exact=True).is_visible()
    assert page.get_by_text("▶ 开始导览").is_visible()
    wait_until(page, lambda: "lang=zh" in hash_of(page))

    switch(page, "English")
    page.get_by_text("Block 1, head 2: token").wait_for(timeout=30_000)
    wait_until(page, lambda: "lang=" not in hash_of(page))
    # the same page and session all along: no reload, the reader's prompt and choices kept
    assert page.evaluate("performance.getEntriesByType('navigation').length") == loads
    assert prompt_box(page).input_value() == PROMPT
    assert "layer=1" in hash_of(page) and "head=2" in hash_of(page)
    assert "'o'" in page.get_by_text("attends most to").first.inner_text()  # the last token
    page.context.close()


def test_a_link_or_the_browser_chooses_the_language(browser, lab_url):
    page = local_page(browser, locale="en-US")
    page.goto(lab_url + "#lang=es&view=next")
    page.get_by_text("Siguiente token más probable").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Generar el siguiente token").is_visible()
    assert "0," in page.get_by_text("Siguiente token más probable").inner_text()  # 0,4…
    page.context.close()

    page = local_page(browser, locale="es-ES")  # no lang= in the link: the browser's
    page.goto(lab_url)
    page.get_by_text("atiende sobre todo a").wait_for(timeout=30_000)
    wait_until(page, lambda: "lang=es" in hash_of(page))
    page.context.close()

    page = local_page(browser, locale="es-ES")  # a language the lab lacks: English
    page.goto(lab_url + "#lang=xx")
    page.get_by_text("attends most to").wait_for(timeout=30_000)
    notice = page.locator(".note", has_text="lang='xx'")
    assert "using English" in notice.inner_text()
    page.context.close()
