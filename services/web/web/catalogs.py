"""Translation catalog maintenance for the pages (Babel), as the notifier does for mails.

    python -m web.catalogs extract   # templates and code → locales/messages.pot
    python -m web.catalogs update    # merge the .pot into every locale's .po
    python -m web.catalogs check     # fail on missing, empty, fuzzy or untranslated entries

Translators edit ``locales/<locale>/LC_MESSAGES/messages.po``; the service compiles the
catalogs in memory at start (:mod:`web.i18n`).
"""

from __future__ import annotations

from shared.catalog_tool import CatalogTool
from web.i18n import LOCALE_DIR, PACKAGE_DIR

TOOL = CatalogTool(
    project="guardian-portal web",
    source_dir=PACKAGE_DIR,
    locale_dir=LOCALE_DIR,
    method_map=[("templates/**.html", "jinja2"), ("**.py", "python")],
    options={"templates/**.html": {"trimmed": "true"}},
    keywords={"_": None, "gettext": None, "N_": None},
    same_as_english_ok=frozenset({"Error: %(title)s"}),
)
TRANSLATED_LOCALES = TOOL.locales
extract = TOOL.extract
problems = TOOL.problems

if __name__ == "__main__":
    raise SystemExit(TOOL.main())
