"""Two scheduler processes on the same timers: each of 10,000 due timers fires exactly
once, also when one process is killed with SIGKILL in the middle of a batch.

Runs on prefixes of its own (the 20,000 events go to topics nobody else reads) and
inserts the timers directly into the scheduler's database.
"""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient
from scheduler.adapters.mongo_timers import new_timer_doc
from scheduler.domain.timers import TimerKind, TimerSpec, fire_event_id, timer_id

from tests.harness import (
    Portal,
    ServiceProcess,
    async_wait_until,
    create_topics,
    new_portal,
)
from tests.kafka_tools import BOOTSTRAP

TIMERS = 10_000
#: Short enough to keep the test quick, far longer than one batch takes.
LEASE_SECONDS = 10
HOST = socket.gethostname()


@dataclass
class Replicas:
    portal: Portal
    a: ServiceProcess
    b: ServiceProcess


@pytest.fixture(scope="module")
def replicas(stack: None) -> Iterator[Replicas]:
    """Scheduler A (18304) and B (18314) on the same isolated topics and database."""
    tuning = {
        "SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
        "SCHEDULER_BATCH_SIZE": "500",
        "SCHEDULER_POLL_SECONDS": "0.5",
    }
    portal = new_portal([], port_offset=300)
    a = portal.add("scheduler", tuning)
    b = ServiceProcess(
        "scheduler",
        a.port + 10,
        portal.env_for("scheduler", {**tuning, "HTTP_PORT": str(a.port + 10)}),
        portal.run_dir / "scheduler-b.log",
    )
    create_topics(portal.topic_prefix)
    try:
        for proc in (a, b):
            proc.start(wait=False)
        for proc in (a, b):
            proc.wait_ready()
        yield Replicas(portal, a, b)
    finally:
        b.stop()
        a.stop()


@pytest.fixture(scope="module")
async def timers(replicas: Replicas) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:27017", tz_aware=True
    )
    try:
        yield client[f"{replicas.portal.db_prefix}scheduler"]["timers"]
    finally:
        await client.close()


async def insert_due_timers(timers: Any, run: str) -> dict[str, str]:
    """Bulk-insert TIMERS link expiries, all due; return ce_id -> timer id."""
    now = datetime.now(UTC).replace(microsecond=0)
    docs, expected = [], {}
    for i in range(TIMERS):
        link = f"{run}-{i:05d}"
        due = now - timedelta(hours=1) + timedelta(milliseconds=i)
        spec = TimerSpec(
            id=timer_id(TimerKind.LINK_EXPIRY, link),
            kind=TimerKind.LINK_EXPIRY,
            account_id=f"acc-{run}",
            subject=link,
            due_at=due,
            data={
                "link_id": link,
                "account_id": f"acc-{run}",
                "requested_at": due - timedelta(days=21),
                "expired_at": due,
                "school_id": "0123",
                "student_id": f"9{i:07d}",
            },
            armed_by=due - timedelta(days=21),
        )
        docs.append(new_timer_doc(spec, {}))
        expected[fire_event_id(spec.id, due)] = spec.id
    for start in range(0, TIMERS, 2500):
        await timers.insert_many(docs[start : start + 2500], ordered=False)
    return expected


async def all_fired(timers: Any, run: str) -> None:
    async def done() -> bool:
        fired = await timers.count_documents({"account_id": f"acc-{run}", "state": "fired"})
        return fired == TIMERS

    await async_wait_until(done, timeout=120, interval=0.5, what=f"{TIMERS} timers fired")


