"""Signing keys published as a JSON Web Key Set (RFC 7517), fetched over HTTP and cached.

Used for the district identity provider's staff tokens (its JWKS, found through its
OpenID Connect discovery document) and for identity's guardian tokens
(``GET /.well-known/jwks.json``). PyJWT parses the keys; httpx fetches them.

The cache answers from memory. It fetches the set again when a token names a key id it
does not hold (a provider rotated its keys: no restart needed) and when the set is older
than ``max_age`` (a removed key stops being trusted). Refetches for unknown key ids are
spaced by ``min_refresh_interval`` and made by one caller at a time, so a flood of tokens
with invented key ids costs the provider one request per interval, not one per token. When
the provider cannot be reached, the keys already held keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError, PyJWTError

from shared.runtime.logs import get_logger

log = get_logger(__name__)

#: Algorithms a signing key may use here: asymmetric only (never ``none`` or HMAC).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class UnknownKey(Exception):
    """No key of the set has the token's key id, even after a refetch."""


class KeySourceUnavailable(Exception):
    """The key set could not be fetched and no key is cached for this token."""


async def fetch_json(url: str, timeout: float) -> dict[str, Any]:
    """GET ``url`` and return its JSON object (raises ``KeySourceUnavailable``)."""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise KeySourceUnavailable(f"{url}: {type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise KeySourceUnavailable(f"{url}: not a JSON object")
    return body


def parse_key_set(document: dict[str, Any]) -> dict[str, PyJWK]:
    """kid -> key of the signing keys of a JWKS document (encryption keys, keys without a
    kid and keys PyJWT cannot use are left out)."""
    keys = [
        k
        for k in document.get("keys", [])
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and isinstance(k.get("kid"), str)
    ]
    try:
        parsed = PyJWKSet(keys)
    except (PyJWKSetError, PyJWTError):
        return {}
    return {key.key_id: key for key in parsed if key.key_id}


class JwksCache:
    """The keys of one JWKS URL, by key id (see the module docstring for the refresh rules).

    ``url`` may be a coroutine function, for a URL found in a discovery document.
    """

    def __init__(
        self,
        url: str | Callable[[], Awaitable[str]],
        *,
        max_age: float = 3600.0,
        min_refresh_interval: float = 10.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()
        #: how many times the set was fetched (for tests and metrics)
        self.fetches = 0

    @property
    def key_ids(self) -> list[str]:
        """Key ids currently held."""
        return sorted(self._keys)

    async def _resolve_url(self) -> str:
        if isinstance(self._url, str):
            return self._url
        return await self._url()

    async def refresh(self) -> None:
        """Fetch the set now (raises ``KeySourceUnavailable``); keeps the old keys on error."""
        self._tried_at = self._clock()
        url = await self._resolve_url()
        document = await fetch_json(url, self.timeout)
        keys = parse_key_set(document)
        if not keys:
            raise KeySourceUnavailable(f"{url}: no usable signing key in the set")
        self.fetches += 1
        added = sorted(set(keys) - set(self._keys))
        removed = sorted(set(self._keys) - set(keys))
        if self._fetched_at is not None and (added or removed):
            log.info("signing keys changed", url=url, added=added, removed=removed)
        self._keys = keys
        self._fetched_at = self._clock()

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age

    def _may_retry(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self.min_refresh_interval

    async def get(self, kid: str) -> PyJWK:
        """The key ``kid``; refetches the set when it is unknown or the set is old."""
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None and not self._stale():
                return key  # another caller refreshed meanwhile
            if self._may_retry():
                try:
                    await self.refresh()
                except KeySourceUnavailable as exc:
                    log.warning("signing keys could not be fetched", error=str(exc))
                    if not self._keys:
                        raise
            key = self._keys.get(kid)
        if key is None:
            if not self._keys:
                raise KeySourceUnavailable("no signing key fetched yet")
            raise UnknownKey(kid)
        return key
