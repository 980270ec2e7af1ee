"""Translation catalog maintenance for the mail templates (Babel).

    python -m notifier.catalogs extract   # templates → locales/messages.pot
    python -m notifier.catalogs update    # merge the .pot into every locale's .po
    python -m notifier.catalogs check     # fail on missing/untranslated/broken entries

Translators edit ``locales/<locale>/LC_MESSAGES/messages.po``; the service compiles the
catalogs in memory at start (see :mod:`notifier.rendering`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from notifier.domain.catalog import FALLBACK_LOCALE, SUPPORTED_LOCALES
from notifier.rendering import DOMAIN, LOCALE_DIR, TEMPLATE_DIR, po_path

POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
METHOD_MAP = [("**.j2", "jinja2")]
OPTIONS = {
    "**.j2": {
        "extensions": "jinja2.ext.i18n",
        "trimmed": "true",
        "trim_blocks": "true",
        "lstrip_blocks": "true",
    }
}
TRANSLATED_LOCALES = tuple(loc for loc in SUPPORTED_LOCALES if loc != FALLBACK_LOCALE)


def extract(template_dir: Path = TEMPLATE_DIR) -> Catalog:
    """Every translatable message of the templates, as a template catalog."""
    catalog = Catalog(
        project="guardian-portal notifier",
        domain=DOMAIN,
        creation_date=datetime(2025, 1, 1, tzinfo=UTC),
        fuzzy=False,
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(template_dir), METHOD_MAP, OPTIONS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def load(locale: str) -> Catalog:
    """The ``.po`` catalog of ``locale``."""
    with po_path(locale).open("rb") as fh:
        return read_po(fh, locale=locale, domain=DOMAIN)


def problems(locale: str, template: Catalog | None = None) -> list[str]:
    """Everything wrong with ``locale``'s catalog: messages of the templates it lacks,
    empty or fuzzy translations, translations equal to the English text, format
    placeholders that do not match, wrong number of plural forms."""
    template = template or extract()
    path = po_path(locale)
    if not path.exists():
        return [f"{locale}: no catalog at {path}"]
    catalog = load(locale)
    found: list[str] = []
    for msg in template:
        if not msg.id:
            continue
        entry: Message | None = catalog.get(msg.id)
        label = f"{locale}: {msg.id if isinstance(msg.id, str) else msg.id[0]!r}"
        if entry is None:
            found.append(f"{label}: missing")
            continue
        raw = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        strings = [s or "" for s in raw]
        ids = msg.id if isinstance(msg.id, tuple | list) else (msg.id,)
        if entry.fuzzy:
            found.append(f"{label}: fuzzy")
        if isinstance(msg.id, tuple | list) and len(strings) != catalog.num_plurals:
            found.append(f"{label}: {len(strings)} plural forms, expected {catalog.num_plurals}")
        if not all(s and s.strip() for s in strings):
            found.append(f"{label}: untranslated (empty)")
        elif any(s.strip() in (i.strip() for i in ids) for s in strings):
            found.append(f"{label}: untranslated (same as English)")
        for error in entry.check(catalog):
            found.append(f"{label}: {error}")
    return found


def _update() -> None:
    template = extract()
    POT_PATH.parent.mkdir(parents=True, exist_ok=True)
    with POT_PATH.open("wb") as fh:
        write_po(fh, template, width=100, omit_header=False, sort_output=False)
    for locale in TRANSLATED_LOCALES:
        path = po_path(locale)
        if path.exists():
            catalog = load(locale)
        else:
            catalog = Catalog(locale=locale, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, ignore_obsolete=True, include_previous=False)
        print(f"updated {path}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``extract``, ``update`` or ``check``."""
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "check"
    if action == "extract":
        with POT_PATH.open("wb") as fh:
            write_po(fh, extract(), width=100)
        print(f"wrote {POT_PATH}")
        return 0
    if action == "update":
        _update()
        return 0
    if action == "check":
        template = extract()
        found = [p for loc in TRANSLATED_LOCALES for p in problems(loc, template)]
        count = sum(1 for m in template if m.id)
        print(
            "\n".join(found)
            or f"{count} messages, all translated in {len(TRANSLATED_LOCALES)} locales"
        )
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
