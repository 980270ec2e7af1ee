"""Settings of the webhooks service (environment names: docs/services/webhooks.md)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from shared.runtime.settings import ServiceSettings
from webhooks.domain.model import DEFAULT_RETRY_SCHEDULE


class Settings(ServiceSettings):
    """Webhook delivery: retry schedule, time-outs, which addresses may receive."""

    service_name: ClassVar[str] = "webhooks"
    default_http_port: ClassVar[int] = 8005

    #: Seconds between attempts, one per retry (default ≈ 4 days in all).
    webhooks_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE)
    )
    #: Time-out of one attempt (connect + response).
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0)
    #: Attempts in flight at once (never two of the same endpoint and link).
    webhooks_concurrency: int = Field(default=16, ge=1, le=512)
    #: How long a claimed delivery stays reserved to a sender that may have died.
    webhooks_lease_seconds: float = Field(default=60.0, gt=0)
    #: How often the sender looks for due retries when nothing woke it.
    webhooks_poll_seconds: float = Field(default=1.0, gt=0)
    #: Non-public networks (CIDR) the district allows as webhook destinations, e.g. an
    #: SIS inside its own network. Everything non-public is refused otherwise.
    webhooks_allowed_networks: list[str] = Field(default_factory=list)
    #: Allow http:// URLs (never honoured in production).
    webhooks_allow_http: bool = False
    #: Extra CA certificates (PEM) to trust for endpoints with a private CA.
    webhooks_ca_file: Path | None = None
    #: How long a revocation or contact change waits after its event's time before it is
    #: sent, so that its link's approval (another topic, read independently) goes first.
    webhooks_order_window_seconds: float = Field(default=5.0, ge=0, le=300)
    #: How long the previous secret stays valid after a rotation.
    webhooks_rotation_overlap_hours: float = Field(default=24.0, gt=0)

    @field_validator("webhooks_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    @property
    def require_https(self) -> bool:
        """https:// only: always in production, elsewhere unless WEBHOOKS_ALLOW_HTTP."""
        return self.environment == "production" or not self.webhooks_allow_http
