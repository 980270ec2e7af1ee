"""Publishes the events of fired timers with the shared idempotent producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from scheduler.domain.timers import Timer
from shared.contracts.envelope import encode
from shared.runtime.kafka import KafkaPublisher
from shared.runtime.tracing import context_from_headers, current_trace_headers, tracer


class KafkaEventSink:
    """:class:`scheduler.ports.EventSink` on Kafka (topic = event name, key = link or
    account id, CloudEvents id derived from the timer, ``ce_time`` = due time)."""

    def __init__(self, publisher: KafkaPublisher, *, source: str = "scheduler") -> None:
        self._publisher = publisher
        self._source = source

    async def publish(self, timers: Sequence[Timer]) -> None:
        """See :meth:`scheduler.ports.EventSink.publish`."""
        if not timers:
            return
        try:
            await self._publish(timers)
        except KafkaError:
            # An idempotent producer never recovers from some errors (OutOfOrderSequenceNumber
            # after a broker restart): the next batch gets a fresh one; this batch's timers
            # are re-claimed when their lease runs out.
            await self._publisher.restart()
            raise

    async def _publish(self, timers: Sequence[Timer]) -> None:
        batch = trace.get_current_span()
        batch_headers = current_trace_headers()
        links = [Link(batch.get_span_context())] if batch.get_span_context().is_valid else []
        futures: list[asyncio.Future[Any]] = []
        for timer in timers:
            event = timer.event()
            topic = str(timer.topic)
            # Continue the trace of the event that armed the timer when it was kept.
            span = (
                tracer(__name__).start_as_current_span(
                    f"{topic} publish",
                    context=context_from_headers(timer.trace),
                    kind=SpanKind.PRODUCER,
                    links=links,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": topic,
                        "messaging.message.id": timer.event_id,
                        "scheduler.timer.id": timer.id,
                    },
                )
                if timer.trace.get("traceparent")
                else nullcontext()
            )
            with span:
                headers = current_trace_headers() if timer.trace.get("traceparent") else None
                record = encode(
                    event,
                    source=self._source,
                    event_id=timer.event_id,
                    time=timer.due_at,
                    trace_headers=headers or batch_headers,
                )
                futures.append(
                    await self._publisher.send(
                        topic, key=record.key, value=record.value, headers=record.headers
                    )
                )
        await self._publisher.delivered(futures)
