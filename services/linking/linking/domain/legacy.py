"""Password hashes of the district's previous parent portal.

Supported formats (``password_hash`` column of ``portal legacy import``):

* argon2 (``$argon2id$...``, ``$argon2i$...``, ``$argon2d$...``; PHC strings);
* PBKDF2-HMAC-SHA256 in passlib's format: ``$pbkdf2-sha256$<rounds>$<salt>$<checksum>``
  with passlib's adapted base64 (``.`` for ``+``, no padding).

Verification is constant-time in the hash comparison, and an unknown username is checked
against a dummy hash so that it costs the same as a wrong password.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import os
from typing import Any, NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PBKDF2_PREFIX = "$pbkdf2-sha256$"
ARGON2_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")
MIN_ROUNDS, MAX_ROUNDS = 1000, 5_000_000

_argon2 = PasswordHasher()


class UnsupportedHash(ValueError):
    """The hash is not in a supported format."""


def _ab64_decode(text: str) -> bytes:
    data = text.replace(".", "+")
    return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=").replace("+", ".")


def _parse_pbkdf2(hash_: str) -> tuple[int, bytes, bytes]:
    parts = hash_.split("$")
    # ['', 'pbkdf2-sha256', rounds, salt, checksum]
    if len(parts) != 5 or parts[1] != "pbkdf2-sha256":
        raise UnsupportedHash("malformed pbkdf2-sha256 hash")
    try:
        rounds = int(parts[2])
        salt = _ab64_decode(parts[3])
        checksum = _ab64_decode(parts[4])
    except ValueError as exc:
        raise UnsupportedHash("malformed pbkdf2-sha256 hash") from exc
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise UnsupportedHash(f"pbkdf2-sha256 rounds must be {MIN_ROUNDS}..{MAX_ROUNDS}")
    if len(checksum) != 32 or not salt:
        raise UnsupportedHash("malformed pbkdf2-sha256 hash")
    return rounds, salt, checksum


def check_hash_format(hash_: str) -> str:
    """The scheme of a supported hash (``argon2`` or ``pbkdf2-sha256``); raise
    :class:`UnsupportedHash` otherwise."""
    if hash_.startswith(PBKDF2_PREFIX):
        _parse_pbkdf2(hash_)
        return "pbkdf2-sha256"
    if hash_.startswith(ARGON2_PREFIXES):
        try:
            from argon2 import extract_parameters

            extract_parameters(hash_)
        except (InvalidHashError, ValueError) as exc:
            raise UnsupportedHash("malformed argon2 hash") from exc
        return "argon2"
    raise UnsupportedHash("unsupported hash format (use argon2 or $pbkdf2-sha256$)")


def hash_pbkdf2_sha256(password: str, rounds: int = 29000, salt: bytes | None = None) -> str:
    """A passlib-compatible ``$pbkdf2-sha256$`` hash (for tests, benchmarks and tools)."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
    return f"{PBKDF2_PREFIX}{rounds}${_ab64_encode(salt)}${_ab64_encode(digest)}"


def verify_password(password: str, hash_: str) -> bool:
    """True when ``password`` matches ``hash_``; False for a wrong password or a hash that
    cannot be used."""
    if hash_.startswith(PBKDF2_PREFIX):
        try:
            rounds, salt, checksum = _parse_pbkdf2(hash_)
        except UnsupportedHash:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
        return hmac.compare_digest(digest, checksum)
    if hash_.startswith(ARGON2_PREFIXES):
        try:
            return _argon2.verify(hash_, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return False


_DUMMY: str | None = None


def verify_against_dummy(password: str) -> bool:
    """Spend the time of a real verification for an unknown username; always False."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_pbkdf2_sha256("not-a-real-password", rounds=29000)
    verify_password(password, _DUMMY)
    return False


def username_key(username: str) -> str:
    """Normalised legacy username (trimmed, case folded)."""
    return username.strip().casefold()


LEGACY_COLUMNS = ("username", "password_hash", "school_id", "student_id")


class LegacyRowRejected(NamedTuple):
    row: int
    reason: str


class LegacyFile(NamedTuple):
    """Parsed credentials: one entry per username with all its students."""

    credentials: list[dict[str, Any]]
    rejections: list[LegacyRowRejected]
    rows_read: int


def parse_legacy_csv(text: str) -> LegacyFile:
    """Parse ``username,password_hash,school_id,student_id`` rows.

    A row with an empty field or an unsupported hash is rejected with its row number; a
    username whose rows disagree on the hash keeps the first hash (later rows rejected).
    Raises :class:`~linking.domain.errors.LegacyFileInvalid` if the file has no such header.
    """
    from linking.domain.errors import LegacyFileInvalid
    from linking.domain.matching import id_key

    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise LegacyFileInvalid(f"not valid CSV: {exc}") from None
    missing = [c for c in LEGACY_COLUMNS if c not in header]
    if missing:
        raise LegacyFileInvalid(f"missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    by_user: dict[str, dict[str, Any]] = {}
    rejections: list[LegacyRowRejected] = []
    rows = 0
    try:
        for index, row in enumerate(reader):
            rows += 1
            number = index + 2
            values = {c: (row.get(c) or "").strip() for c in LEGACY_COLUMNS}
            empty = [c for c in LEGACY_COLUMNS if not values[c]]
            if empty:
                rejections.append(LegacyRowRejected(number, f"{', '.join(empty)} empty"))
                continue
            try:
                check_hash_format(values["password_hash"])
            except UnsupportedHash as exc:
                rejections.append(LegacyRowRejected(number, str(exc)))
                continue
            key = username_key(values["username"])
            entry = by_user.setdefault(
                key,
                {
                    "username_key": key,
                    "username": values["username"],
                    "password_hash": values["password_hash"],
                    "students": [],
                },
            )
            if entry["password_hash"] != values["password_hash"]:
                rejections.append(
                    LegacyRowRejected(number, "another password_hash for the same username")
                )
                continue
            pair = [id_key(values["school_id"]), id_key(values["student_id"])]
            if pair not in entry["students"]:
                entry["students"].append(pair)
    except csv.Error as exc:
        raise LegacyFileInvalid(f"not valid CSV (line {reader.line_num}: {exc})") from None
    return LegacyFile(list(by_user.values()), rejections, rows)
