"""Transactional outbox: events are stored in the same MongoDB document as the state
change that causes them (one atomic single-document write), then relayed to Kafka.

A document with pending events carries::

    _outbox:        [ {id, topic, key, value, headers, created_at}, ... ]
    _outbox_since:  time of its oldest pending event (indexed, sparse)

:class:`OutboxRelay` claims documents in batches with a lease (so several replicas do
not relay the same document at once and a relay killed mid-batch is replaced once the
lease runs out), publishes their events with the idempotent producer and removes the
published entries. Delivery is at-least-once; every event keeps its CloudEvents id so
consumers de-duplicate.

:class:`ImmediateDispatch` publishes a document's events right after the write that
stored them, under the same lease, leaving to the relay only what a crash leaves behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.envelope import encode, new_event_id
from shared.contracts.events import Event
from shared.runtime.kafka import KafkaPublisher
from shared.runtime.logs import get_logger
from shared.runtime.tracing import context_from_headers, current_trace_headers, tracer
from shared.runtime.worker import run_rounds

log = get_logger(__name__)

OUTBOX = "_outbox"
SINCE = "_outbox_since"
LEASE = "_outbox_lease"
OWNER = "_outbox_owner"

#: How old the oldest event still waiting in an outbox is (0: none waiting). Grows while
#: Kafka is unreachable or the relay is stuck; the PortalOutboxBacklog alert reads it.
OLDEST_PENDING = Gauge(
    "portal_outbox_oldest_pending_seconds",
    "Age of the oldest event not yet relayed to Kafka, per outbox collection",
    ["collection"],
)
PUBLISHED = Counter(
    "portal_outbox_events_published",
    "Outbox events published to Kafka (by the relay or right after their write)",
    ["collection"],
)


def outbox_entries(
    events: Iterable[Event],
    *,
    source: str,
    now: datetime | None = None,
    event_ids: Sequence[str] | None = None,
    times: Sequence[datetime] | None = None,
) -> list[dict[str, Any]]:
    """Encode ``events`` (with the current trace context) as outbox entries."""
    now = now or datetime.now(UTC)
    trace_headers = current_trace_headers()
    entries = []
    for i, event in enumerate(events):
        event_id = event_ids[i] if event_ids else new_event_id()
        record = encode(
            event,
            source=source,
            event_id=event_id,
            time=times[i] if times else now,
            trace_headers=trace_headers,
        )
        entries.append(
            {
                "id": event_id,
                "topic": event.event_type(),
                "key": record.key.decode(),
                "value": record.value.decode(),
                "headers": [[k, v.decode()] for k, v in record.headers],
                "created_at": now,
            }
        )
    return entries


def outbox_fields(entries: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """Fields to put in a new document so its events are relayed."""
    if not entries:
        return {}
    return {OUTBOX: entries, SINCE: now or entries[0]["created_at"]}


def outbox_update(entries: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """Update operators that append ``entries`` to a document's outbox; merge them into the
    state change's update so both are written atomically."""
    if not entries:
        return {}
    return {
        "$push": {OUTBOX: {"$each": entries}},
        "$min": {SINCE: now or entries[0]["created_at"]},
    }


