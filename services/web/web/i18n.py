"""Page texts in the guardian's language: gettext catalogs (Babel) under
``locales/<locale>/LC_MESSAGES/messages.po``, compiled in memory at start as the
notifier does, so a fresh clone needs no build step. ``python -m web.catalogs check``
fails on a missing, empty or fuzzy translation."""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locales"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
DOMAIN = "messages"
FALLBACK_LOCALE = "en"
#: The languages of the language bar, each named in itself.
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Español",
    "vi": "Tiếng Việt",
    "ar": "العربية",
    "so": "Soomaali",
    "ht": "Kreyòl ayisyen",
}
RTL_LOCALES = frozenset({"ar"})


def po_path(locale: str) -> Path:
    """The catalog file of ``locale``."""
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English: the source texts as they are)."""
    path = po_path(locale)
    if locale == FALLBACK_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def text_direction(locale: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr``."""
    return "rtl" if locale in RTL_LOCALES else "ltr"


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
