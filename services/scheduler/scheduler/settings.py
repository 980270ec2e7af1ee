"""Settings of the scheduler service (environment names: docs/services/scheduler.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Scheduler settings; every field is read from the upper-case environment name."""

    service_name: ClassVar[str] = "scheduler"
    default_http_port: ClassVar[int] = 8004

    #: Enables ``POST /v1/admin/clock`` (local runs and tests only; refused in production).
    scheduler_clock_control: bool = False
    #: Timers claimed, published and recorded per batch.
    scheduler_batch_size: int = Field(default=500, ge=1, le=10_000)
    #: Share of a batch taken from the most recently due timers when there is a backlog.
    scheduler_fresh_share: float = Field(default=0.1, ge=0.0, le=0.5)
    #: How long a claim holds timers (wall clock); a dead replica's timers are re-claimed
    #: after it. Must exceed the time to publish one batch.
    scheduler_lease_seconds: float = Field(default=30.0, gt=0)
    #: How often an idle replica looks for due timers.
    scheduler_poll_seconds: float = Field(default=1.0, gt=0)
    #: How often the scheduled / due gauges are recounted (0 disables).
    scheduler_metrics_seconds: float = Field(default=15.0, ge=0)

    @model_validator(mode="after")
    def _no_clock_control_in_production(self) -> Settings:
        if self.scheduler_clock_control and self.environment == "production":
            raise ValueError("SCHEDULER_CLOCK_CONTROL must not be enabled in production")
        return self
