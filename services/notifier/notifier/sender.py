"""The sender loop: claims due notifications in batches, sends them at a bounded rate,
and records each outcome.

Each mail is sent once, also across a SIGKILL: once the relay has accepted the envelope
and waits for the message, the sender writes ``handed_over_at`` (conditioned on its
claim) and only then sends the end of the message. A mail claimed again with that mark
was left by a sender that died after handing it over, and is marked sent without being
sent again. The ``sent`` marks themselves are written in bulk alongside the next sends.
What remains: a sender killed between that write and the next line (the end of the
message is written to the socket in the same step) loses the mail, and a relay that
drops the connection after the end of the message without answering leaves the outcome
unknown; the mail is then sent again, with the same Message-ID.
A graceful stop finishes the mail in flight and gives the rest of the batch back.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from notifier.domain.model import Notification, RetryPolicy
from notifier.domain.ratelimit import TokenBucket
from notifier.ports import (
    LeaseLost,
    Mailer,
    NotificationStore,
    PermanentSendError,
    TransientSendError,
)
from shared.runtime.logs import get_logger
from shared.runtime.mongo import TRANSIENT_ERRORS
from shared.runtime.tracing import context_from_headers, tracer
from shared.runtime.worker import run_rounds

log = get_logger(__name__)

NOTIFICATIONS = Counter(
    "notifier_notifications_total",
    "Notifications by template and outcome (queued, skipped, sent, presumed_sent, retried,"
    " failed, expired, lease_lost)",
    ["template", "outcome"],
)
SMTP_ERRORS = Counter(
    "notifier_smtp_errors_total", "SMTP failures by kind (transient, permanent)", ["kind"]
)
SEND_SECONDS = Histogram(
    "notifier_smtp_send_seconds",
    "Time to hand one mail to the SMTP relay",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


class _SentMarks:
    """Writes ``sent`` marks in the background while the next mails go out (group
    commit: whatever accumulated during one write goes in the next)."""

    def __init__(self, store: NotificationStore, owner: str, clock: Clock) -> None:
        self._store = store
        self._owner = owner
        self._clock = clock
        self._pending: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def add(self, notification_id: str) -> None:
        self._pending.append(notification_id)
        if self._task is None or self._task.done():
            if self._task is not None and self._task.exception() is not None:
                return  # close() reports it
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            ids, self._pending = self._pending, []
            delay = 0.1
            for attempt in range(6):
                try:
                    await self._store.mark_sent(ids, self._owner, self._clock())
                    break
                except TRANSIENT_ERRORS:
                    if attempt == 5:
                        raise
                    await asyncio.sleep(delay)
                    delay *= 2
            self.written += len(ids)

    async def close(self) -> None:
        """Wait until every mark is written (raises if they could not be)."""
        if self._task is not None:
            await self._task
        if self._pending:
            await self._flush()


class Sender:
    """Delivers queued notifications (one per process; several processes share work
    through the claim leases)."""

    def __init__(
        self,
        store: NotificationStore,
        mailer: Mailer,
        *,
        bucket: TokenBucket,
        retry: RetryPolicy,
        batch_size: int = 50,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        clock: Clock = utcnow,
        smtp_host: str = "",
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.bucket = bucket
        self.retry = retry
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.smtp_host = smtp_host
        # A batch must fit well inside its lease at the configured rate.
        self.claim_size = max(1, min(batch_size, math.floor(bucket.rate * lease_seconds / 3)))
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Task[Any] | None = None
        #: Consecutive rounds that found the relay unreachable: while it is down, the
        #: backoff grows with the outage, not with one mail's attempts.
        self._outage = 0
        self.sent = 0

    def wake(self) -> None:
        """Look for work now (called after a notification is queued)."""
        self._wake.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the mail in flight, give the rest of the batch back, stop."""
        self._stopping = True
        self._wake.set()
        if self._running is not None and not self._running.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._running), timeout)
            except (TimeoutError, asyncio.CancelledError):
                pass

    async def run(self) -> None:
        """Send until stopped; back off while MongoDB is unreachable."""
        self._running = asyncio.current_task()
        await run_rounds(
            self.send_due,
            wake=self._wake,
            stopped=lambda: self._stopping,
            poll_seconds=self.poll_seconds,
            failure="sender round failed; retrying",
            log_detail=False,
        )

    async def send_due(self) -> int:
        """Claim one batch and deliver it. Returns how many notifications were handled."""
        now = self.clock()
        owner = uuid.uuid4().hex
        batch = await self.store.claim_due(now, owner, self.claim_size, now + self.lease)
        if not batch:
            return 0
        # Stop early enough that nothing is sent after the lease could have run out.
        must_stop_at = time.monotonic() + self.lease.total_seconds() * 0.8
        marks = _SentMarks(self.store, owner, self.clock)
        expired: list[str] = []
        try:
            async with self.mailer.session() as session:
                for index, notification in enumerate(batch):
                    rest = batch[index:]
                    if self._stopping or time.monotonic() > must_stop_at:
                        await self.store.release([n.id for n in rest], owner, self.clock())
                        break
                    if notification.handed_over_at is not None:
                        # A sender died after handing this mail to the relay.
                        log.warning(
                            "mail presumed delivered: its sender stopped after handing it"
                            " to the relay; not sending it again",
                            notification_id=notification.id,
                            template=str(notification.template),
                        )
                        marks.add(notification.id)
                        NOTIFICATIONS.labels(str(notification.template), "presumed_sent").inc()
                        continue
                    if notification.is_too_late(self.clock()):
                        expired.append(notification.id)
                        NOTIFICATIONS.labels(str(notification.template), "expired").inc()
                        continue
                    await self.bucket.acquire()
                    try:
                        await self._send_one(session, notification, owner)
                    except LeaseLost:
                        log.warning(
                            "claim lost before sending; another sender has the mail",
                            notification_id=notification.id,
                        )
                        NOTIFICATIONS.labels(str(notification.template), "lease_lost").inc()
                    except TransientSendError as exc:
                        self._outage = self._outage + 1 if exc.connection else 0
                        next_at = await self._retry_later(notification, owner, exc)
                        if exc.connection:
                            # The relay is down for everyone: the others wait too.
                            await self.store.release([n.id for n in rest[1:]], owner, next_at)
                            break
                    except PermanentSendError as exc:
                        await self._fail(notification, owner, exc)
                    else:
                        self._outage = 0
                        marks.add(notification.id)
                        self.sent += 1
                        NOTIFICATIONS.labels(str(notification.template), "sent").inc()
        finally:
            await marks.close()
            await self.store.mark_expired(expired, owner, self.clock())
        return len(batch)

    async def _send_one(self, session: Any, notification: Notification, owner: str) -> None:
        async def handover() -> None:
            if not await self.store.mark_handed_over(notification.id, owner, self.clock()):
                raise LeaseLost(notification.id)

        parent = context_from_headers(notification.trace_headers)
        with tracer(__name__).start_as_current_span(
            "smtp send",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes={
                "server.address": self.smtp_host,
                "notifier.notification_id": notification.id,
                "notifier.template": str(notification.template),
                "notifier.attempt": notification.attempts + 1,
                "messaging.message.id": notification.event_id,
            },
        ) as span:
            started = time.perf_counter()
            try:
                await session.send(notification, handover)
            except (TransientSendError, PermanentSendError, LeaseLost) as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                SEND_SECONDS.observe(time.perf_counter() - started)
        log.info(
            "mail sent",
            notification_id=notification.id,
            template=str(notification.template),
            locale=notification.locale,
            attempts=notification.attempts + 1,
        )

    async def _retry_later(
        self, notification: Notification, owner: str, exc: TransientSendError
    ) -> datetime:
        now = self.clock()
        attempts = notification.attempts + 1
        next_at = now + self.retry.delay(max(attempts, self._outage))
        SMTP_ERRORS.labels("transient").inc()
        NOTIFICATIONS.labels(str(notification.template), "retried").inc()
        log.warning(
            "mail deferred; will retry",
            notification_id=notification.id,
            template=str(notification.template),
            attempts=attempts,
            retry_in_seconds=round((next_at - now).total_seconds(), 2),
            smtp_code=exc.code,
            error=exc.reason,
        )
        await self.store.mark_retry(notification, owner, now, next_at, exc.reason)
        return next_at

    async def _fail(self, notification: Notification, owner: str, exc: PermanentSendError) -> None:
        SMTP_ERRORS.labels("permanent").inc()
        NOTIFICATIONS.labels(str(notification.template), "failed").inc()
        log.error(
            "mail refused permanently; not retrying",
            notification_id=notification.id,
            template=str(notification.template),
            smtp_code=exc.code,
            error=exc.reason,
        )
        await self.store.mark_failed(notification, owner, self.clock(), exc.reason)
