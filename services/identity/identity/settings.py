"""Settings of the identity service (environment names: docs/services/identity.md)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from shared.runtime.staff_tokens import StaffAuthSettings


class Settings(StaffAuthSettings):
    """identity settings (the STAFF_* ones are for the staff help desk)."""

    #: identity starts without a staff provider: the help desk then refuses every token
    staff_auth_required: ClassVar[bool] = False

    service_name: ClassVar[str] = "identity"
    default_http_port: ClassVar[int] = 8001

    #: JSON object kid → PEM (ES256 private keys); unset outside production: the local
    #: development key (``var/keys/identity-jwt.pem``, kid ``local-1``).
    identity_jwt_private_keys: SecretStr | None = None
    #: The kid that signs new tokens (the others still verify during a rotation).
    identity_jwt_active_kid: str | None = None

    #: ``altcha``: self-hosted proof of work; CAPTCHA_SECRET is then its HMAC key.
    captcha_provider: Literal["none", "turnstile", "hcaptcha", "recaptcha", "altcha"] = "none"
    captcha_secret: SecretStr | None = None
    #: Override of the provider's siteverify URL (a proxy, or a test double).
    captcha_verify_url: str | None = None

    #: argon2id parameters (OWASP floor by default). Raising them re-hashes each
    #: password at its owner's next sign-in.
    identity_argon2_memory_kib: int = 19456
    identity_argon2_time_cost: int = 2
    identity_argon2_parallelism: int = 1
    #: Hashing threads (0: one per CPU core).
    identity_hash_workers: int = 0

    #: How often never-verified accounts are purged (seconds), and the first delay.
    identity_purge_interval_seconds: float = 3600.0
    identity_purge_first_delay_seconds: float = 30.0
    #: Proxies in front of identity that append to ``X-Forwarded-For`` (the ingress or
    #: Gateway: 1). The client address, which the per-address limits count, is that many
    #: entries from the right; 0 (the default): the connection's peer address.
    identity_trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    #: Deprecated: ``true`` means ``IDENTITY_TRUSTED_PROXY_HOPS=1``.
    identity_trust_forwarded_for: bool = False

    @property
    def proxy_hops(self) -> int:
        """The trusted proxy hops, the deprecated switch included."""
        if self.identity_trusted_proxy_hops == 0 and self.identity_trust_forwarded_for:
            return 1
        return self.identity_trusted_proxy_hops

    def production_problems(self) -> dict[str, str]:
        problems = super().production_problems()
        if self.captcha_provider == "none":
            problems["captcha"] = "CAPTCHA_PROVIDER=none leaves registration without a captcha"
        return problems

    @model_validator(mode="after")
    def _production_floor(self) -> Settings:
        if self.environment == "production":
            if self.identity_jwt_private_keys is None:
                raise ValueError("IDENTITY_JWT_PRIVATE_KEYS must be set in production")
            if self.identity_argon2_memory_kib < 19456 or self.identity_argon2_time_cost < 2:
                raise ValueError("argon2id below OWASP's floor (19 MiB, t=2) in production")
        if self.captcha_provider != "none" and not self.captcha_secret:
            raise ValueError(f"CAPTCHA_SECRET is required for CAPTCHA_PROVIDER={self.captcha_provider}")
        return self
