"""Settings of the notifier service (environment names: docs/operations/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """notifier settings."""

    service_name: ClassVar[str] = "notifier"
    default_http_port: ClassVar[int] = 8003
