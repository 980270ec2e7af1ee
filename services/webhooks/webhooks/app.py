"""Composition root of the webhooks service: the one place real dependencies are wired."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from shared.runtime.service import ServiceRuntime
from webhooks.adapters.http_sender import HttpSender, resolve, resolve_async
from webhooks.adapters.mongo_webhooks import MongoDeliveries, MongoEndpoints
from webhooks.deliverer import Deliverer
from webhooks.domain.model import RetrySchedule
from webhooks.entrypoints import consumers
from webhooks.handlers import Dependencies
from webhooks.settings import Settings

__all__ = ["Settings", "build_dependencies", "create_app"]

DESCRIPTION = (
    "Delivers every public link event to the HTTPS endpoints a district registered for "
    "its SIS, as Standard Webhooks 1.0 signed CloudEvents (structured JSON), in order "
    "per link, retried with back-off for days, with a delivery log operators can replay."
)


def build_dependencies(settings: Settings, db: object, wake: object) -> Dependencies:
    """The use cases' dependencies on a database (shared by the service and the CLI)."""
    return Dependencies(
        endpoints=MongoEndpoints(db["endpoints"]),  # type: ignore[index]
        deliveries=MongoDeliveries(db["deliveries"], db["counters"]),  # type: ignore[index]
        wake=wake,  # type: ignore[arg-type]
        require_https=settings.require_https,
        allowed_networks=settings.webhooks_allowed_networks,
        resolve=resolve,
        rotation_overlap=timedelta(hours=settings.webhooks_rotation_overlap_hours),
        order_window=timedelta(seconds=settings.webhooks_order_window_seconds),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the webhooks service (no I/O until the app starts)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, title="Webhooks service", description=DESCRIPTION)
    sender = HttpSender(
        timeout_seconds=settings.webhooks_timeout_seconds, ca_file=settings.webhooks_ca_file
    )
    deps = build_dependencies(settings, runtime.db, lambda: None)
    deliverer = Deliverer(
        deps.endpoints,
        deps.deliveries,
        sender,
        schedule=RetrySchedule(tuple(settings.webhooks_retry_schedule_seconds)),
        resolve=resolve_async,
        require_https=settings.require_https,
        allowed_networks=settings.webhooks_allowed_networks,
        concurrency=settings.webhooks_concurrency,
        lease_seconds=settings.webhooks_lease_seconds,
        poll_seconds=settings.webhooks_poll_seconds,
    )
    deps.wake = deliverer.wake
    consumers.register(runtime, deps)
    runtime.on_startup(deps.deliveries.create_indexes)

    async def deliver_webhooks() -> None:
        await deliverer.run()

    runtime.background(deliver_webhooks)
    runtime.on_shutdown(deliverer.stop)
    runtime.on_shutdown(sender.close)
    app = runtime.http_app()
    app.state.deliverer = deliverer
    return app
