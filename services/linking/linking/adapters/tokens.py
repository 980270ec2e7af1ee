"""Bearer JWT verification: guardian tokens from identity (ES256, keys by ``kid``) and
staff tokens from the district identity provider (its discovery document and JWKS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from linking.domain.guardians import GuardianIdentity
from linking.domain.staff import StaffIdentity, StaffRole
from shared.runtime.logs import get_logger
from shared.runtime.policy import StaffPolicy
from shared.runtime.staff_tokens import StaffAuthSettings, StaffTokenRefused, TrustedIssuer
from shared.runtime.staff_tokens import StaffTokenVerifier as SharedStaffVerifier

log = get_logger(__name__)

__all__ = [
    "GuardianTokenVerifier",
    "InvalidToken",
    "StaffTokenRefused",
    "StaffTokenVerifier",
]


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
