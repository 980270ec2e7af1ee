"""Settings of the scheduler service (environment names: docs/operations/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """scheduler settings."""

    service_name: ClassVar[str] = "scheduler"
    default_http_port: ClassVar[int] = 8004
