"""Bearer JWT verification: guardian tokens from identity (ES256, keys by ``kid``) and
staff tokens from the district identity provider (static keys and/or its JWKS)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientError

from linking.domain.guardians import GuardianIdentity
from linking.domain.staff import StaffIdentity
from shared.runtime.logs import get_logger

log = get_logger(__name__)

STAFF_ROLES = ("school_staff", "district_admin")


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not signed by a trusted key."""


class _KeyedVerifier:
    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        leeway: int,
    ) -> None:
        self._loaded: dict[str, Any] = {}
        for kid, pem in keys.items():
            try:
                self._loaded[kid] = load_pem_public_key(pem.encode())
            except ValueError as exc:
                raise ValueError(f"public key {kid!r} is not a PEM public key") from exc
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.leeway = leeway

    def header(self, token: str) -> dict[str, Any]:
        try:
            return jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc

    def decode(self, token: str, key: Any, required: Sequence[str]) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(required)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc


class GuardianTokenVerifier(_KeyedVerifier):
    """Verifies identity's guardian access tokens."""

    def __init__(self, keys: Mapping[str, str], *, issuer: str, audience: str, leeway: int) -> None:
        super().__init__(
            keys, issuer=issuer, audience=audience, algorithms=["ES256"], leeway=leeway
        )

    def verify(self, token: str) -> GuardianIdentity:
        kid = self.header(token).get("kid")
        key = self._loaded.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown key id")
        claims = self.decode(token, key, ["sub", "exp", "iat", "iss", "aud"])
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("no subject")
        email = claims.get("email")
        name = claims.get("name")
        locale = claims.get("locale")
        return GuardianIdentity(
            account_id=sub,
            email=email if isinstance(email, str) else "",
            name=name if isinstance(name, str) else "",
            locale=locale if isinstance(locale, str) and locale else "en",
            session_id=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
        )


class StaffTokenVerifier(_KeyedVerifier):
    """Verifies staff tokens of the district IdP: claims ``sub``, ``role`` and
    ``schools``. Keys come from static PEMs and/or the IdP's JWKS (fetched in a thread,
    cached by PyJWT's client)."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        leeway: int,
        jwks_url: str | None = None,
    ) -> None:
        super().__init__(
            keys, issuer=issuer, audience=audience, algorithms=algorithms, leeway=leeway
        )
        self._jwks = PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None

    async def _key(self, token: str) -> Any:
        kid = self.header(token).get("kid")
        if isinstance(kid, str) and kid in self._loaded:
            return self._loaded[kid]
        if self._jwks is None:
            raise InvalidToken("unknown key id")
        try:
            signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except (PyJWKClientError, jwt.PyJWTError) as exc:
            log.warning("staff JWKS lookup failed", error=type(exc).__name__)
            raise InvalidToken("unknown key id") from exc
        return signing.key

    async def verify(self, token: str) -> StaffIdentity:
        claims = self.decode(token, await self._key(token), ["sub", "exp", "iss", "aud"])
        sub, role, schools = claims.get("sub"), claims.get("role"), claims.get("schools", [])
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("no subject")
        if role not in STAFF_ROLES:
            raise InvalidToken("no staff role")
        if isinstance(schools, str):
            schools = [schools]
        if not isinstance(schools, list) or not all(isinstance(s, str) for s in schools):
            raise InvalidToken("schools claim is not a list of ids")
        return StaffIdentity(staff_id=sub, role=role, schools=frozenset(schools))
