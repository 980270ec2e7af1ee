"""Immediate dispatch of a link's outbox: the write that commits a state change and its
events also claims the document's outbox (the relay's lease fields), and the events are
published right after the write, without waiting for the relay to find, claim and re-read
the document (three database round trips on the approval → SIS path).

Safety is the relay's: the claim is an ordinary outbox lease, so if this process dies
before publishing, the lease runs out and the shared :class:`OutboxRelay` publishes the
entries. The whole outbox of the document is published in order (older entries first),
so events of one link never overtake each other. Delivery stays at-least-once: a
publication that fails is left to the relay, which may publish an entry twice; consumers
de-duplicate by CloudEvents id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.runtime.kafka import KafkaPublisher
from shared.runtime.logs import get_logger
from shared.runtime.outbox import LEASE, OUTBOX, OWNER, SINCE
from shared.runtime.tracing import context_from_headers, current_trace_headers, tracer

log = get_logger(__name__)


class ImmediateDispatch:
    """Publishes outbox entries right after the write that claimed them."""

    def __init__(self, publisher: KafkaPublisher, *, lease_seconds: float = 30.0) -> None:
        self._publisher = publisher
        self._lease = timedelta(seconds=lease_seconds)
        self._tasks: set[asyncio.Task[None]] = set()
        self.published = 0

    def claim(self) -> tuple[str, dict[str, Any]]:
        """An owner token and the ``$set`` fields that claim a document's outbox."""
        owner = f"dispatch-{uuid.uuid4().hex}"
        return owner, {LEASE: datetime.now(UTC) + self._lease, OWNER: owner}

    def publish_soon(
        self,
        collection: AsyncCollection[dict[str, Any]],
        doc_id: Any,
        owner: str,
        entries: Sequence[dict[str, Any]],
    ) -> None:
        """Publish ``entries`` (the document's whole outbox, in order) in the background."""
        if not entries:
            return
        task = asyncio.get_running_loop().create_task(
            self._publish(collection, doc_id, owner, list(entries))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for publications in flight (at shutdown, before the producer stops)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _publish(
        self,
        collection: AsyncCollection[dict[str, Any]],
        doc_id: Any,
        owner: str,
        entries: list[dict[str, Any]],
    ) -> None:
        try:
            futures = [await self._send(entry) for entry in entries]
            await asyncio.gather(*futures)
            ids = [entry["id"] for entry in entries]
            await collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": doc_id, OWNER: owner},
                        {"$pull": {OUTBOX: {"id": {"$in": ids}}}, "$unset": {LEASE: "", OWNER: ""}},
                    ),
                    UpdateOne(
                        {"_id": doc_id, OUTBOX: {"$size": 0}}, {"$unset": {OUTBOX: "", SINCE: ""}}
                    ),
                ],
                ordered=True,
            )
            self.published += len(entries)
        except Exception as exc:
            # The lease runs out and the relay publishes what is left.
            log.warning(
                "immediate dispatch failed; the outbox relay will publish",
                error=type(exc).__name__,
                doc_id=str(doc_id),
            )

    async def _send(self, entry: dict[str, Any]) -> asyncio.Future[Any]:
        headers = dict(entry["headers"])
        with tracer(__name__).start_as_current_span(
            f"{entry['topic']} publish",
            context=context_from_headers(headers),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": entry["topic"],
                "messaging.message.id": entry["id"],
            },
        ):
            out = [
                (k, v.encode())
                for k, v in entry["headers"]
                if k not in ("traceparent", "tracestate")
            ]
            out += [(k, v.encode()) for k, v in current_trace_headers().items()]
            return await self._publisher.send(
                entry["topic"],
                key=entry["key"].encode(),
                value=entry["value"].encode(),
                headers=out,
            )
