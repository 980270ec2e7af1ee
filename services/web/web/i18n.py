"""Page texts in the guardian's language: gettext catalogs (Babel) under
``locales/<locale>/LC_MESSAGES/messages.po``, compiled in memory at start as the
notifier does, so a fresh clone needs no build step. ``python -m web.catalogs check``
fails on a missing, empty or fuzzy translation."""

from __future__ import annotations

from pathlib import Path

from babel.support import NullTranslations

from shared.locales import FALLBACK_LOCALE, LANGUAGE_NAMES, compiled_translations, text_direction

__all__ = ["LANGUAGE_NAMES", "best_locale", "text_direction", "translations"]

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locales"
TEMPLATE_DIR = PACKAGE_DIR / "templates"


def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English: the source texts as they are)."""
    return compiled_translations(LOCALE_DIR, locale)


def best_locale(offered: list[str], cookie: str | None, accept_language: str | None) -> str:
    """The page language: the cookie's, else the browser's first offered one, else the
    district's first language."""
    if cookie in offered:
        return str(cookie)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        base = tag.split("-")[0]
        if base in offered:
            return base
    return offered[0] if offered else FALLBACK_LOCALE
