"""Guardian access tokens: ES256 JWTs signed with the active key (``kid`` header), so that
linking verifies them with the public keys alone and keys rotate by ``kid``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

from shared.runtime.devkeys import dev_keypair

ISSUER = "urn:guardian-portal:identity"
AUDIENCE = "guardian-portal"
ALGORITHM = "ES256"
DEV_KID = "local-1"


class InvalidSession(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


@dataclass(frozen=True)
class Claims:
    """What a verified guardian token says."""

    account_id: str
    sid: str
    email: str
    expires_at: datetime


class SessionTokens:
    """Issues and verifies guardian JWTs."""

    def __init__(self, private_keys: dict[str, str], active_kid: str) -> None:
        if active_kid not in private_keys:
            raise ValueError(f"IDENTITY_JWT_ACTIVE_KID {active_kid!r} has no private key")
        self.active_kid = active_kid
        self._private: dict[str, EllipticCurvePrivateKey] = {}
        self._public: dict[str, Any] = {}
        for kid, pem in private_keys.items():
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(key, EllipticCurvePrivateKey):
                raise ValueError(f"IDENTITY_JWT_PRIVATE_KEYS[{kid!r}] is not an EC private key")
            self._private[kid] = key
            self._public[kid] = key.public_key()

    @classmethod
    def from_settings(
        cls, private_keys_json: str | None, active_kid: str | None, *, production: bool
    ) -> SessionTokens:
        """Keys from ``IDENTITY_JWT_PRIVATE_KEYS`` / ``IDENTITY_JWT_ACTIVE_KID``; the local
        development key when unset outside production."""
        if private_keys_json:
            try:
                keys = json.loads(private_keys_json)
            except json.JSONDecodeError:
                raise ValueError("IDENTITY_JWT_PRIVATE_KEYS is not a JSON object") from None
            if not isinstance(keys, dict) or not keys:
                raise ValueError("IDENTITY_JWT_PRIVATE_KEYS must map kid to PEM")
            return cls(keys, active_kid or next(iter(keys)))
        if production:
            raise ValueError("IDENTITY_JWT_PRIVATE_KEYS must be set in production")
        private_pem, _ = dev_keypair("identity-jwt")
        return cls({DEV_KID: private_pem}, DEV_KID)

    def public_keys_pem(self) -> dict[str, str]:
        """kid → public PEM (what linking's ``IDENTITY_JWT_PUBLIC_KEYS`` holds)."""
        return {
            kid: key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
            for kid, key in self._public.items()
        }

    def public_jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set of every configured key (active first): ``kid``, ``use``
        ``sig``, ``alg`` ES256 and the P-256 public point."""
        keys = []
        for kid in sorted(self._public, key=lambda k: k != self.active_kid):
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._public[kid]))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": keys}

    def issue(
        self, *, account_id: str, email: str, name: str, locale: str, sid: str,
        now: datetime, ttl: timedelta,
    ) -> tuple[str, datetime]:
        """A signed access token and its expiry."""
        expires = now + ttl
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": account_id, "email": email, "name": name,
            "locale": locale, "sid": sid, "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(claims, self._private[self.active_kid], algorithm=ALGORITHM,
                           headers={"kid": self.active_kid})
        return token, datetime.fromtimestamp(int(expires.timestamp()), tz=now.tzinfo)

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; :class:`InvalidSession` otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._public.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidSession("unknown kid")
            data = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidSession(type(exc).__name__) from None
        return Claims(
            account_id=str(data["sub"]), sid=str(data["sid"]), email=str(data.get("email", "")),
            expires_at=datetime.fromtimestamp(int(data["exp"]), tz=UTC),
        )
