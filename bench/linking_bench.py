"""Linking benchmark: approval → SIS latency next to raw Kafka latency, and roster import
rows/s next to raw MongoDB inserts, measured in one run on the same machine.

    .venv/bin/python bench/linking_bench.py [--approvals 300] [--students 100000]

On the running local stack (``python -m tools.devstack up``) it starts its own linking
process (a database and topic prefix of its own, port 18902) and measures:

1. **raw Kafka latency**: an aiokafka producer (acks=all, idempotent, as the service's)
   sends one record and a plain aiokafka consumer (the SIS's settings) receives it;
   latency = send start → record received.
2. **approval → SIS latency**: one pending request is approved through
   ``POST /v1/link-requests/{id}/approve``; latency = request start → ``LinkApproved``
   received by a plain Kafka consumer playing the SIS (HTTP, MongoDB write with the
   outbox, publication, broker, consumer). Goal: p99 ratio to (1) ≤ 3.

   (1) and (2) alternate, one at a time, ``--approvals`` times each (after 20 warm-up
   rounds), so that both see the same load on a shared machine.
3. **raw MongoDB inserts**: ``insert_many`` of ``--students`` roster-shaped documents in
   batches of 1000 into a scratch collection (the database's write floor).
4. **roster import**: a generated OneRoster 1.1 bundle of ``--students`` students (in 100
   schools) through ``POST /v1/roster/imports`` (parse, validate, plan, 1000-document bulk
   upserts), then the same bundle again (idempotent re-import: nothing written).

Figures are printed and written to ``bench/out/linking.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.*, tools.*

from benchkit import MONGO, BenchService, figure, log
from linking.devtools import (
    BundleStudent,
    consumed_everything,
    mint_guardian_token,
    mint_staff_token,
    oneroster_bundle,
    publish,
)
from pymongo import AsyncMongoClient

from shared.contracts.envelope import decode
from shared.contracts.events import AccountCreated, EmailVerified

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "bench" / "out" / "linking.json"
PORT = 18902
BOOTSTRAP = "127.0.0.1:9092"


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {
        "p50_ms": pick(0.50),
        "p90_ms": pick(0.90),
        "p99_ms": pick(0.99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "n": len(ordered),
    }


# --- the service under test -----------------------------------------------------------


async def _assigned(consumer: AIOKafkaConsumer) -> None:
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # Start from the end: only records produced from now on count.
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)


def sis_consumer(topic: str) -> AIOKafkaConsumer:
    """The consumer settings of both measurements (the SIS side)."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=f"bench-sis-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        enable_auto_commit=True,
        fetch_max_wait_ms=500,
    )


# --- 1. and 2. latency, interleaved --------------------------------------------------


class RawKafka:
    """The baseline: one record produced, then received by a plain consumer."""

    def __init__(self, prefix: str) -> None:
        self.topic = f"{prefix}bench-raw-latency"
        self.producer = AIOKafkaProducer(
            bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=2
        )
        self.consumer = sis_consumer(self.topic)
        self.sent = 0

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, 3, 1)])
        finally:
            await admin.close()
        await self.producer.start()
        await self.consumer.start()
        await _assigned(self.consumer)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def once(self) -> float:
        self.sent += 1
        key = f"k{self.sent}".encode()
        started = time.perf_counter()
        await self.producer.send_and_wait(self.topic, value=b'{"bench": true}', key=key)
        while True:
            batch = await self.consumer.getmany(timeout_ms=1000)
            if any(r.key == key for records in batch.values() for r in records):
                return time.perf_counter() - started


