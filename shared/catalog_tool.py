"""Translation catalog maintenance (Babel), the same for the notifier's mails and the web
front end's pages. Each of them declares one :class:`CatalogTool` and runs it as a command:

    python -m notifier.catalogs extract   # sources → locales/messages.pot
    python -m notifier.catalogs update    # merge the .pot into every locale's .po
    python -m notifier.catalogs check     # fail on missing/untranslated/broken entries

Translators edit ``locales/<locale>/LC_MESSAGES/messages.po``; the services compile the
catalogs in memory at start (:func:`shared.locales.compiled_translations`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from shared.locales import DOMAIN, FALLBACK_LOCALE, SUPPORTED_LOCALES, po_path

#: The catalogs' creation date is fixed, so that extracting twice writes the same file.
_CREATED = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CatalogTool:
    """Extract, update and check the catalogs of one component."""

    project: str
    #: where the translatable sources are (templates and code)
    source_dir: Path
    locale_dir: Path
    #: Babel's method map and options for the sources
    method_map: Sequence[tuple[str, str]]
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: gettext keywords (None: Babel's defaults)
    keywords: Mapping[str, Any] | None = None
    #: texts that are the same in a language on purpose (names, codes)
    same_as_english_ok: frozenset[str] = frozenset()
    locales: tuple[str, ...] = tuple(loc for loc in SUPPORTED_LOCALES if loc != FALLBACK_LOCALE)

    @property
    def pot_path(self) -> Path:
        return self.locale_dir / f"{DOMAIN}.pot"

    def po_path(self, locale: str) -> Path:
        return po_path(self.locale_dir, locale)

    def extract(self) -> Catalog:
        """Every translatable message of the sources (tests excluded), as a template."""
        catalog = Catalog(project=self.project, domain=DOMAIN, creation_date=_CREATED, fuzzy=False)
        extra: dict[str, Any] = {} if self.keywords is None else {"keywords": self.keywords}
        for filename, lineno, message, comments, context in extract_from_dir(
            str(self.source_dir),
            list(self.method_map),
            {pattern: dict(opts) for pattern, opts in self.options.items()},
            **extra,
        ):
            if "tests" in filename.split("/"):
                continue
            catalog.add(
                message, None, [(filename, lineno)], auto_comments=comments, context=context
            )
        return catalog

    def load(self, locale: str) -> Catalog:
        """The ``.po`` catalog of ``locale``."""
        with self.po_path(locale).open("rb") as fh:
            return read_po(fh, locale=locale, domain=DOMAIN)

    def problems(self, locale: str, template: Catalog | None = None) -> list[str]:
        """Everything wrong with ``locale``'s catalog: messages of the sources it lacks,
        empty or fuzzy translations, translations equal to the English text, format
        placeholders that do not match, the wrong number of plural forms."""
        template = template or self.extract()
        path = self.po_path(locale)
        if not path.exists():
            return [f"{locale}: no catalog at {path}"]
        catalog = self.load(locale)
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
                found.append(
                    f"{label}: {len(strings)} plural forms, expected {catalog.num_plurals}"
                )
            if not all(s and s.strip() for s in strings):
                found.append(f"{label}: untranslated (empty)")
            elif msg.id not in self.same_as_english_ok and any(
                s.strip() in (i.strip() for i in ids) for s in strings
            ):
                found.append(f"{label}: untranslated (same as English)")
            for error in entry.check(catalog):
                found.append(f"{label}: {error}")
        return found

    def update(self) -> None:
        """Write the template and merge it into every locale's catalog."""
        template = self.extract()
        self.pot_path.parent.mkdir(parents=True, exist_ok=True)
        with self.pot_path.open("wb") as fh:
            write_po(fh, template, width=100, omit_header=False, sort_output=False)
        for locale in self.locales:
            path = self.po_path(locale)
            catalog = self.load(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
            catalog.update(template, no_fuzzy_matching=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as fh:
                write_po(fh, catalog, width=100, ignore_obsolete=True, include_previous=False)
            print(f"updated {path}")

    def main(self, argv: list[str] | None = None) -> int:
        """Command line: ``extract``, ``update`` or ``check`` (the default)."""
        args = sys.argv[1:] if argv is None else argv
        action = args[0] if args else "check"
        if action == "extract":
            with self.pot_path.open("wb") as fh:
                write_po(fh, self.extract(), width=100)
            print(f"wrote {self.pot_path}")
            return 0
        if action == "update":
            self.update()
            return 0
        if action == "check":
            template = self.extract()
            found = [p for loc in self.locales for p in self.problems(loc, template)]
            count = sum(1 for m in template if m.id)
            print(
                "\n".join(found)
                or f"{count} messages, all translated in {len(self.locales)} locales"
            )
            return 1 if found else 0
        print(__doc__)
        return 2
