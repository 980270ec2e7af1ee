"""Matching a guardian's claim against the roster: school + student id + last name,
case-, accent-, space- and punctuation-insensitive, plus the district's extra fields."""

from __future__ import annotations

import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


def name_key(text: str | None) -> str:
    """Normalised form of a name: accents removed, case folded, and everything that is not
    a letter or digit dropped (spaces, hyphens, apostrophes, periods).

    ``"  De la Peña-O'Brien "`` and ``"DELAPENAOBRIEN"`` have the same key.
    """
    if not text:
        return ""
    if text.isascii():  # no accents to strip
        return "".join(c for c in text.casefold() if c.isalnum())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in stripped.casefold() if c.isalnum())


def id_key(value: str | None) -> str:
    """Normalised form of a school or student id: no whitespace, upper case."""
    if not value:
        return ""
    if value.isalnum():  # the common case, without splitting
        return value.upper()
    return "".join(value.split()).upper()


def student_doc_id(school_id: str, student_id: str) -> str:
    """The roster key of a student at a school."""
    return f"{id_key(school_id)}|{id_key(student_id)}"


@dataclass(frozen=True)
class ClaimDetails:
    """What a guardian typed about the student (besides school and student id)."""

    last_name: str
    first_name: str | None = None
    birth_date: date | None = None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def details_match(
    *,
    last_name_key: str,
    first_name_key: str,
    birth_date: str | None,
    claim: ClaimDetails,
    required_fields: Iterable[str],
) -> bool:
    """True when the claim's details match the roster entry.

    ``required_fields`` are the policy's extra fields (``student_first_name``,
    ``student_birth_date``); each must be given and match. Every comparison runs even
    after a mismatch so the answer takes the same time whichever detail was wrong.
    """
    ok = bool(last_name_key) and _same(name_key(claim.last_name), last_name_key)
    for required in required_fields:
        if required == "student_first_name":
            given = name_key(claim.first_name)
            ok = (bool(given) and _same(given, first_name_key)) and ok
        elif required == "student_birth_date":
            given_date = claim.birth_date.isoformat() if claim.birth_date else ""
            ok = (bool(given_date) and _same(given_date, birth_date or "")) and ok
        else:  # an unknown requirement can never be met
            ok = False
    return ok
