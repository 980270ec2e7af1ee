"""Composition root of the scheduler service: the one place real dependencies are wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import FastAPI

from scheduler.adapters.kafka_events import KafkaEventSink
from scheduler.adapters.mongo_clock import MongoClockStore
from scheduler.adapters.mongo_timers import MongoTimers, create_indexes
from scheduler.domain.clock import Clock, OffsetClock, SystemClock
from scheduler.entrypoints import consumers
from scheduler.entrypoints.http import clock_router
from scheduler.firing import Firer, watch_gauges
from scheduler.handlers import Deps
from scheduler.settings import Settings
from shared.runtime.service import ServiceRuntime

__all__ = ["Settings", "create_app"]

DESCRIPTION = (
    "Durable timers: raises LinkExpired 21 days after a pending link request and the "
    "InactivityTimeout stages (and reminders ahead of both) as events, once, at scale."
)


async def _in_sync() -> None:
    """The system clock needs no synchronising."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the scheduler service (no I/O until the app starts)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, title="Scheduler service", description=DESCRIPTION)
    policy = settings.load_policy()
    timers = MongoTimers(runtime.db["timers"])

    clock: Clock = SystemClock()
    store: MongoClockStore | None = None
    sync: Callable[[], Awaitable[None]] = _in_sync
    if settings.scheduler_clock_control:
        clock = OffsetClock()
        store = MongoClockStore(runtime.db["clock"], clock)
        sync = store.sync

    deps = Deps(timers=timers, clock=clock, policy=policy, sync_clock=sync)
    firer = Firer(
        timers,
        KafkaEventSink(runtime.publisher, source=settings.service_name),
        clock,
        sync_clock=sync,
        batch_size=settings.scheduler_batch_size,
        fresh_share=settings.scheduler_fresh_share,
        lease_seconds=settings.scheduler_lease_seconds,
        poll_seconds=settings.scheduler_poll_seconds,
    )
    consumers.register(runtime, deps)

    async def prepare_timers() -> None:
        await create_indexes(timers.coll)
        if store is not None:
            await store.start_at(settings.scheduler_clock_start)

    runtime.on_startup(prepare_timers)
    runtime.background(firer.run)
    runtime.on_shutdown(firer.stop)
    if settings.scheduler_metrics_seconds:
        gauges = partial(
            watch_gauges,
            timers,
            clock,
            sync_clock=sync,
            interval=settings.scheduler_metrics_seconds,
        )
        gauges.__name__ = "watch_gauges"  # type: ignore[attr-defined]
        runtime.background(gauges)
    if store is not None:
        runtime.include_router(clock_router(store, firer))
    runtime.firer = firer  # type: ignore[attr-defined]
    return runtime.http_app()