async def ce_ids_on_topic(topic: str, run: str) -> Counter[str]:
    """Every LinkExpired record of ``run`` up to the topic's current end, by ce_id."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()  # no group: every partition is assigned at once
    try:
        parts = list(consumer.assignment())
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        seen: Counter[str] = Counter()

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in parts])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for record in records:
                    if record.key.decode().startswith(f"{run}-"):
                        seen[dict(record.headers)["ce_id"].decode()] += 1
        return seen
    finally:
        await consumer.stop()


def owner_prefix(proc: ServiceProcess) -> str:
    assert proc.proc is not None
    return f"{HOST}:{proc.proc.pid}:"


async def test_two_replicas_fire_each_of_10000_timers_exactly_once(
    replicas: Replicas, timers: Any
) -> None:
    expected = await insert_due_timers(timers, "both")
    await all_fired(timers, "both")
    seen = await ce_ids_on_topic(replicas.portal.topic("LinkExpired"), "both")
    assert set(seen) == set(expected)
    assert sum(seen.values()) == TIMERS, "a timer was published twice"
    by: Counter[str] = Counter()
    async for doc in timers.find({"account_id": "acc-both"}, {"fired_by": 1, "claims": 1}):
        assert doc["claims"] == 1
        by[doc["fired_by"].rsplit(":", 1)[0] + ":"] += 1
    assert by[owner_prefix(replicas.a)] > 0 and by[owner_prefix(replicas.b)] > 0, by


async def test_a_backlog_does_not_starve_a_timer_that_just_fell_due(
    replicas: Replicas, timers: Any
) -> None:
    await insert_due_timers(timers, "late")  # 10,000 due an hour ago
    fresh = new_timer_doc(
        TimerSpec(
            id=timer_id(TimerKind.LINK_EXPIRY, "fresh-0"),
            kind=TimerKind.LINK_EXPIRY,
            account_id="acc-fresh",
            subject="fresh-0",
            due_at=datetime.now(UTC),
            data={
                "link_id": "fresh-0",
                "account_id": "acc-fresh",
                "requested_at": datetime.now(UTC) - timedelta(days=21),
                "expired_at": datetime.now(UTC),
            },
            armed_by=datetime.now(UTC) - timedelta(days=21),
        ),
        {},
    )
    await timers.insert_one(fresh)
    await all_fired(timers, "late")

    async def fired_at(timer: str) -> Any:
        doc = await timers.find_one({"_id": timer, "state": "fired"})
        return doc and doc["fired_at_wall"]

    moment = await async_wait_until(lambda: fired_at(fresh["_id"]), timeout=30)
    before = await timers.count_documents(
        {"account_id": "acc-late", "fired_at_wall": {"$lt": moment}}
    )
    assert before < TIMERS // 2, f"{before} older timers fired before the fresh one"


def test_replicas_share_one_persisted_clock(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    moved = httpx.post(f"{a.url}/v1/admin/clock", json={"advance_seconds": 3600}, timeout=10)
    assert moved.status_code == 200
    seen_by_b = httpx.get(f"{b.url}/v1/admin/clock", timeout=10).json()
    assert seen_by_b["offset_seconds"] == moved.json()["offset_seconds"] >= 3600


async def test_a_replica_killed_mid_batch_loses_and_doubles_nothing(
    replicas: Replicas, timers: Any, report: Callable[[str], None]
) -> None:
    a, b = replicas.a, replicas.b
    assert a.proc is not None
    expected = await insert_due_timers(timers, "kill")
    held_by_a = {
        "account_id": "acc-kill",
        "state": "firing",
        "lease_owner": {"$regex": f"^{owner_prefix(a)}"},
    }

    async def froze_a_mid_batch() -> bool:
        # Freeze A, look whether it holds a claimed batch; if so kill it, else thaw.
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        if await timers.count_documents(held_by_a):
            a.kill()
            return True
        os.kill(a.proc.pid, signal.SIGCONT)
        return False

    await async_wait_until(froze_a_mid_batch, timeout=60, interval=0.01, what="A mid-batch")
    orphaned = {d["_id"] async for d in timers.find(held_by_a, {"_id": 1})}
    assert orphaned, "A was killed holding no timers"
    report(f"A killed holding {len(orphaned)} claimed timers")

    await all_fired(timers, "kill")  # B re-claims A's batch once the lease ran out
    reclaimed = {
        d["_id"]: d["fired_by"]
        async for d in timers.find({"account_id": "acc-kill", "claims": {"$gt": 1}})
    }
    assert reclaimed and set(reclaimed) <= orphaned
    assert all(owner.startswith(owner_prefix(b)) for owner in reclaimed.values())

    seen = await ce_ids_on_topic(replicas.portal.topic("LinkExpired"), "kill")
    assert set(seen) == set(expected)  # every timer fired
    doubled = {expected[ce_id] for ce_id, n in seen.items() if n > 1}
    assert all(n <= 2 for n in seen.values())
    # A duplicate only where A published before dying; it carries the same ce_id.
    assert doubled <= set(reclaimed)
    report(f"re-claimed by B: {len(reclaimed)}, published twice (same ce_id): {len(doubled)}")
