"""Translation catalog maintenance for the pages (Babel), as the notifier does for mails.

    python -m web.catalogs extract   # templates and code → locales/messages.pot
    python -m web.catalogs update    # merge the .pot into every locale's .po
    python -m web.catalogs check     # fail on missing, empty, fuzzy or untranslated entries

Translators edit ``locales/<locale>/LC_MESSAGES/messages.po``; the service compiles the
catalogs in memory at start (:mod:`web.i18n`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from web.i18n import DOMAIN, FALLBACK_LOCALE, LANGUAGE_NAMES, LOCALE_DIR, PACKAGE_DIR, po_path

POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
TRANSLATED_LOCALES = tuple(loc for loc in LANGUAGE_NAMES if loc != FALLBACK_LOCALE)
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"trimmed": "true"}}
KEYWORDS = {"_": None, "gettext": None, "N_": None}
#: Texts that are the same in a language on purpose (names, codes).
SAME_AS_ENGLISH_OK = frozenset({"Error: %(title)s"})


def extract() -> Catalog:
    """Every translatable message of the templates and code, as a template catalog."""
    catalog = Catalog(
        project="guardian-portal web",
        domain=DOMAIN,
        creation_date=datetime(2025, 1, 1, tzinfo=UTC),
        fuzzy=False,
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR), METHOD_MAP, OPTIONS, keywords=KEYWORDS
    ):
        if "tests" in filename.split("/"):
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def load(locale: str) -> Catalog:
    """The ``.po`` catalog of ``locale``."""
    with po_path(locale).open("rb") as fh:
        return read_po(fh, locale=locale, domain=DOMAIN)


def problems(locale: str, template: Catalog | None = None) -> list[str]:
    """Everything wrong with ``locale``'s catalog: messages it lacks, empty or fuzzy
    translations, translations equal to the English text, broken placeholders."""
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
        label = f"{locale}: {msg.id!r}"
        if entry is None:
            found.append(f"{label}: missing")
            continue
        if entry.fuzzy:
            found.append(f"{label}: fuzzy")
        text = entry.string if isinstance(entry.string, str) else ""
        if not text.strip():
            found.append(f"{label}: untranslated (empty)")
        elif text.strip() == str(msg.id).strip() and msg.id not in SAME_AS_ENGLISH_OK:
            found.append(f"{label}: untranslated (same as English)")
        for error in entry.check(catalog):
            found.append(f"{label}: {error}")
    return found


def _update() -> None:
    template = extract()
    with POT_PATH.open("wb") as fh:
        write_po(fh, template, width=100, omit_header=False, sort_output=False)
    for locale in TRANSLATED_LOCALES:
        path = po_path(locale)
        catalog = load(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
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
