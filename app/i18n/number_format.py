"""Numbers as the reader's language writes them: 0.74 and 159,104 in English and Chinese,
0,74 and 159.104 in Spanish (CLDR's symbols, as Babel writes them; checked against Babel in
tests/app/test_i18n.py, without importing it here)."""

from __future__ import annotations

import numbers
import string

# language -> (decimal mark, group separator)
SYMBOLS = {"en": (".", ","), "es": (",", "."), "zh": (".", ",")}


def format_number(value: float, spec: str, language: str) -> str:
    """`format(value, spec)` with the language's decimal mark and thousands separator."""
    decimal, group = SYMBOLS.get(language, SYMBOLS["en"])
    text = format(value, spec)
    return text.translate({ord("."): decimal, ord(","): group}) if language != "en" else text


class LocalFormatter(string.Formatter):
    """str.format whose numbers follow the language (see format_number); other values, text
    included, are formatted as str.format would."""

    def __init__(self, language: str):
        self.language = language

    def format_field(self, value, format_spec: str) -> str:
        if isinstance(value, numbers.Number) and not isinstance(value, bool) \
                and not isinstance(value, complex) and (format_spec or isinstance(value, float)):
            return format_number(value, format_spec, self.language)
        return super().format_field(value, format_spec)
