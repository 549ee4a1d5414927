"""The lab's message catalogues, made with Babel (a build- and test-time tool: the app reads
the compiled .mo with the standard library's gettext and never imports Babel).

    python -m tests.support.catalogues    # extract app/ -> napkin.pot, update each .po, compile

The template is extracted from app/ (the marked strings: tr("…"), N_("…"), ngettext); each
language's .po keeps its translations and its glossary (comments at its top); the compiled
.mo files are committed beside them, so that the wheel and Pyodide need nothing at run time.
"""

from __future__ import annotations

import io
import re

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from app.i18n import LANGUAGES
from app.i18n.catalogue import DOMAIN
from tests.support.models import ROOT

LOCALE = ROOT / "app" / "i18n" / "locale"
KEYWORDS = {"tr": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
TRANSLATED = tuple(code for code in LANGUAGES if code != "en")


def extract() -> Catalog:
    """Every marked string of app/, with where it was found."""
    catalog = Catalog(project="Napkin GPT", domain=DOMAIN, charset="utf-8")
    for path, line, message, comments, context in extract_from_dir(
            ROOT / "app", method_map=[("**.py", "python")], keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
        catalog.add(message, None, [(f"app/{path}", line)], auto_comments=comments,
                    context=context)
    return catalog


def po_path(language: str):
    return LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(language: str) -> Catalog:
    with po_path(language).open("rb") as f:
        return read_po(f, locale=language if language != "zh" else "zh_Hans")


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def placeholders(text: str) -> set[str]:
    """The `{name:spec}` fields of a message (doubled braces are literal braces)."""
    return set(PLACEHOLDER.findall(text))


def update() -> None:
    """napkin.pot from app/, each .po brought up to date with it, each .mo compiled."""
    template = extract()
    LOCALE.mkdir(parents=True, exist_ok=True)
    with (LOCALE / f"{DOMAIN}.pot").open("wb") as f:
        write_po(f, template, width=96, omit_header=False, sort_by_file=True)
    for language in TRANSLATED:
        catalog = read(language)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path(language).open("wb") as f:
            write_po(f, catalog, width=96, sort_by_file=True, ignore_obsolete=True)
        po_path(language).with_suffix(".mo").write_bytes(compiled(read(language)))


if __name__ == "__main__":
    update()
