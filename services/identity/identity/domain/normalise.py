"""Canonical forms: emails (the username), security answers, phone numbers, names."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

_SPACES = re.compile(r"\s+")
#: Characters a guardian may type inside a phone number besides digits.
_PHONE_FORMATTING = re.compile(r"[\s().\-+/]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def normalise_email(raw: str) -> str:
    """``"  Jenny.Denny@Example.NET "`` → ``"jenny.denny@example.net"`` (strip, lower)."""
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    """Syntax check (RFC 5322 as email-validator sees it; no DNS lookup)."""
    if not email or len(email) > 254:
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def email_domain(email: str) -> str:
    """The domain part of a (normalised) email."""
    return email.rpartition("@")[2]


def domain_is_forbidden(email: str, forbidden: list[str]) -> str | None:
    """The forbidden domain ``email`` belongs to (the domain itself or a subdomain of it),
    or None."""
    domain = email_domain(email)
    for item in forbidden:
        if domain == item or domain.endswith("." + item):
            return item
    return None


def strip_accents(text: str) -> str:
    """``"Émile"`` → ``"Emile"``: decompose and drop combining marks."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_answer(raw: str) -> str:
    """A security answer as hashed: accents stripped, case-folded, trimmed, inner spaces
    collapsed, so ``"  Émile   Zola"`` and ``"emile zola"`` match."""
    text = strip_accents(raw).casefold()
    return _SPACES.sub(" ", text).strip()


def normalise_name(raw: str) -> str:
    """A person's name as stored: trimmed with inner spaces collapsed (case kept)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()


#: Longest name kept (first or last): names are put into emails sent to any address.
MAX_NAME_LENGTH = 50
#: Punctuation a person's name may hold besides letters, marks and spaces.
_NAME_PUNCTUATION = frozenset("'’‘-‐.,")
#: Something a mail client would turn into a link (``evil.com``, ``www.x.io``).
_DOMAIN_LIKE = re.compile(r"\w\.\w{2,}")


def is_valid_name(name: str) -> bool:
    """A person's name: letters (any script, with their marks), spaces and the
    punctuation of names (apostrophes, hyphens, periods, commas), at least one letter,
    at most :data:`MAX_NAME_LENGTH` characters, nothing that reads as a web address."""
    if not name or len(name) > MAX_NAME_LENGTH or _DOMAIN_LIKE.search(name):
        return False
    for c in name:
        kind = unicodedata.category(c)
        if not (kind[0] in "LM" or c == " " or c in _NAME_PUNCTUATION):
            return False
    return any(c.isalpha() for c in name)


def phone_digits(raw: str) -> str | None:
    """The digits of a phone number typed with formatting (spaces, dashes, dots,
    parentheses, ``+``, ``/``); None if anything else is in it."""
    stripped = _PHONE_FORMATTING.sub("", raw)
    if not stripped.isascii() or not stripped.isdigit():
        return None
    return stripped


def has_control_characters(text: str) -> bool:
    """True if ``text`` contains control characters (never valid in a free-text field)."""
    return bool(_CONTROL.search(text))
