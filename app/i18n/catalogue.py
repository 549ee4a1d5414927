"""A language's catalogue, read with the standard library's gettext from the compiled
locale/<lang>/LC_MESSAGES/napkin.mo that ships inside the package (Babel makes them, at
build time only: see tests/support/catalogues.py).

A message the catalogue lacks, or translates with an empty string, shows in English: never a
key, never a blank.
"""

from __future__ import annotations

import gettext
from functools import cache
from importlib import resources

from app.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES
from app.i18n.number_format import LocalFormatter, format_number

DOMAIN = "napkin"


def catalogue_file(language: str):
    """The compiled catalogue of `language` inside the package."""
    return resources.files("app.i18n").joinpath("locale", language, "LC_MESSAGES",
                                                f"{DOMAIN}.mo")


class Translation:
    """One language's messages: `tr(message, n=12)` is the message in the language,
    its placeholders filled, numbers written the language's way."""

    def __init__(self, language: str, catalogue: gettext.NullTranslations):
        self.language = language
        self._catalogue = catalogue
        self._formatter = LocalFormatter(language)

    def gettext(self, message: str) -> str:
        """`message` in the language; in English if the catalogue lacks it."""
        return self._catalogue.gettext(message) or message if message else message

    def pgettext(self, context: str, message: str) -> str:
        """`message` in the language where `context` tells it from the same English words
        meaning something else ("sample": a stage, or a text the model wrote)."""
        return self._catalogue.pgettext(context, message) or message

    def knows(self, message: str) -> bool:
        """Whether `message` is one of the catalogue's (a marked string, not a live one)."""
        return message in getattr(self._catalogue, "_catalog", {})

    def ngettext(self, singular: str, plural: str, n: int, **values) -> str:
        """The singular or plural message, as the language's plural rule picks, filled."""
        text = self._catalogue.ngettext(singular, plural, n) or (singular if n == 1 else plural)
        return self._formatter.format(text, n=n, **values)

    def __call__(self, message: str, **values) -> str:
        """`message` in the language with `values` in its placeholders."""
        text = self.gettext(message)
        return self._formatter.format(text, **values) if values else text

    def number(self, value: float, spec: str = "") -> str:
        """`value` formatted with `spec`, as the language writes numbers."""
        return format_number(value, spec, self.language)


@cache
def translation(language: str = DEFAULT_LANGUAGE) -> Translation:
    """The Translation for `language` (English, the messages as written, for any other)."""
    if language not in LANGUAGES or language == DEFAULT_LANGUAGE:
        return Translation(DEFAULT_LANGUAGE, gettext.NullTranslations())
    return Translation(language, read_catalogue(catalogue_file(language)))


def read_catalogue(source) -> gettext.NullTranslations:
    """The messages of a compiled catalogue file (a missing one gives none: English)."""
    try:
        with source.open("rb") as f:
            return gettext.GNUTranslations(f)
    except FileNotFoundError:
        return gettext.NullTranslations()
