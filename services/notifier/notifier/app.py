"""Composition root of the notifier service: the one place real dependencies are wired."""

from __future__ import annotations

from fastapi import FastAPI

from shared.runtime.service import ServiceRuntime
from notifier.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the notifier service (no I/O until the app starts)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, title="Notifier service")
    return runtime.http_app()
