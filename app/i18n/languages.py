"""The languages the lab speaks, and which one a reader asked for."""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"
# code (as in `#lang=`) -> the language's name in itself, for the switcher
LANGUAGES = {"en": "English", "es": "Español", "zh": "简体中文"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a module-level string for the catalogue; it is translated where it is drawn."""
    return message


def language_of(tag: str | None) -> str | None:
    """The lab's language for a language tag ("es", "es-MX", "zh-Hans-CN", as in a link or
    navigator.language), or None if the lab does not speak it."""
    code = (tag or "").strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None
