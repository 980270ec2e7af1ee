"""The delivery loop: claims due deliveries, signs and POSTs them, records each attempt.

Several deliveries go out at once (``concurrency``), but never two of the same queue
(endpoint + key): a delivery whose queue has an earlier pending one waits for it. A
failed attempt is retried on the schedule (days); when none is left the delivery is
``failed`` and stays in the log for an operator to replay. A stop lets the attempts in
flight finish; a kill leaves them claimed until their lease runs out, then they are
attempted again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from shared.runtime.logs import get_logger
from shared.runtime.worker import run_rounds
from webhooks.adapters.http_sender import HttpSender
from webhooks.adapters.mongo_webhooks import MongoDeliveries, MongoEndpoints
from webhooks.domain.model import Attempt, Delivery, RetrySchedule, Status, check_url
from webhooks.domain.signing import signature_header

log = get_logger(__name__)

ATTEMPTS = Counter(
    "webhooks_attempts_total", "Delivery attempts by outcome (ok, retry, failed)", ["outcome"]
)
ATTEMPT_SECONDS = Histogram(
    "webhooks_attempt_seconds",
    "Time of one delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
Resolver = Callable[[str, int], Awaitable[list[str]]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Deliverer:
    def __init__(
        self,
        endpoints: MongoEndpoints,
        deliveries: MongoDeliveries,
        sender: HttpSender,
        *,
        schedule: RetrySchedule,
        resolve: Resolver,
        require_https: bool,
        allowed_networks: list[str],
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._sender = sender
        self._schedule = schedule
        self._resolve = resolve
        self._require_https = require_https
        self._networks = allowed_networks
        self._concurrency = concurrency
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=30)

    async def run(self) -> None:
        """Start due deliveries until stopped, at once again while there is room."""
        await run_rounds(
            self.round,
            wake=self._wake,
            stopped=self._stopping.is_set,
            poll_seconds=self._poll,
            failure="webhook round failed; retrying",
            again=lambda _: len(self._inflight) < self._concurrency,
            log_detail=False,
        )

    async def round(self) -> int:
        """Start attempts for due deliveries while there is room; return how many."""
        room = self._concurrency - len(self._inflight)
        if room <= 0:
            return 0
        now = self._clock()
        started = 0
        for delivery_id in await self._deliveries.due_ids(now, limit=room * 2):
            if started >= room:
                break
            delivery = await self._deliveries.claim(
                delivery_id, now, now + self._lease, self._owner
            )
            if delivery is None:
                continue
            queue = f"{delivery.endpoint_id}|{delivery.key}"
            earlier = await self._deliveries.predecessor(delivery)
            if earlier is not None or queue in self._busy:
                # In order per queue: wait for the earlier one (woken when it finishes).
                wait_until = earlier.next_attempt_at if earlier else now + timedelta(seconds=1)
                await self._deliveries.postpone(
                    delivery.id, self._owner, max(wait_until, now) + timedelta(milliseconds=1)
                )
                continue
            self._busy.add(queue)
            task = asyncio.create_task(self._attempt(delivery, queue))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            started += 1
        return started

    async def _attempt(self, delivery: Delivery, queue: str) -> None:
        try:
            await self.attempt(delivery)
        except Exception as exc:  # the lease brings it back
            log.warning(
                "webhook attempt not recorded", delivery=delivery.id, error=type(exc).__name__
            )
        finally:
            self._busy.discard(queue)
            self._wake.set()

    async def attempt(self, delivery: Delivery) -> None:
        """One signed POST of ``delivery`` and its record in the log."""
        now = self._clock()
        endpoint = await self._endpoints.get(delivery.endpoint_id)
        status_code: int | None = None
        error: str | None = None
        duration = 0
        if endpoint is None or not endpoint.enabled:
            error = "endpoint removed or disabled"
        else:
            problems = await self._check(endpoint.url)
            if problems:
                error = "refused: " + "; ".join(problems)
            else:
                body = delivery.body.encode()
                timestamp = int(now.timestamp())
                headers = {
                    "content-type": "application/cloudevents+json; charset=utf-8",
                    "webhook-id": delivery.ce_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": signature_header(
                        endpoint.signing_secrets(now), delivery.ce_id, timestamp, body
                    ),
                }
                with ATTEMPT_SECONDS.time():
                    response = await self._sender.post(endpoint.url, headers, body)
                status_code, error, duration = (
                    response.status_code,
                    response.error,
                    response.duration_ms,
                )
        attempt = Attempt(now, status_code, error, duration)
        finished = self._clock()
        if attempt.ok:
            status, next_at, outcome = Status.DELIVERED, finished, "ok"
        else:
            delay = self._schedule.next_delay(delivery.attempts + 1)
            if delay is None:
                status, next_at, outcome = Status.FAILED, finished, "failed"
            else:
                status, next_at, outcome = (
                    Status.PENDING,
                    finished + timedelta(seconds=delay),
                    "retry",
                )
        recorded = await self._deliveries.record_attempt(
            delivery.id, self._owner, attempt, status=status, next_attempt_at=next_at
        )
        ATTEMPTS.labels(outcome).inc()
        log.info(
            "webhook attempt",
            delivery=delivery.id,
            event_type=delivery.event_type,
            status_code=status_code,
            error=error,
            outcome=outcome,
            recorded=recorded,
        )
        if recorded and status != Status.PENDING:
            await self._deliveries.wake_successor(delivery, finished)

    async def _check(self, url: str) -> list[str]:
        resolved: dict[str, list[str]] = {}

        async def lookup() -> None:
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                resolved[host] = await self._resolve(host, port)
            except OSError:
                resolved[host] = []

        await lookup()

        def resolve(host: str, _port: int) -> Any:
            return resolved.get(host, [])

        return check_url(
            url, require_https=self._require_https, allowed_networks=self._networks, resolve=resolve
        )
