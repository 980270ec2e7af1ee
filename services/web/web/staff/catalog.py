"""The staff console's texts: a gettext catalog of its own (domain ``staff``), in English
and Spanish (staff choose their language; the guardian pages keep every language of the
district in ``messages.po``).

The console's templates and code mark texts with ``t(...)`` (and ``S_`` for texts marked
where they are defined, ``L(...)`` for a letter in the guardian's language), never with
``_``: the guardian pages' catalog tool, which extracts ``_``/``gettext``/``N_`` from the
whole package, leaves them out, and this module extracts only them.

    python -m web.staff.catalog update   # sources → locales/staff.pot → es/staff.po
    python -m web.staff.catalog check    # fail on missing, empty, fuzzy, untranslated
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import NullTranslations, Translations

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = PACKAGE_DIR / "locales"
DOMAIN = "staff"
#: The console's languages (English is the source text).
STAFF_LOCALES = ("en", "es")
TRANSLATED = tuple(loc for loc in STAFF_LOCALES if loc != "en")
METHOD_MAP = [("templates/staff/**.html", "jinja2"), ("staff/**.py", "python")]
OPTIONS = {"templates/staff/**.html": {"trimmed": "true"}}
KEYWORDS = {"t": None, "S_": None, "L": None}
SAME_AS_ENGLISH_OK = frozenset({"Error: %(title)s"})


def S_(message: str) -> str:
    """Mark a text for extraction where it is defined; translated where it is shown."""
    return message


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English: the source texts as they are)."""
    path = po_path(locale)
    if locale not in TRANSLATED or not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def extract() -> Catalog:
    """Every text of the console's templates and code, as a template catalog."""
    catalog = Catalog(
        project="guardian-portal staff console",
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
    with po_path(locale).open("rb") as fh:
        return read_po(fh, locale=locale, domain=DOMAIN)


def problems(locale: str, template: Catalog | None = None) -> list[str]:
    """Everything wrong with ``locale``'s catalog: missing, empty, fuzzy or untranslated
    texts, broken placeholders."""
    template = template or extract()
    if not po_path(locale).exists():
        return [f"{locale}: no catalog at {po_path(locale)}"]
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


def update() -> None:
    """Write the template and merge it into each translated catalog."""
    template = extract()
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, template, width=100, omit_header=False, sort_output=False)
    for locale in TRANSLATED:
        path = po_path(locale)
        catalog = load(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, ignore_obsolete=True, include_previous=False)
        print(f"updated {path}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``update`` or ``check`` (the default)."""
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "check"
    if action == "update":
        update()
        return 0
    if action == "check":
        template = extract()
        found = [p for loc in TRANSLATED for p in problems(loc, template)]
        count = sum(1 for m in template if m.id)
        print("\n".join(found) or f"{count} messages, all translated in {', '.join(TRANSLATED)}")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
