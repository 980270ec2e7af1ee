"""The shared runtime on the real broker and database: outbox relay across services with
one trace, nothing lost when a relay is killed, poison messages dead-lettered."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from shared.contracts.envelope import Envelope, encode
from shared.contracts.events import AccountSignedIn
from shared.contracts.topics import Topic
from shared.runtime.kafka import create_topics
from shared.runtime.mongo import create_client
from shared.runtime.outbox import outbox_entries, outbox_fields
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import ServiceSettings
from shared.runtime.tracing import tracer
from tests.harness import ROOT, async_wait_until
from tests.kafka_tools import TopicWatcher, produce_raw

pytestmark = pytest.mark.usefixtures("stack")


class ProducerSettings(ServiceSettings):
    service_name: ClassVar[str] = "producer"


class ConsumerSettings(ServiceSettings):
    service_name: ClassVar[str] = "consumer"


@pytest.fixture(scope="module")
async def prefix(tmp_path_factory: pytest.TempPathFactory) -> str:
    prefix = f"f{uuid.uuid4().hex[:8]}."
    await create_topics(ServiceSettings(kafka_topic_prefix=prefix), partitions=2)
    return prefix


@pytest.fixture(scope="module")
async def pair(prefix: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple]:
    """A producing and a consuming runtime (as two services would be)."""
    spans = tmp_path_factory.mktemp("spans") / "spans.jsonl"
    db_prefix = prefix.replace(".", "_")
    producer = ServiceRuntime(
        ProducerSettings(
            kafka_topic_prefix=prefix,
            mongodb_database_prefix=db_prefix,
            otel_traces_file=spans,
            outbox_poll_seconds=0.2,
        ),
        title="producer",
    )
    docs = producer.db["docs"]
    producer.outbox(docs)
    consumer = ServiceRuntime(
        ConsumerSettings(
            kafka_topic_prefix=prefix, mongodb_database_prefix=db_prefix, otel_traces_file=spans
        ),
        title="consumer",
    )
    handled: list[Envelope] = []
    failures: dict[str, int] = {}

    async def on_signed_in(envelope: Envelope) -> None:
        if envelope.event.account_id.startswith("explode"):
            failures[envelope.id] = failures.get(envelope.id, 0) + 1
            raise RuntimeError("handler bug")
        handled.append(envelope)

    consumer.subscribe(Topic.ACCOUNT_SIGNED_IN, on_signed_in)
    await producer.start()
    await consumer.start()
    try:
        yield producer, consumer, docs, handled, failures, spans
    finally:
        await consumer.stop()
        await producer.stop()


async def test_outbox_event_reaches_another_service_in_the_same_trace(pair: tuple) -> None:
    producer, _consumer, docs, handled, _f, spans = pair
    account = f"acc-{uuid.uuid4().hex[:6]}"
    with tracer("test").start_as_current_span("guardian action") as span:
        entries = outbox_entries(
            [AccountSignedIn(account_id=account, at=datetime.now(UTC))], source="producer"
        )
        await docs.insert_one({"_id": account, "state": "signed_in", **outbox_fields(entries)})
    producer.wake_relay()
    trace_id = format(span.get_span_context().trace_id, "032x")

    got = await async_wait_until(
        lambda: [e for e in handled if e.event.account_id == account],
        timeout=30,
        what="consumer handled the event",
    )
    assert got[0].id == entries[0]["id"]
    doc = await docs.find_one({"_id": account})
    assert "_outbox" not in doc and "_outbox_since" not in doc, "relayed entries are removed"

    def spans_of_trace() -> list[dict]:
        if not Path(spans).exists():
            return []
        rows = [json.loads(line) for line in Path(spans).read_text().splitlines()]
        return [s for s in rows if s["context"]["trace_id"] == "0x" + trace_id]

    names = await async_wait_until(
        lambda: (
            {s["name"] for s in spans_of_trace()}
            >= {"guardian action", "AccountSignedIn publish", "AccountSignedIn process"}
            and {s["name"] for s in spans_of_trace()}
        ),
        timeout=10,
        what="producer and consumer spans in one trace",
    )
    assert "AccountSignedIn process" in names


async def test_poison_messages_go_to_dlq_and_consumer_moves_on(pair: tuple, prefix: str) -> None:
    _p, _c, _docs, handled, failures, _s = pair
    topic = f"{prefix}AccountSignedIn"
    marker = uuid.uuid4().hex
    good = encode(
        AccountSignedIn(account_id=f"after-{marker}", at=datetime.now(UTC)), source="test"
    )
    bad_schema = encode(AccountSignedIn(account_id="x", at=datetime.now(UTC)), source="test")
    explode = encode(
        AccountSignedIn(account_id=f"explode-{marker}", at=datetime.now(UTC)), source="test"
    )
    async with TopicWatcher([f"{topic}.DLQ"]) as dlq:
        await produce_raw(topic, b"\x00not json" + marker.encode(), [("ce_id", b"p1")], key=b"k")
        await produce_raw(
            topic, json.dumps({"account_id": 1}).encode(), bad_schema.headers, key=b"k"
        )
        await produce_raw(topic, explode.value, explode.headers, key=b"k")
        await produce_raw(topic, good.value, good.headers, key=b"k")

        await async_wait_until(
            lambda: any(e.event.account_id == f"after-{marker}" for e in handled),
            timeout=30,
            what="the good event after the poison ones",
        )
        await async_wait_until(lambda: len(dlq.records) >= 3, timeout=30, what="3 DLQ records")
    reasons = {
        dict(r.headers)["dlq_kind"].decode(): dict(r.headers)["dlq_reason"].decode()
        for r in dlq.records
    }
    assert (
        "missing CloudEvents headers" in reasons["invalid_message"]
        or "invalid" in reasons["invalid_message"]
    )
    assert "handler bug" in reasons["handler_error"]
    assert failures[dict(explode.headers)["ce_id"].decode()] == 3, "bounded retries"
    raw = [r.value for r in dlq.records]
    assert b"\x00not json" + marker.encode() in raw, "the original bytes are kept"


def _outbox_empty(docs):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await docs.count_documents({"_outbox_since": {"$exists": True}}) == 0

    return check


async def test_relay_killed_mid_way_loses_nothing(
    prefix: str, report: Callable[[str], None]
) -> None:
    database = f"{prefix.replace('.', '_')}relaykill"
    client = create_client(ServiceSettings())
    docs = client[database]["docs"]
    n = 600
    marker = uuid.uuid4().hex[:6]
    rows = []
    for i in range(n):
        entries = outbox_entries(
            [AccountSignedIn(account_id=f"k{marker}-{i}", at=datetime.now(UTC))], source="test"
        )
        rows.append({"_id": f"k{marker}-{i}", **outbox_fields(entries)})
    await docs.insert_many(rows)
    expected = {r["_outbox"][0]["id"] for r in rows}

    async with TopicWatcher([f"{prefix}AccountSignedIn"]) as watcher:

        def seen() -> set[str]:
            return {dict(r.headers)["ce_id"].decode() for r in watcher.records} & expected

        worker = [sys.executable, "-m", "tests.integration.relay_worker", database, prefix, "50"]
        first = subprocess.Popen(worker, cwd=ROOT)
        await async_wait_until(lambda: len(seen()) >= 50, timeout=60, what="first relay started")
        first.kill()  # SIGKILL: leases stay behind, no clean-up
        first.wait()
        partial = len(seen())
        second = subprocess.Popen(worker, cwd=ROOT)
        try:
            await async_wait_until(
                lambda: len(seen()) == n, timeout=120, what="every event relayed"
            )
            # ...and every relayed entry removed from its document.
            await async_wait_until(_outbox_empty(docs), timeout=60, what="outbox emptied")
        finally:
            second.kill()
            second.wait()
    assert partial < n, "the first relay must be killed before it finished"
    assert await docs.count_documents({"_outbox_since": {"$exists": True}}) == 0
    dupes = len([r for r in watcher.records if dict(r.headers)["ce_id"].decode() in expected]) - n
    report(f"relay kill: {partial}/{n} before the kill, {dupes} duplicates re-sent after it")
    await client.drop_database(database)
    await client.close()
