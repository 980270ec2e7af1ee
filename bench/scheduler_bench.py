"""Scheduler benchmark: drain a backlog of due timers, next to raw baselines.

    .venv/bin/python bench/scheduler_bench.py [--timers 1000000] [--batch-size 500]

On the running local stack (``python -m tools.devstack up``), in a database and topic
prefix of its own, it measures in one run:

1. raw aiokafka produce rate (same producer settings as the services: idempotent,
   ``acks=all``) of records the size of a ``LinkExpired``;
2. raw MongoDB ``update_many`` rate (documents per second, batches of ``--batch-size``
   ids, on the timers collection with its indexes);
3. bulk insert of ``--timers`` due timers;
4. the drain: the scheduler's own firing code (claim with lease, publish, record) until
   every timer fired; drain time and events/s;
5. the check: every timer ``fired`` in MongoDB, and the topic holds exactly one record
   per timer (distinct ``ce_id`` = timers, total records = timers: no double fire).

Prints each figure beside its baseline and their ratio, and writes them as JSON to
``bench/out/scheduler.json``. Goal: 1,000,000 timers drained in under 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from scheduler.adapters.kafka_events import KafkaEventSink
from scheduler.adapters.mongo_timers import MongoTimers, create_indexes, new_timer_doc
from scheduler.domain.clock import SystemClock
from scheduler.domain.timers import TimerKind, TimerSpec, fire_event_id, timer_id
from scheduler.firing import Firer
from scheduler.settings import Settings

from shared.contracts.envelope import encode
from shared.contracts.events import LinkExpired
from shared.contracts.topics import Topic
from shared.runtime.kafka import KafkaPublisher, connection_options, create_topics
from shared.runtime.mongo import create_client

OUT = Path(__file__).resolve().parent / "out" / "scheduler.json"
GOAL_SECONDS = 300.0


def mongo_backend() -> str:
    """Which local MongoDB-protocol server runs (tools.devstack records it)."""
    path = Path(__file__).resolve().parents[1] / "var" / "run" / "mongo.backend"
    return path.read_text().strip() if path.exists() else "unknown"


def log(message: str) -> None:
    print(message, flush=True)


def spec_for(run: str, i: int, due: datetime) -> TimerSpec:
    link = f"{run}-{i:07d}"
    return TimerSpec(
        id=timer_id(TimerKind.LINK_EXPIRY, link),
        kind=TimerKind.LINK_EXPIRY,
        account_id=f"acc-{i % 50_000}",
        subject=link,
        due_at=due,
        data={
            "link_id": link,
            "account_id": f"acc-{i % 50_000}",
            "requested_at": due - timedelta(days=21),
            "expired_at": due,
            "school_id": "0123",
            "student_id": f"9{i:07d}",
            "guardian_email": f"guardian{i}@example.net",
            "guardian_name": "Jenny Denny",
            "locale": "en",
        },
        armed_by=due - timedelta(days=21),
    )


async def kafka_baseline(settings: Settings, topic: str, records: int) -> dict[str, Any]:
    """Raw aiokafka: send ``records`` LinkExpired-sized records, wait for every ack."""
    now = datetime.now(UTC)
    sample = spec_for("baseline", 0, now)
    record = encode(LinkExpired.model_validate(sample.data), source="scheduler", time=now)
    producer = AIOKafkaProducer(
        **connection_options(settings), acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    try:
        started = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        for i in range(records):
            pending.append(
                await producer.send(
                    topic, value=record.value, key=f"k{i}".encode(), headers=record.headers
                )
            )
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"records": records, "seconds": seconds, "per_second": records / seconds}


async def mongo_baseline(coll: Any, ids: list[str], batch: int) -> dict[str, Any]:
    """Raw update_many by ``_id $in`` batches (what a claim and a finish each do)."""
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        await coll.update_many(
            {"_id": {"$in": ids[start : start + batch]}}, {"$set": {"baseline": start}}
        )
    seconds = time.perf_counter() - started
    return {"documents": len(ids), "seconds": seconds, "per_second": len(ids) / seconds}


async def insert_timers(coll: Any, run: str, count: int) -> dict[str, Any]:
    """Bulk-insert ``count`` timers, all due (oldest one hour ago)."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, count, chunk):
        docs = [
            new_timer_doc(spec_for(run, i, base + timedelta(milliseconds=i)), {})
            for i in range(start, min(start + chunk, count))
        ]
        await coll.insert_many(docs, ordered=False)
        if start and start % 200_000 == 0:
            log(f"  inserted {start:,}")
    seconds = time.perf_counter() - started
    return {"documents": count, "seconds": seconds, "per_second": count / seconds}


