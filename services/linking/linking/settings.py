"""Settings of the linking service (environment names in docs/services/linking.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from shared.runtime.staff_tokens import (
    LOCAL_STAFF_ISSUER,
    LOCAL_STAFF_KID,
    StaffAuthSettings,
)
from shared.runtime.staff_tokens import parse_pem_keys as _parse_keys

IDENTITY_ISSUER = "urn:guardian-portal:identity"
AUDIENCE = "guardian-portal"
LOCAL_IDENTITY_KID = "local-1"

__all__ = [
    "AUDIENCE",
    "IDENTITY_ISSUER",
    "LOCAL_IDENTITY_KID",
    "LOCAL_STAFF_ISSUER",
    "LOCAL_STAFF_KID",
    "Settings",
]


class Settings(StaffAuthSettings):
    """linking settings."""

    service_name: ClassVar[str] = "linking"
    default_http_port: ClassVar[int] = 8002

    #: identity's JWKS (``http://identity:8001/.well-known/jwks.json``): keys fetched,
    #: cached, refetched for an unknown kid.
    identity_jwks_url: str | None = None
    #: JSON object kid -> PEM public key of identity's guardian JWTs, tried before the
    #: JWKS (local: the dev key when neither is set).
    identity_jwt_public_keys: str | None = None
    identity_jwt_issuer: str = IDENTITY_ISSUER
    identity_jwt_audience: str = AUDIENCE

    # The district identity provider's staff tokens: STAFF_OIDC_ISSUER... (StaffAuthSettings)

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
        if self.environment == "production" and not (
            self.identity_jwt_public_keys or self.identity_jwks_url
        ):
            raise ValueError(
                "IDENTITY_JWKS_URL (or IDENTITY_JWT_PUBLIC_KEYS) must be set in production"
            )
        return self

    def identity_keys(self) -> dict[str, str]:
        """kid -> PEM of the configured guardian JWT keys (the local dev key when neither
        keys nor a JWKS URL are set outside production)."""
        keys = _parse_keys(self.identity_jwt_public_keys, "IDENTITY_JWT_PUBLIC_KEYS")
        if keys or self.identity_jwks_url or self.environment == "production":
            return keys
        from shared.runtime.devkeys import dev_keypair

        return {LOCAL_IDENTITY_KID: dev_keypair("identity-jwt")[1]}