class Approvals:
    """The service path: approve one pending request, wait for LinkApproved at the SIS."""

    def __init__(self, service: BenchService, n: int) -> None:
        self.service = service
        self.n = n
        self.school = f"B{service.run[:5]}"
        self.staff = {
            "Authorization": f"Bearer {mint_staff_token([self.school], subject='bench-staff')}"
        }
        self.api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=60)
        self.consumer = sis_consumer(f"{service.prefix}LinkApproved")
        self.link_ids: list[str] = []

    async def start(self) -> None:
        """Import a roster, announce a verified guardian, file ``n`` pending requests."""
        students = [
            BundleStudent(f"{i:08d}", f"Last{i}", f"First{i}", self.school) for i in range(self.n)
        ]
        admin = {"Authorization": f"Bearer {mint_staff_token([], role='district_admin')}"}
        response = await self.api.post(
            "/v1/roster/imports",
            headers=admin,
            files={"file": ("r.zip", oneroster_bundle(students), "application/zip")},
        )
        response.raise_for_status()
        prefix = self.service.prefix
        account = f"bench-{uuid.uuid4().hex[:8]}"
        email = f"{account}@bench.example.net"
        now = datetime.now(UTC)
        created = AccountCreated(
            account_id=account,
            email=email,
            first_name="Bench",
            last_name="Guardian",
            locale="en",
            created_at=now,
        )
        await publish(created, topic_prefix=prefix)
        await publish(
            EmailVerified(account_id=account, email=email, verified_at=now), topic_prefix=prefix
        )
        deadline = time.monotonic() + 60
        while not await consumed_everything(f"{prefix}EmailVerified", f"{prefix}linking"):
            if time.monotonic() > deadline:
                raise SystemExit("linking did not consume EmailVerified")
            await asyncio.sleep(0.2)
        guardian = {"Authorization": f"Bearer {mint_guardian_token(account, email=email)}"}
        for s in students:
            r = await self.api.post(
                "/v1/links",
                headers=guardian,
                json={
                    "school_id": self.school,
                    "student_id": s.student_id,
                    "student_last_name": s.last_name,
                },
            )
            r.raise_for_status()
            self.link_ids.append(r.json()["link_id"])
        await self.consumer.start()
        await _assigned(self.consumer)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.api.aclose()

    async def once(self, link_id: str) -> tuple[float, float]:
        """(request start → LinkApproved received, request start → HTTP answer)."""
        started = time.perf_counter()
        r = await self.api.post(
            f"/v1/link-requests/{link_id}/approve",
            headers=self.staff,
            json={"id_document_type": "drivers_license"},
        )
        answered = time.perf_counter()
        r.raise_for_status()
        while True:
            batch = await self.consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for rec in records:
                    if decode(rec.headers, rec.value).event.link_id == link_id:  # type: ignore[attr-defined]
                        return time.perf_counter() - started, answered - started


async def latencies(service: BenchService, n: int, warmup: int = 20) -> dict[str, list[float]]:
    """Raw records and approvals alternate, so both see the same machine load."""
    raw, approvals = RawKafka(service.prefix), Approvals(service, n + warmup)
    await raw.start()
    await approvals.start()
    out: dict[str, list[float]] = {"raw": [], "approval": [], "http": []}
    try:
        for i, link_id in enumerate(approvals.link_ids):
            raw_s = await raw.once()
            approval_s, http_s = await approvals.once(link_id)
            if i >= warmup:
                out["raw"].append(raw_s)
                out["approval"].append(approval_s)
                out["http"].append(http_s)
    finally:
        await approvals.stop()
        await raw.stop()
    return out


# --- 3. and 4. roster import ----------------------------------------------------------


def generated_students(n: int, schools: int = 100) -> list[BundleStudent]:
    names = ["García", "Nguyễn", "O'Brien", "Smith", "Diallo", "Pierre", "Warsame", "Kim"]
    return [
        BundleStudent(
            f"{i:08d}",
            f"{names[i % len(names)]}{i % 997}",
            f"Kid{i}",
            f"{1000 + i % schools:04d}",
            f"201{i % 10}-0{1 + i % 9}-1{i % 10}",
        )
        for i in range(n)
    ]


async def raw_insert_rate(service: BenchService, n: int) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
    try:
        coll = client[f"{service.db_prefix}scratch"]["roster_raw"]
        docs = [
            {
                "_id": f"{1000 + i % 100:04d}|{i:08d}",
                "school_id": f"{1000 + i % 100:04d}",
                "student_id": f"{i:08d}",
                "school_key": f"{1000 + i % 100:04d}",
                "first_name": f"Kid{i}",
                "last_name": f"Name{i % 997}",
                "first_name_key": f"kid{i}",
                "last_name_key": f"name{i % 997}",
                "birth_date": "2015-04-02",
                "sourced_id": f"u-{i}",
                "school_sourced_id": f"org-{i % 100}",
                "hash": "0" * 24,
                "status": "active",
            }
            for i in range(n)
        ]
        await coll.create_index([("school_key", 1), ("status", 1)])
        await coll.create_index("sourced_id")
        started = time.perf_counter()
        for i in range(0, n, 1000):
            await coll.insert_many(docs[i : i + 1000], ordered=False)
        return n / (time.perf_counter() - started)
    finally:
        await client.close()


