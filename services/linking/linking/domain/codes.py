"""Activation codes: single-use, expiring codes a school hands to one guardian after
checking ID. Only a hash is stored; the code is shown once, when issued."""

from __future__ import annotations

import hashlib
import secrets

#: Crockford base32: no I, L, O, U (read aloud and typed from paper without confusion).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def generate_code() -> str:
    """A fresh code, grouped for reading: ``7K3M-Q9ZD-2HXA-VB4T``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(code: str) -> str:
    """Upper case, separators and spaces removed, look-alike letters mapped to digits."""
    cleaned = "".join(c for c in code.upper() if c.isalnum())
    return cleaned.translate(_CONFUSABLE)


def hash_code(code: str) -> str:
    """The stored form of a code (SHA-256 of its normalised form; 80 random bits need no
    slow hash)."""
    return hashlib.sha256(f"activation-code:{normalise_code(code)}".encode()).hexdigest()


def looks_like_code(code: str) -> bool:
    """True when ``code`` has the shape of a code (avoids a lookup for obvious typos)."""
    normal = normalise_code(code)
    return len(normal) == CODE_LENGTH and all(c in ALPHABET for c in normal)
