"""Single-use tokens (verification, reset): 128 bits of randomness, stored only as their
SHA-256 (a stolen database does not yield usable links)."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh URL-safe token with 128 bits of entropy."""
    return secrets.token_urlsafe(16)


def hash_token(token: str) -> str:
    """The stored form of ``token`` (hex SHA-256; tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_session_random() -> str:
    """The random part of a session id."""
    return secrets.token_hex(8)
