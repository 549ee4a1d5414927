"""The lab in English, Spanish and Simplified Chinese (app/i18n), without a browser: the
catalogues against the code (every marked string in every language, the same placeholders, the
committed .mo compiled from the .po), English for whatever a catalogue lacks, the language from
a link, numbers as each language writes them, and a live lab switched from one language to
another in place."""

from __future__ import annotations

import gettext
import html
import re

import pytest

pytest.importorskip("babel", reason="the catalogue tests need Babel (pip install -e '.[test]')")
pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

import panel as pn
from babel.messages.catalog import Catalog
from babel.numbers import format_decimal

from app.i18n import language_of, translation
from app.i18n.catalogue import Translation, read_catalogue
from app.i18n.number_format import format_number
from app.lab.page import Lab
from app.lab.urlstate import parse_hash, to_hash
from app.tour import CHAPTERS
from app.tour.chapter import numbers
from app.views import VIEWS
from tests.support import catalogues
from tests.support.catalogues import TRANSLATED, compiled, extract, placeholders, po_path, read


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract()


def ids_of(catalog: Catalog) -> set:
    return {m.id for m in catalog if m.id}


# ---- the catalogues against the code -------------------------------------------------------

def test_the_committed_template_holds_every_marked_string(template):
    with (catalogues.LOCALE / "napkin.pot").open("rb") as f:
        committed = catalogues.read_po(f)
    assert ids_of(template) == ids_of(committed), \
        "run `python -m tests.support.catalogues` and translate what is new"
    assert len(ids_of(template)) > 200


def test_every_message_written_in_a_call_is_marked(template):
    """tr("…") written inside an f-string escapes extraction (Babel skips f-strings): every
    literal message the code passes to tr is one of the template's."""
    ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in template if m.id}
    found = {m.group(2) for path in (catalogues.ROOT / "app").rglob("*.py")
             for m in re.finditer(r"\btr(?:\.ngettext)?\((['\"])([^'\"\n]+)\1[,)]",
                                  path.read_text(encoding="utf-8"))}
    assert len(found) > 100 and found - ids == set()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_language_translates_every_marked_string(template, language):
    catalog = read(language)
    missing = [m.id for m in template if m.id and (catalog.get(m.id) is None or not all(
        catalog.get(m.id).string if isinstance(m.id, tuple) else [catalog.get(m.id).string]))]
    assert missing == []
    assert not [m.id for m in catalog if m.id and m.fuzzy]


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_english_placeholders(language):
    wrong = []
    for m in read(language):
        if not m.id:
            continue
        english = m.id if isinstance(m.id, tuple) else (m.id,)
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = placeholders(english[-1])
        wrong += [(english[0], form) for form in forms if placeholders(form) != wanted]
    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_is_the_po_compiled(language):
    assert po_path(language).with_suffix(".mo").read_bytes() == compiled(read(language))


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_po_opens_with_its_glossary(language):
    head = po_path(language).read_text(encoding="utf-8").split("msgid", 1)[0]
    assert "token" in head and "attention" in head and len(head.splitlines()) > 5


# ---- what a catalogue lacks shows in English ------------------------------------------------

def test_a_missing_or_empty_translation_shows_the_english_message(tmp_path):
    catalog = Catalog(locale="es")
    catalog.add("Attention", "Atención")
    catalog.add("Chapter {n} of {total}", "")  # an empty translation
    (tmp_path / "napkin.mo").write_bytes(compiled(catalog))
    tr = Translation("es", read_catalogue(tmp_path / "napkin.mo"))
    assert tr("Attention") == "Atención"
    assert tr("Chapter {n} of {total}", n=3, total=14) == "Chapter 3 of 14"
    assert tr("Next token") == "Next token"  # not in this catalogue at all
    assert tr.ngettext("{n} place", "{n} places", 2) == "2 places"
    nothing = Translation("es", read_catalogue(tmp_path / "absent.mo"))
    assert isinstance(nothing._catalogue, gettext.NullTranslations)
    assert nothing("Attention") == "Attention"


def test_the_shipped_catalogues_translate():
    assert translation("es")("Attention") == "Atención"
    assert translation("zh")("Attention") == "注意力"
    lacking = translation("xx")  # a language the lab lacks: English
    assert lacking.language == "en" and lacking("Attention") == "Attention"


# ---- languages, links and numbers ---------------------------------------------------------

@pytest.mark.parametrize("tags, expected", [
    ("es", "es"), ("es-MX", "es"), ("zh-Hans-CN", "zh"), ("zh_CN", "zh"), ("EN-gb", "en"),
    ("fr-CH,fr;q=0.9,es;q=0.8", "es"), ("fr", None), ("", None), (None, None)])
def test_the_language_of_a_tag_or_an_accept_language(tags, expected):
    assert language_of(tags) == expected


@pytest.mark.parametrize("value, spec", [
    (0.74, ".2f"), (0.7412, ".3f"), (159104, ","), (1234, ","), (12345.678, ",.2f"),
    (-3.5, ".1f"), (1_048_576, ",")])
@pytest.mark.parametrize("language, locale", [("en", "en"), ("es", "es"), ("zh", "zh_Hans")])
def test_numbers_are_written_as_babel_writes_them(value, spec, language, locale):
    digits = int(spec.split(".")[1][0]) if "." in spec else 0
    pattern = ("#,##0" if "," in spec else "0") + ("." + "0" * digits if digits else "")
    assert format_number(value, spec, language) == format_decimal(value, pattern, locale=locale)


