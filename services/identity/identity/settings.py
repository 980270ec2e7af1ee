"""Settings of the identity service (environment names: docs/operations/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """identity settings."""

    service_name: ClassVar[str] = "identity"
    default_http_port: ClassVar[int] = 8001
