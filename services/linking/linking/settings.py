"""Settings of the linking service (environment names in docs/services/linking.md)."""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field, model_validator

from shared.runtime.settings import ServiceSettings

IDENTITY_ISSUER = "urn:guardian-portal:identity"
AUDIENCE = "guardian-portal"
LOCAL_STAFF_ISSUER = "urn:guardian-portal:local-staff-idp"
LOCAL_IDENTITY_KID = "local-1"
LOCAL_STAFF_KID = "local-staff-1"


def _parse_keys(raw: str | None, name: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        keys = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} must be a JSON object of kid -> PEM: {exc.msg}") from None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise ValueError(f"{name} must be a JSON object of kid -> PEM")
    return keys


class Settings(ServiceSettings):
    """linking settings."""

    service_name: ClassVar[str] = "linking"
    default_http_port: ClassVar[int] = 8002

    #: JSON object kid -> PEM public key of identity's guardian JWTs (local: dev key).
    identity_jwt_public_keys: str | None = None
    identity_jwt_issuer: str = IDENTITY_ISSUER
    identity_jwt_audience: str = AUDIENCE

    #: The district identity provider's staff JWTs.
    staff_jwt_issuer: str = LOCAL_STAFF_ISSUER
    staff_jwt_audience: str = AUDIENCE
    #: JWKS of the district IdP (production); keys cached, refetched for an unknown kid.
    staff_jwks_url: str | None = None
    #: JSON object kid -> PEM: static staff keys (instead of, or besides, the JWKS).
    staff_jwt_public_keys: str | None = None
    staff_jwt_algorithms: str = "ES256,RS256"

    #: Clock skew tolerated on exp/iat/nbf.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)

    #: Largest roster upload accepted by POST /v1/roster/imports.
    roster_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    #: Documents per bulk write of a roster or legacy import.
    roster_batch_size: int = Field(default=1000, ge=1, le=10000)
    #: Default and largest page of the staff queue.
    queue_page_size: int = Field(default=50, ge=1, le=500)
    queue_max_page_size: int = Field(default=200, ge=1, le=1000)

    @model_validator(mode="after")
    def _keys_are_configured(self) -> Settings:
        _parse_keys(self.identity_jwt_public_keys, "IDENTITY_JWT_PUBLIC_KEYS")
        _parse_keys(self.staff_jwt_public_keys, "STAFF_JWT_PUBLIC_KEYS")
        if self.environment == "production":
            if not self.identity_jwt_public_keys:
                raise ValueError("IDENTITY_JWT_PUBLIC_KEYS must be set in production")
            if not (self.staff_jwks_url or self.staff_jwt_public_keys):
                raise ValueError(
                    "STAFF_JWKS_URL (or STAFF_JWT_PUBLIC_KEYS) must be set in production"
                )
            if self.staff_jwt_issuer == LOCAL_STAFF_ISSUER:
                raise ValueError("STAFF_JWT_ISSUER must be the district IdP's issuer in production")
        return self

    def identity_keys(self) -> dict[str, str]:
        """kid -> PEM of the guardian JWT keys (the local dev key when unset)."""
        keys = _parse_keys(self.identity_jwt_public_keys, "IDENTITY_JWT_PUBLIC_KEYS")
        if keys or self.environment == "production":
            return keys
        from shared.runtime.devkeys import dev_keypair

        return {LOCAL_IDENTITY_KID: dev_keypair("identity-jwt")[1]}

    def staff_keys(self) -> dict[str, str]:
        """kid -> PEM of static staff keys (the local dev key when nothing is set)."""
        keys = _parse_keys(self.staff_jwt_public_keys, "STAFF_JWT_PUBLIC_KEYS")
        if keys or self.staff_jwks_url or self.environment == "production":
            return keys
        from shared.runtime.devkeys import dev_keypair

        return {LOCAL_STAFF_KID: dev_keypair("staff-jwt")[1]}

    @property
    def staff_algorithms(self) -> list[str]:
        return [a.strip() for a in self.staff_jwt_algorithms.split(",") if a.strip()]
