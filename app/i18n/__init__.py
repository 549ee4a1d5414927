"""The lab in the reader's language: English, Spanish, Simplified Chinese, each from a gettext
catalogue (locale/<lang>/LC_MESSAGES/napkin.mo), chosen per session, never globally.

Strings a reader sees are written in English in the code and marked: passed to a session's
`tr` where they are drawn, wrapped in `N_` where they are module-level constants (translated
when drawn).
"""

from app.i18n.catalogue import Translation, translation
from app.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, N_, language_of

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "Translation", "language_of", "translation"]