async def drain(settings: Settings, timers: MongoTimers, count: int, firers: int) -> dict[str, Any]:
    """Fire every due timer with ``firers`` concurrent firing loops (one process)."""
    publisher = KafkaPublisher(settings)
    await publisher.start()
    sink = KafkaEventSink(publisher, source="scheduler")
    loops = [
        Firer(
            timers,
            sink,
            SystemClock(),
            batch_size=settings.scheduler_batch_size,
            lease_seconds=settings.scheduler_lease_seconds,
            replica=f"bench-{n}",
        )
        for n in range(firers)
    ]

    async def run(firer: Firer) -> None:
        idle = 0
        while idle < 2:  # nothing found twice in a row: drained
            idle = idle + 1 if not await firer.fire_batch() else 0

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            fired = sum(f.fired for f in loops)
            elapsed = time.perf_counter() - started
            log(f"  fired {fired:,} in {elapsed:.0f}s ({fired / elapsed:,.0f}/s)")

    started = time.perf_counter()
    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(run(f) for f in loops))
    finally:
        reporter.cancel()
        seconds = time.perf_counter() - started
        await publisher.stop()
    fired = sum(f.fired for f in loops)
    return {
        "timers": count,
        "fired": fired,
        "seconds": seconds,
        "per_second": fired / seconds,
        "firers": firers,
        "batch_size": settings.scheduler_batch_size,
    }


