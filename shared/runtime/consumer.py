"""At-least-once consumption with FastStream: decode the CloudEvent, continue the
producer's trace, run the handler, commit after success.

- A message that is not a valid event of the topic (bad headers, bad JSON, schema
  violation) goes straight to ``<topic>.DLQ`` with the reason in headers.
- A handler error is retried a few times with backoff, then dead-lettered.
- A transient infrastructure error (MongoDB or Kafka unreachable) is never
  dead-lettered: the offset is not committed and the message is redelivered.

Handlers must be idempotent: redelivery after a crash between the state change and the
commit is normal.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter

from shared.contracts.envelope import Envelope, EnvelopeError, decode, headers_to_dict
from shared.contracts.topics import DLQ_SUFFIX, Topic, topic_name
from shared.runtime.kafka import KafkaPublisher
from shared.runtime.logs import get_logger, scrub_text
from shared.runtime.mongo import TRANSIENT_ERRORS
from shared.runtime.tracing import context_from_headers, tracer

log = get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

CONSUMED = Counter("portal_events_consumed_total", "Events handled", ["topic", "outcome"])


class Consumers:
    """Registers a service's subscribers on its FastStream broker."""

    def __init__(
        self,
        broker: KafkaBroker,
        publisher: KafkaPublisher,
        *,
        service: str,
        prefix: str = "",
        max_attempts: int = 3,
        retry_base_seconds: float = 0.2,
        transient_budget_seconds: float = 30.0,
        heartbeat_interval_ms: int = 500,
    ) -> None:
        self._broker = broker
        self._publisher = publisher
        self._service = service
        self._prefix = prefix
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._transient_budget = transient_budget_seconds
        # Every subscriber is its own group member; each one joining makes the others
        # rejoin at their next heartbeat. aiokafka's 3 s default made a 15-topic service
        # take ~45 s to start; 0.5 s brings it to a few seconds.
        self._heartbeat_ms = heartbeat_interval_ms
        self.topics: list[Topic] = []
        #: What the service does with each consumed topic (its AsyncAPI operation summary).
        self.descriptions: dict[Topic, str] = {}

    @property
    def group(self) -> str:
        """The service's consumer group: its name, behind the topic prefix when there is
        one, so that portals on one broker (test runs, local stacks) never share a group
        and never make each other rebalance."""
        return f"{self._prefix}{self._service}"

    def subscribe(self, topic: Topic, handler: Handler, *, description: str = "") -> None:
        """Consume ``topic`` in the service's consumer group with ``handler``."""
        description = description or (handler.__doc__ or "").strip().split("\n")[0]
        subscriber = self._broker.subscriber(
            topic_name(topic, self._prefix),
            group_id=self.group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            heartbeat_interval_ms=self._heartbeat_ms,
            title=f"{topic}:{self._service}",
            description=description,
        )

        async def consume(msg: KafkaMessage) -> None:
            await self.process(topic, msg, handler)

        consume.__name__ = f"on_{topic}"
        subscriber(consume)
        self.topics.append(topic)
        self.descriptions[topic] = description

    async def process(self, topic: Topic, msg: Any, handler: Handler) -> None:
        """Handle one Kafka message (FastStream ``KafkaMessage``) end to end."""
        record = msg.raw_message
        try:
            envelope = decode(record.headers or [], record.value)
            if envelope.type != str(topic):
                raise EnvelopeError(f"event type {envelope.type!r} on topic {topic!r}")
        except EnvelopeError as exc:
            await self.dead_letter(topic, record, reason=str(exc), kind="invalid_message")
            CONSUMED.labels(str(topic), "invalid").inc()
            await msg.ack()
            return

        parent = context_from_headers(envelope.trace_headers)
        span_name = f"{topic} process"
        with tracer(__name__).start_as_current_span(
            span_name,
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": str(topic),
                "messaging.consumer.group.name": self._service,
                "messaging.message.id": envelope.id,
            },
        ) as span:
            outcome = await self._run(topic, envelope, record, handler)
            if outcome == "redeliver":
                span.set_status(Status(StatusCode.ERROR, "transient failure; redelivering"))
                CONSUMED.labels(str(topic), "redelivered").inc()
                await msg.nack()
                return
            if outcome == "dead_lettered":
                span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
            CONSUMED.labels(str(topic), outcome).inc()
        await msg.ack()

    async def _run(self, topic: Topic, envelope: Envelope, record: Any, handler: Handler) -> str:
        attempt = 0
        transient_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                await handler(envelope)
                return "ok"
            except TRANSIENT_ERRORS as exc:
                now = loop.time()
                transient_since = transient_since or now
                if now - transient_since > self._transient_budget:
                    log.warning(
                        "giving up for now on a transient error; will redeliver",
                        topic=str(topic),
                        event_id=envelope.id,
                        error=type(exc).__name__,
                    )
                    return "redeliver"
                await asyncio.sleep(min(self._retry_base * 2 ** min(attempt, 5), 5.0))
                attempt += 1
            except Exception as exc:
                attempt += 1
                if attempt >= self._max_attempts:
                    log.error(
                        "handler failed; dead-lettering",
                        topic=str(topic),
                        event_id=envelope.id,
                        attempts=attempt,
                        error=type(exc).__name__,
                        detail=scrub_text(str(exc))[:300],
                    )
                    await self.dead_letter(
                        topic,
                        record,
                        reason=f"{type(exc).__name__}: {scrub_text(str(exc))[:500]}",
                        kind="handler_error",
                        trace=scrub_text("".join(traceback.format_exception_only(exc)))[:1000],
                    )
                    return "dead_lettered"
                await asyncio.sleep(self._retry_base * 2 ** (attempt - 1))

    async def dead_letter(
        self, topic: Topic, record: Any, *, reason: str, kind: str, trace: str = ""
    ) -> None:
        """Publish the original record to ``<topic>.DLQ`` with why it failed."""
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq_")]
        headers += [
            ("dlq_reason", reason.encode()),
            ("dlq_kind", kind.encode()),
            ("dlq_consumer_group", self._service.encode()),
            ("dlq_original_topic", str(record.topic).encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        if trace:
            headers.append(("dlq_exception", trace.encode()))
        log.warning(
            "message dead-lettered",
            topic=str(topic),
            kind=kind,
            reason=reason[:300],
            partition=record.partition,
            offset=record.offset,
            ce_id=headers_to_dict(record.headers or []).get("ce_id", "")
            if kind != "invalid_message"
            else None,
        )
        await self._publisher.send_and_wait(
            f"{topic}{DLQ_SUFFIX}", key=record.key, value=record.value or b"", headers=headers
        )

