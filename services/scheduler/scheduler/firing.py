"""Firing due timers: claim a batch with a lease, publish its events, record the outcome.

Several replicas run this loop on the same timers. A claim is one conditional
``update_many`` (only timers still scheduled and due, or whose lease ran out), so two
replicas never hold the same timer; a replica killed mid-batch leaves its timers leased
until the lease runs out on the wall clock, then another replica claims and fires them
again with the same CloudEvents ids (consumers drop the duplicate). A timer cancelled
while claimed carries ``cancel_requested``, which the firer reads after claiming and
before publishing.

The timer document is this service's outbox: it is the durable record of the event to
raise, written in the same single-document write as the state change that armed it, and
this loop is its relay.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from scheduler import metrics
from scheduler.domain.clock import Clock, utcnow
from scheduler.ports import EventSink, TimerRepository
from shared.runtime.logs import get_logger
from shared.runtime.tracing import tracer
from shared.runtime.worker import run_rounds

log = get_logger(__name__)


async def _in_sync() -> None:
    return None


def replica_name() -> str:
    """A name for this process in lease owners (host and pid: who held a lease)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Firer:
    """The due-timer loop of one replica."""

    def __init__(
        self,
        timers: TimerRepository,
        sink: EventSink,
        clock: Clock,
        *,
        sync_clock: Callable[[], Awaitable[None]] = _in_sync,
        batch_size: int = 500,
        fresh_share: float = 0.1,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        replica: str | None = None,
        wall: Callable[[], datetime] = utcnow,
    ) -> None:
        self._timers = timers
        self._sink = sink
        self._clock = clock
        self._sync_clock = sync_clock
        self.batch_size = batch_size
        self._fresh = int(batch_size * fresh_share)
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self.replica = replica or replica_name()
        self._wall = wall
        self._wake = asyncio.Event()
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.fired = 0
        self.cancelled = 0

    def wake(self) -> None:
        """Look for due timers now (after the clock moved)."""
        self._wake.set()

    async def fire_batch(self) -> int:
        """Claim, publish and record one batch; return how many claimable timers it
        found (0: nothing is due; more than it settled: another replica won some)."""
        await self._sync_clock()
        now = self._clock.now()
        wall = self._wall()
        owner = f"{self.replica}:{uuid.uuid4().hex[:12]}"
        claim = await self._timers.claim_due(
            now=now,
            wall=wall,
            owner=owner,
            limit=self.batch_size,
            fresh=self._fresh,
            lease_until=wall + self._lease,
        )
        claimed = claim.timers
        if not claim.found:
            metrics.OVERDUE.set(0.0)
        if not claimed:
            return claim.found
        # Claims take the oldest due first: the oldest of a batch is how late we are.
        oldest = min(t.due_at for t in claimed)
        metrics.OVERDUE.set(max((now - oldest).total_seconds(), 0.0))
        to_fire = [t for t in claimed if not t.cancel_requested]
        to_cancel = [t.id for t in claimed if t.cancel_requested]
        reclaimed = sum(1 for t in claimed if t.claims > 1)
        # A new root per batch: a batch is not caused by one request. Timers that kept
        # the trace of the event that armed them continue it (see the sink).
        with tracer(__name__).start_as_current_span(
            "scheduler fire batch",
            context=otel_context.Context(),
            kind=SpanKind.INTERNAL,
            attributes={
                "scheduler.batch.size": len(claimed),
                "scheduler.batch.reclaimed": reclaimed,
                "scheduler.lease.owner": owner,
            },
        ):
            await self._sink.publish(to_fire)
        await self._timers.finish(
            owner=owner,
            fired=[t.id for t in to_fire],
            cancelled=to_cancel,
            fired_at=self._clock.now(),
            wall=self._wall(),
        )
        for kind, count in Counter(t.kind for t in to_fire).items():
            metrics.FIRED.labels(kind).inc(count)
        if to_cancel:
            metrics.CANCELLED.labels("cancelled_while_claimed").inc(len(to_cancel))
        if reclaimed:
            metrics.RECLAIMED.inc(reclaimed)
            log.warning("re-fired timers of an expired lease", count=reclaimed)
        metrics.BATCH_SECONDS.set((self._wall() - wall).total_seconds())
        self.fired += len(to_fire)
        self.cancelled += len(to_cancel)
        return claim.found

    async def run(self) -> None:
        """Fire due timers until stopped; back off while MongoDB or Kafka fails (a failed
        batch's timers are re-claimed when its lease runs out)."""
        await run_rounds(
            self._fire_round,
            wake=self._wake,
            stopped=lambda: self._stopping,
            poll_seconds=self._poll,
            failure="firing batch failed; its timers are re-claimed when the lease runs out",
        )

    async def _fire_round(self) -> int:
        # More may be due after a batch that found some: the next batch re-reads.
        self._idle.clear()
        try:
            return await self.fire_batch()
        finally:
            self._idle.set()

    async def stop(self, timeout: float = 15.0) -> None:
        """Let the batch in progress finish (so its leases are not left to run out)."""
        self._stopping = True
        self._wake.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


async def watch_gauges(
    timers: TimerRepository,
    clock: Clock,
    *,
    sync_clock: Callable[[], Awaitable[None]] = _in_sync,
    interval: float = 15.0,
) -> None:
    """Recount the scheduled and due timers every ``interval`` seconds (the overdue gauge
    is set by the firer from each claim, at no cost)."""
    while True:
        try:
            await sync_clock()
            now = clock.now()
            stats = await timers.stats(now)
            metrics.SCHEDULED.set(stats.scheduled)
            metrics.DUE.set(stats.due)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("timer gauges not refreshed", error=type(exc).__name__)
        await asyncio.sleep(interval)