def merge_updates(*updates: dict[str, Any]) -> dict[str, Any]:
    """Merge update documents operator by operator (``$set`` with ``$set``...)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for op, fields in update.items():
            merged.setdefault(op, {}).update(fields)
    return merged


async def ensure_outbox_index(collection: AsyncCollection[dict[str, Any]]) -> None:
    """The sparse index the relay scans."""
    await collection.create_index([(SINCE, ASCENDING)], sparse=True, name="outbox_pending")


class OutboxRelay:
    """Relays pending outbox entries of some collections to Kafka."""

    def __init__(
        self,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        publisher: KafkaPublisher,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        lease_seconds: float = 30.0,
        measure_seconds: float = 10.0,
    ) -> None:
        self._collections = list(collections)
        self._publisher = publisher
        self._batch = batch_size
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._measure_every = measure_seconds
        self._measured_at: float | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.relayed = 0

    def wake(self) -> None:
        """Relay now (called after a handler commits a change with events)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch and stop."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped; back off while Kafka or MongoDB is unreachable."""
        await run_rounds(
            self._relay_round,
            wake=self._wake,
            stopped=self._stopping.is_set,
            poll_seconds=self._poll,
            failure="outbox relay failed; retrying",
            on_failure=self._repair_producer,
        )

    async def _relay_round(self) -> int:
        await self._measure_backlog()
        moved = 0
        for coll in self._collections:
            moved += await self.relay_once(coll)
        return moved

    async def _repair_producer(self, exc: Exception) -> None:
        if not isinstance(exc, KafkaError):
            return
        # An idempotent producer that saw a fatal error (OutOfOrderSequenceNumber after a
        # broker restart) never recovers: replace it. Unsent entries stay in their
        # documents and go out with the new producer.
        try:
            await self._publisher.restart()
        except Exception as restart_exc:
            log.warning("producer restart failed; retrying", error=type(restart_exc).__name__)

    async def _measure_backlog(self) -> None:
        """Update :data:`OLDEST_PENDING` at most every ``measure_seconds`` (one indexed
        query per collection); skipped while MongoDB does not answer."""
        now = asyncio.get_running_loop().time()
        if self._measured_at is not None and now - self._measured_at < self._measure_every:
            return
        self._measured_at = now
        for coll in self._collections:
            try:
                age = await oldest_pending_seconds(coll)
            except Exception as exc:
                log.debug("outbox backlog not measured", error=type(exc).__name__)
                continue
            OLDEST_PENDING.labels(coll.name).set(age)

    async def relay_once(self, coll: AsyncCollection[dict[str, Any]]) -> int:
        """Claim one batch of documents, publish their events, remove them. Returns the
        number of events published."""
        now = datetime.now(UTC)
        owner = uuid.uuid4().hex
        claimable = {
            SINCE: {"$exists": True},
            "$or": [{LEASE: {"$exists": False}}, {LEASE: {"$lt": now}}],
        }
        ids = [d["_id"] async for d in coll.find(claimable, {"_id": 1}).limit(self._batch)]
        if not ids:
            return 0
        await coll.update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {LEASE: now + self._lease, OWNER: owner}},
        )
        docs = [d async for d in coll.find({"_id": {"$in": ids}, OWNER: owner}, {OUTBOX: 1})]
        pending: list[tuple[Any, list[str], list[asyncio.Future[Any]]]] = []
        for doc in docs:
            sent_ids: list[str] = []
            futures: list[asyncio.Future[Any]] = []
            for entry in doc.get(OUTBOX, []):
                futures.append(await send_entry(self._publisher, entry))
                sent_ids.append(entry["id"])
            pending.append((doc["_id"], sent_ids, futures))
        await self._publisher.delivered([f for _, _, futures in pending for f in futures])
        published = 0
        ops: list[UpdateOne] = []
        for doc_id, sent_ids, _ in pending:
            published += len(sent_ids)
            ops += release_ops(doc_id, owner, sent_ids)
        if ops:
            await coll.bulk_write(ops, ordered=True)
        self.relayed += published
        PUBLISHED.labels(coll.name).inc(published)
        return published


async def send_entry(publisher: KafkaPublisher, entry: dict[str, Any]) -> asyncio.Future[Any]:
    """Hand one outbox entry to the producer inside its own producer span (continuing the
    trace of the write that stored it); the future resolves when the broker has it."""
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
        # The consumer continues from this producer span.
        out = [
            (k, v.encode()) for k, v in entry["headers"] if k not in ("traceparent", "tracestate")
        ]
        out += [(k, v.encode()) for k, v in current_trace_headers().items()]
        return await publisher.send(
            entry["topic"], key=entry["key"].encode(), value=entry["value"].encode(), headers=out
        )


def release_ops(doc_id: Any, owner: str, sent_ids: list[str]) -> list[UpdateOne]:
    """The writes that remove published entries from a document's outbox, release its
    lease (only if ``owner`` still holds it) and drop the outbox fields once empty."""
    return [
        UpdateOne(
            {"_id": doc_id, OWNER: owner},
            {"$pull": {OUTBOX: {"id": {"$in": sent_ids}}}, "$unset": {LEASE: "", OWNER: ""}},
        ),
        UpdateOne({"_id": doc_id, OUTBOX: {"$size": 0}}, {"$unset": {OUTBOX: "", SINCE: ""}}),
    ]


class ImmediateDispatch:
    """Publishes a document's outbox right after the write that committed it and claimed
    it, without waiting for the relay to find, claim and re-read the document (three
    database round trips on the approval → SIS path).

    Safety is the relay's: the claim is an ordinary outbox lease, so if this process dies
    before publishing, the lease runs out and :class:`OutboxRelay` publishes the entries.
    The whole outbox of the document is published in order (older entries first), so
    events of one aggregate never overtake each other. Delivery stays at-least-once: a
    publication that fails is left to the relay; consumers de-duplicate by CloudEvents id.
    """

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
            futures = [await send_entry(self._publisher, entry) for entry in entries]
            await asyncio.gather(*futures)
            ids = [entry["id"] for entry in entries]
            await collection.bulk_write(release_ops(doc_id, owner, ids), ordered=True)
            self.published += len(entries)
            PUBLISHED.labels(collection.name).inc(len(entries))
        except Exception as exc:
            # The lease runs out and the relay publishes what is left.
            log.warning(
                "immediate dispatch failed; the outbox relay will publish",
                error=type(exc).__name__,
                doc_id=str(doc_id),
            )


async def oldest_pending_seconds(
    collection: AsyncCollection[dict[str, Any]], now: datetime | None = None
) -> float:
    """Seconds since the oldest pending event of ``collection`` was committed (0 when
    nothing is pending), through the sparse ``outbox_pending`` index."""
    cursor = collection.find({SINCE: {"$exists": True}}, {SINCE: 1}).sort(SINCE, ASCENDING)
    async for doc in cursor.limit(1):
        since = doc[SINCE]
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return max(0.0, ((now or datetime.now(UTC)) - since).total_seconds())
    return 0.0
