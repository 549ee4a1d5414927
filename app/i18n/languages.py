"""The languages the lab speaks, and which one a reader asked for."""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"
# code (as in `#lang=`) -> the language's name in itself, for the switcher
LANGUAGES = {"en": "English", "es": "Español", "zh": "简体中文"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a module-level string for the catalogue; it is translated where it is drawn."""
    return message


def language_of(tags: str | None) -> str | None:
    """The lab's language for a language tag or a list of them, by preference ("es",
    "zh-Hans-CN", as in a link or navigator.language; "fr-CH,es;q=0.8", as in an HTTP
    Accept-Language), or None if the lab speaks none of them."""
    for tag in (tags or "").split(","):
        code = tag.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return None
