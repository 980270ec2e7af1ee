"""Composition root of the scheduler service: the one place real dependencies are wired."""

from __future__ import annotations

from fastapi import FastAPI

from shared.runtime.service import ServiceRuntime
from scheduler.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the scheduler service (no I/O until the app starts)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, title="Scheduler service")
    return runtime.http_app()