def test_spanish_numbers_in_a_message():
    tr = translation("es")
    assert tr("Chapter {n} of {total}", n=2, total=14) == "Capítulo 2 de 14"
    said = tr("{n_params:,} parameters: {n_layer} blocks of {n_head} heads, width {n_embd}, "
              "context {block_size}. The same NumPy code runs here and in the downloadable "
              "engine.", n_params=159104, n_layer=4, n_head=4, n_embd=64, block_size=64)
    assert said.startswith("159.104 parámetros")
    assert tr.number(0.74, ".2f") == "0,74"
    assert numbers([0.5, -0.25], tr=tr) == "+0,500; -0,250"  # a list of decimal commas
    assert numbers([0.5, -0.25]) == "+0.500, -0.250"


def test_a_link_carries_the_language(session):
    state, notes = parse_hash("lang=es&view=next", session)
    assert (state.lang, state.view, notes) == ("es", "next", [])
    assert "lang=es" in to_hash(state)


def test_an_unknown_language_in_a_link_gives_english_and_a_notice(session):
    session.language = "es"
    try:
        state, notes = parse_hash("lang=xx&layer=9", session)
    finally:
        session.language = "en"
    assert state.lang == "en"
    assert any("lang='xx'" in n and "English" in n for n in notes), notes
    top = session.param.layer.bounds[1]
    assert any(f"layer='9' is outside 0..{top}" in n for n in notes), notes  # English too


# ---- a live lab, switched in place -------------------------------------------------------

@pytest.fixture(scope="module")
def lab(corpus_text):
    from app.session.loader import load_session
    from tests.support.models import WEIGHTS_TINY

    lab = Lab(session=load_session(WEIGHTS_TINY, corpus=corpus_text[:40_000]))
    yield lab
    lab.session.language = "en"


def texts(lab: Lab, key: str) -> str:
    """The text of the view `key` as a reader sees it: its HTML panes, widget labels and
    figure titles and axes, tags taken out, entities read."""
    lab.view = key
    view = lab.views[key]
    parts = [pane.object for pane in pn.panel(view).select(pn.pane.HTML)]
    for widget in pn.panel(view).select(pn.widgets.Widget):
        parts += [str(getattr(widget, a, "") or "") for a in ("name", "label")]
        options = getattr(widget, "options", None)
        parts += list(options) if isinstance(options, dict) else []
    for fig in pn.panel(view).select(pn.pane.Bokeh):
        model = fig.object
        parts += [getattr(model.title, "text", "") or ""] if hasattr(model, "title") else []
        for axis in (*getattr(model, "xaxis", []), *getattr(model, "yaxis", [])):
            parts.append(axis.axis_label or "")
    return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(map(str, parts))))


def page_text(lab: Lab) -> str:
    parts = [pane.object for pane in pn.panel(lab).select(pn.pane.HTML)]
    parts += [str(w.name) for w in pn.panel(lab).select(pn.widgets.Widget)]
    return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(parts)))


def tour_text(lab: Lab, chapter: int) -> str:
    lab.tour.go(chapter)
    lab.tour.answer(0)
    panes = pn.panel(lab.tour).select(pn.pane.HTML)
    return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(p.object for p in panes)))


def english_phrases(template: Catalog) -> set[str]:
    """Runs of words of the English messages (four words or more), cut at their placeholders
    and markup: any of them in a Spanish page is a message drawn without translating it.
    What it cannot see: English that was never marked (it is in no catalogue)."""
    found = set()
    for m in template:
        for msg in (m.id if isinstance(m.id, tuple) else (m.id,)):
            for part in re.split(r"\{[^}]*\}|<[^>]+>", msg or ""):
                words = part.strip(" .,;:()").split()
                if sum(w.isalpha() and len(w) > 1 for w in words) >= 4:
                    found.add(" ".join(words))
    return found


def test_switching_the_language_redraws_every_view_and_the_tour_in_place(lab, template):
    s = lab.session
    prompt, model, trace, ids = s.prompt, s.model, s.trace, list(s.ids)
    english = {key: texts(lab, key) for key in VIEWS}
    chapters_en = [tour_text(lab, n) for n in range(1, len(CHAPTERS) + 1)]
    lab.tour.go(0)
    s.language = "es"
    spanish = {key: texts(lab, key) for key in VIEWS}
    chapters_es = [tour_text(lab, n) for n in range(1, len(CHAPTERS) + 1)]
    lab.tour.go(0)
    page = page_text(lab)
    # the same lab: the prompt, the model and its trace untouched
    assert (s.prompt, s.model, s.trace, s.ids) == (prompt, model, trace, ids)
    assert s.model is model and s.trace is trace
    for key in VIEWS:
        assert spanish[key] != english[key], key
    assert all(es != en for es, en in zip(chapters_es, chapters_en, strict=True))
    assert "Atención" in page and "Siguiente token" in page and "Hacer el recorrido" in page
    # no English message is drawn untranslated in Spanish, in any view, chapter or the page
    phrases = english_phrases(template)
    left = {p for p in phrases for text in [*spanish.values(), *chapters_es, page] if p in text}
    assert left == set()
    s.language = "zh"
    assert "注意力" in texts(lab, "attention")
    s.language = "en"
    assert texts(lab, "tokens") == english["tokens"]
    assert tour_text(lab, 1) == chapters_en[0]
    lab.tour.go(0)


def test_the_address_follows_the_language(lab):
    lab.session.language = "es"
    assert "lang=es" in to_hash(lab.state())
    lab.session.language = "en"
    assert "lang=" not in to_hash(lab.state())  # English, the reader's own, says nothing