async def count_on_topic(topic: str, bootstrap: str) -> tuple[int, int, set[str]]:
    """(records, distinct ce_ids, ce_ids) on ``topic`` up to its current end."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        parts = list(consumer.assignment())
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        total, ids = 0, set()
        while True:
            positions = [await consumer.position(tp) for tp in parts]
            if all(pos >= end[tp] for pos, tp in zip(positions, parts, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for records in batch.values():
                for record in records:
                    total += 1
                    for name, value in record.headers:
                        if name == "ce_id":
                            ids.add(value.decode())
                            break
        return total, len(ids), ids
    finally:
        await consumer.stop()


def figures(results: dict[str, Any], timers: int) -> list[dict[str, Any]]:
    """The run's figures in ``bench/run_all.py``'s report shape."""
    drain = results["drain"]
    kafka = results["kafka_produce_raw"]["per_second"]
    mongo = results["mongo_update_many_raw"]["per_second"]
    goal = results["goal"]["seconds"]
    return [
        {
            "name": "drain rate (claim + publish + record)",
            "value": round(drain["per_second"]),
            "unit": "events/s",
            "baseline_name": "raw aiokafka produce (acks=all, idempotent)",
            "baseline": round(kafka),
            "ratio": round(drain["per_second"] / kafka, 3),
        },
        {
            "name": "drain rate",
            "value": round(drain["per_second"]),
            "unit": "timers/s",
            "baseline_name": "raw MongoDB update_many by _id",
            "baseline": round(mongo),
            "ratio": round(drain["per_second"] / mongo, 3),
        },
        {
            "name": f"drain time, {timers:,} due timers",
            "value": round(drain["seconds"], 1),
            "unit": "s",
            "baseline_name": "goal",
            "baseline": goal,
            "ratio": round(drain["seconds"] / goal, 3),
            "goal": f"< {goal:.0f} s",
        },
        {
            "name": "timers fired twice (records - distinct ce_ids)",
            "value": results["check"]["double_fired"],
            "unit": "",
            "goal": "0",
        },
    ]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_topic_prefix=f"bench{run}.",
        mongodb_database_prefix=f"bench{run}_",
        scheduler_batch_size=args.batch_size,
        scheduler_lease_seconds=args.lease_seconds,
        otel_traces_file=None,
    )
    topic = f"{settings.kafka_topic_prefix}{Topic.LINK_EXPIRED}"
    baseline_topic = f"{settings.kafka_topic_prefix}baseline"
    await create_topics(settings, partitions=3, names=[topic, baseline_topic])
    client = create_client(settings)
    db = client[settings.database_name]
    coll = db["timers"]
    await create_indexes(coll)
    timers = MongoTimers(coll)
    results: dict[str, Any] = {
        "benchmark": "scheduler",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "mongodb": (await client.server_info()).get("version"),
        "mongodb_backend": mongo_backend(),
    }
    try:
        log(f"[1/5] raw aiokafka produce, {args.baseline_records:,} records")
        results["kafka_produce_raw"] = await kafka_baseline(
            settings, baseline_topic, args.baseline_records
        )
        log(f"[2/5] insert {args.timers:,} due timers")
        results["insert"] = await insert_timers(coll, run, args.timers)
        log(f"[3/5] raw MongoDB update_many, batches of {args.batch_size}")
        ids = [timer_id(TimerKind.LINK_EXPIRY, f"{run}-{i:07d}") for i in range(args.baseline_docs)]
        results["mongo_update_many_raw"] = await mongo_baseline(coll, ids, args.batch_size)
        log(f"[4/5] drain with {args.firers} firing loop(s), batch {args.batch_size}")
        results["drain"] = await drain(settings, timers, args.timers, args.firers)
        log("[5/5] check: MongoDB states and the topic, by ce_id")
        fired = await coll.count_documents({"state": "fired"})
        left = await coll.count_documents({"state": {"$ne": "fired"}})
        total, distinct, ids_seen = await count_on_topic(topic, settings.kafka_bootstrap_servers)
        # The ids on the topic are the ones derived from the stored timers: check a sample.
        sample = [
            fire_event_id(d["_id"], d["due_at"])
            async for d in coll.find({}, {"due_at": 1}).limit(1000)
        ]
        results["check"] = {
            "fired_in_mongodb": fired,
            "not_fired_in_mongodb": left,
            "records_on_topic": total,
            "distinct_ce_ids": distinct,
            "double_fired": total - distinct,
            "sample_ids_found": sum(1 for s in sample if s in ids_seen),
            "sample_size": len(sample),
        }
    finally:
        if not args.keep:
            await client.drop_database(settings.database_name)
            admin = AIOKafkaAdminClient(**connection_options(settings))
            await admin.start()
            try:
                await admin.delete_topics([topic, baseline_topic])
            finally:
                await admin.close()
        await client.close()

    drain_rate = results["drain"]["per_second"]
    kafka_rate = results["kafka_produce_raw"]["per_second"]
    mongo_rate = results["mongo_update_many_raw"]["per_second"]
    check = results["check"]
    ok = (
        check["fired_in_mongodb"] == args.timers
        and check["distinct_ce_ids"] == args.timers
        and check["double_fired"] == 0
        and check["sample_ids_found"] == check["sample_size"]
    )
    results["goal"] = {
        "seconds": GOAL_SECONDS * args.timers / 1_000_000,
        "met": results["drain"]["seconds"] <= GOAL_SECONDS * args.timers / 1_000_000,
        "exactly_once": ok,
    }
    log("")
    log(f"{'figure':44} {'value':>14} {'baseline':>14} {'ratio':>7}")
    log(
        f"{'drain: events/s (claim+publish+record)':44} {drain_rate:>14,.0f} "
        f"{kafka_rate:>14,.0f} {ratio(drain_rate, kafka_rate):>7}  (vs raw aiokafka produce/s)"
    )
    log(
        f"{'drain: timers/s':44} {drain_rate:>14,.0f} {mongo_rate:>14,.0f} "
        f"{ratio(drain_rate, mongo_rate):>7}  (vs raw update_many docs/s)"
    )
    log(
        f"{'drain time (s) for ' + format(args.timers, ',') + ' timers':44} "
        f"{results['drain']['seconds']:>14,.1f} {results['goal']['seconds']:>14,.1f} "
        f"{ratio(results['drain']['seconds'], results['goal']['seconds']):>7}  (vs goal)"
    )
    log(f"{'insert docs/s':44} {results['insert']['per_second']:>14,.0f}")
    log(
        f"check: {check['fired_in_mongodb']:,} fired, {check['records_on_topic']:,} records, "
        f"{check['distinct_ce_ids']:,} distinct ce_ids, {check['double_fired']} double-fired "
        f"-> {'OK' if ok else 'FAILED'}"
    )
    results["figures"] = figures(results, args.timers)
    results["notes"] = (
        f"{args.timers:,} due timers bulk-inserted, drained by the scheduler's firing code "
        f"(one loop, batch {args.batch_size}) on the {results['mongodb_backend']} MongoDB-"
        f"protocol server; every timer fired in MongoDB: {check['fired_in_mongodb']:,}; "
        f"records on the topic {check['records_on_topic']:,}, distinct ce_ids "
        f"{check['distinct_ce_ids']:,}."
    )
    results["command"] = " ".join(["python", "bench/scheduler_bench.py", *sys.argv[1:]])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    log(f"wrote {OUT}")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=500, help="SCHEDULER_BATCH_SIZE")
    parser.add_argument("--firers", type=int, default=1, help="concurrent firing loops")
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--baseline-records", type=int, default=200_000)
    parser.add_argument("--baseline-docs", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and topics")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
