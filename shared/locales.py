"""The languages the portal speaks, and their gettext catalogs compiled at start.

One list for every service: the problem details of the APIs, the mails of the notifier
and the pages of the web front end are offered in the same six languages. A district
policy may offer fewer (``policy.locales``), never others.

Catalogs live as ``<locale_dir>/<locale>/LC_MESSAGES/messages.po`` beside the code that
uses them and are compiled in memory on first use, so a fresh clone needs no build step.
Their maintenance (extract, update, check) is :mod:`shared.catalog_tool`.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

#: Every language the portal is translated into; English is the source text.
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "es", "vi", "ar", "so", "ht")
FALLBACK_LOCALE = "en"
#: Each language named in itself (the language bar).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "vi": "Tiếng Việt",
    "ar": "العربية",
    "so": "Soomaali",
    "ht": "Kreyòl ayisyen",
}
RTL_LOCALES = frozenset({"ar"})
DOMAIN = "messages"


def text_direction(locale: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr``."""
    return "rtl" if locale in RTL_LOCALES else "ltr"


def po_path(locale_dir: Path, locale: str) -> Path:
    """The catalog file of ``locale`` under ``locale_dir``."""
    return locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def compiled_translations(locale_dir: Path, locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English, or a locale without a catalog: none,
    the English source texts are used as they are)."""
    path = po_path(locale_dir, locale)
    if locale == FALLBACK_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)
