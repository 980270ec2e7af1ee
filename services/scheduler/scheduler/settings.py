"""Settings of the scheduler service (environment names: docs/services/scheduler.md)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field, model_validator

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Scheduler settings; every field is read from the upper-case environment name."""

    service_name: ClassVar[str] = "scheduler"
    default_http_port: ClassVar[int] = 8004

    #: Enables ``POST /v1/admin/clock`` (local runs and tests only; refused in production).
    scheduler_clock_control: bool = False
    #: With clock control: the instant the clock shows when it first starts on a new
    #: database (it may be in the past), so the calendar can be tested on any day.
    scheduler_clock_start: datetime | None = None
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
        if self.scheduler_clock_start is not None:
            if not self.scheduler_clock_control:
                raise ValueError("SCHEDULER_CLOCK_START needs SCHEDULER_CLOCK_CONTROL=true")
            if self.scheduler_clock_start.tzinfo is None:
                raise ValueError("SCHEDULER_CLOCK_START needs a UTC offset (…Z or …+00:00)")
        return self