async def roster_import(data: bytes) -> tuple[float, dict[str, Any]]:
    admin = {"Authorization": f"Bearer {mint_staff_token([], role='district_admin')}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=900) as api:
        started = time.perf_counter()
        response = await api.post(
            "/v1/roster/imports",
            headers=admin,
            files={"file": ("roster.zip", data, "application/zip")},
        )
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


# --- main -----------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:8]
    service = BenchService("linking", run, PORT)
    log(f"linking bench {run}: starting a linking process on port {PORT}")
    service.start()
    try:
        log(
            f"1-2. {args.approvals} raw produce → consume records alternating with "
            f"{args.approvals} approvals → LinkApproved at the SIS consumer"
        )
        samples = await latencies(service, args.approvals)
        raw = percentiles(samples["raw"])
        approval, http = percentiles(samples["approval"]), percentiles(samples["http"])
        log(f"3. raw MongoDB insert_many of {args.students} roster documents")
        raw_insert = await raw_insert_rate(service, args.students)
        log(f"4. roster import of a generated {args.students}-student bundle")
        data = await asyncio.to_thread(oneroster_bundle, generated_students(args.students))
        first_s, first = await roster_import(data)
        again_s, again = await roster_import(data)
        assert first["created"] + first["updated"] + first["unchanged"] == args.students, first
        assert again["unchanged"] == args.students, again
        import_rate, reimport_rate = args.students / first_s, args.students / again_s

        log("\nresults (value | same-run baseline | ratio)")
        rows = [
            ("approval → SIS p50", approval["p50_ms"], "ms", "raw produce → consume p50",
             raw["p50_ms"], "info"),
            ("approval → SIS p90", approval["p90_ms"], "ms", "raw produce → consume p90",
             raw["p90_ms"], "info"),
            ("approval → SIS p99", approval["p99_ms"], "ms", "raw produce → consume p99",
             raw["p99_ms"], "≤ 3"),
            ("approve HTTP answer p50", http["p50_ms"], "ms", "raw produce → consume p50",
             raw["p50_ms"], "info"),
            ("approve HTTP answer p99", http["p99_ms"], "ms", "raw produce → consume p99",
             raw["p99_ms"], "info"),
            (f"roster import, {args.students} students", import_rate, "rows/s",
             "raw insert_many (1000/batch)", raw_insert, "info"),
            ("roster re-import, unchanged", reimport_rate, "rows/s",
             "raw insert_many (1000/batch)", raw_insert, "info"),
        ]  # fmt: skip
        figures = [figure(*row) for row in rows]
        result = {
            "benchmark": "linking",
            "at": datetime.now(UTC).isoformat(),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "figures": figures,
            "raw_kafka_latency": raw,
            "approval_to_sis_latency": approval,
            "approve_http_latency": http,
            "roster": {
                "students": args.students,
                "bundle_bytes": len(data),
                "import_seconds": first_s,
                "reimport_seconds": again_s,
                "import_rows_per_second": import_rate,
                "reimport_rows_per_second": reimport_rate,
                "raw_insert_rows_per_second": raw_insert,
                "first_summary": {k: v for k, v in first.items() if k != "rejections"},
            },
            "notes": (
                "Latency: one approval (or one raw record) at a time, request start → record "
                "received by a plain aiokafka consumer (fetch_max_wait_ms=500, long poll). The "
                "approval path is HTTP → MongoDB write with the outbox entry → relay woken → "
                "idempotent producer (acks=all) → consumer. Roster import: HTTP upload of the "
                "zip, parse and validation of every row, plan against the stored roster, "
                "1000-document bulk upserts; the re-import writes nothing."
            ),
            "command": ".venv/bin/python bench/linking_bench.py",
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        log(f"\nwrote {OUT.relative_to(ROOT)}")
        return 0
    finally:
        service.stop()
        service.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--approvals", type=int, default=300)
    parser.add_argument("--students", type=int, default=100_000)
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
