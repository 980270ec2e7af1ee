"""Bearer JWT verification: guardian tokens from identity (ES256, keys by ``kid`` from
identity's JWKS or configured) and staff tokens from the district identity provider (its
discovery document and JWKS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import jwt

from linking.domain.guardians import GuardianIdentity
from linking.domain.staff import StaffIdentity, StaffRole
from shared.runtime.jwks import JwksCache, KeySourceUnavailable, UnknownKey
from shared.runtime.logs import get_logger
from shared.runtime.policy import StaffPolicy
from shared.runtime.staff_tokens import (
    FirstOf,
    KeyResolver,
    StaffAuthSettings,
    StaffTokenRefused,
    StaticKeys,
    TrustedIssuer,
)
from shared.runtime.staff_tokens import StaffTokenVerifier as SharedStaffVerifier

log = get_logger(__name__)

__all__ = [
    "GuardianTokenVerifier",
    "InvalidToken",
    "KeysUnavailable",
    "StaffTokenRefused",
    "StaffTokenVerifier",
]


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not signed by a trusted key."""


class KeysUnavailable(Exception):
    """Identity's key set cannot be fetched and no key is held for the token's kid."""


class GuardianTokenVerifier:
    """Verifies identity's guardian access tokens (ES256, key by ``kid``).

    Keys: identity's JWKS (``IDENTITY_JWKS_URL``, cached, refetched for an unknown kid)
    and/or public keys configured by hand (``IDENTITY_JWT_PUBLIC_KEYS``, tried first).
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        issuer: str,
        audience: str,
        leeway: int,
        jwks_url: str | None = None,
        refresh_seconds: float = 10.0,
    ) -> None:
        resolvers: list[KeyResolver] = []
        if keys:
            resolvers.append(StaticKeys(keys))
        if jwks_url:
            resolvers.append(JwksCache(jwks_url, min_refresh_interval=refresh_seconds))
        self._keys = FirstOf(*resolvers)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    async def verify(self, token: str) -> GuardianIdentity:
        """The guardian of ``token`` (raises ``InvalidToken`` or ``KeysUnavailable``)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown key id")
        try:
            key = await self._keys.get(kid)
        except UnknownKey:
            raise InvalidToken("unknown key id") from None
        except KeySourceUnavailable as exc:
            log.warning("identity keys unavailable", error=str(exc))
            raise KeysUnavailable(str(exc)) from None
        try:
            claims = jwt.decode(
                token,
                getattr(key, "key", key),  # a PyJWK from the JWKS or a configured key
                algorithms=["ES256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
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


class StaffTokenVerifier:
    """Verifies staff tokens of the trusted issuers (:mod:`shared.runtime.staff_tokens`:
    the district's OpenID provider through discovery and JWKS, a hand-configured issuer,
    the local ``portal staff-token`` key) and maps their claims to schools and role with
    the district policy. Refusals raise ``StaffTokenRefused``."""

    def __init__(self, issuers: Sequence[TrustedIssuer], *, leeway: int) -> None:
        self._verifier = SharedStaffVerifier(issuers, leeway=leeway)

    @classmethod
    def from_settings(
        cls, settings: StaffAuthSettings, policy: StaffPolicy, leeway: int
    ) -> StaffTokenVerifier:
        """The verifier of a service's settings and the district's staff policy."""
        return cls(settings.staff_issuers(policy), leeway=leeway)

    async def verify(self, token: str) -> StaffIdentity:
        """The staff member of ``token``."""
        access, _claims = await self._verifier.verify(token)
        role: StaffRole = "district_admin" if access.district_admin else "school_staff"
        return StaffIdentity(staff_id=access.staff_id, role=role, schools=access.schools)
