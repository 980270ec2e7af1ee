"""Translation catalog maintenance for the mail templates (Babel).

    python -m notifier.catalogs extract   # templates → locales/messages.pot
    python -m notifier.catalogs update    # merge the .pot into every locale's .po
    python -m notifier.catalogs check     # fail on missing/untranslated/broken entries

Translators edit ``locales/<locale>/LC_MESSAGES/messages.po``; the service compiles the
catalogs in memory at start (see :mod:`notifier.rendering`).
"""

from __future__ import annotations

from notifier.rendering import LOCALE_DIR, TEMPLATE_DIR
from shared.catalog_tool import CatalogTool

TOOL = CatalogTool(
    project="guardian-portal notifier",
    source_dir=TEMPLATE_DIR,
    locale_dir=LOCALE_DIR,
    method_map=[("**.j2", "jinja2")],
    options={
        "**.j2": {
            "extensions": "jinja2.ext.i18n",
            "trimmed": "true",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    },
)
TRANSLATED_LOCALES = TOOL.locales
extract = TOOL.extract
problems = TOOL.problems

if __name__ == "__main__":
    raise SystemExit(TOOL.main())
