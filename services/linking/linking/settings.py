"""Settings of the linking service (environment names: docs/operations/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """linking settings."""

    service_name: ClassVar[str] = "linking"
    default_http_port: ClassVar[int] = 8002
