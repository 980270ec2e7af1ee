"""Webhooks benchmark: signed webhook deliveries/s next to raw httpx POSTs/s to the same
local receiver, and approval → webhook p99 next to raw Kafka produce → consume p99,
measured in one run on the same machine.

    .venv/bin/python bench/webhooks_bench.py [--deliveries 1000] [--approvals 200]

On the running local stack (``python -m tools.devstack up``) it starts, with a database
and topic prefix of its own: a receiver process (``bench/webhook_receiver_app.py``,
uvicorn, HTTPS with a self-signed certificate and plain HTTP, answers 204 at once), a
webhooks service (port 18905) with one endpoint registered for the receiver through the
operator's command, and a linking service (port 18902). Then:

1. **deliveries/s over HTTPS**: ``--deliveries`` ``LinkApproved`` events (distinct links,
   so nothing waits for per-link order) published to Kafka at once; time from the first
   publish to the last distinct ``webhook-id`` received. Each delivery is consumed,
   recorded in MongoDB, claimed, checked (URL policy, DNS), signed, POSTed and marked.
   Baseline: raw ``httpx`` POSTs/s of the same body to the same receiver from this
   process, with the service's concurrency (``WEBHOOKS_CONCURRENCY``, 16) and client
   settings, no Kafka, no MongoDB, no signing: the mean of a run just before and one
   just after.
2. **the same over plain HTTP** (the endpoint moved with ``portal webhooks endpoint
   update --url``; ``WEBHOOKS_ALLOW_HTTP`` outside production only).
3. **approval → webhook latency**: one pending request approved through linking's
   ``POST /v1/link-requests/{id}/approve``; latency = request start → the webhook's
   arrival at the receiver (HTTP, MongoDB with the outbox, relay, Kafka, the webhooks
   consumer, its MongoDB record, the signed HTTPS POST). Baseline, alternating one for
   one: an aiokafka record produced and received by a plain consumer (as in
   ``linking_bench.py``).

Figures are ratios for the report, never asserted by a test. They are printed and
written to ``bench/out/webhooks.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import linking_bench  # noqa: E402
from benchkit import BenchService, figure, log  # noqa: E402
from webhooks.domain.model import structured_event  # noqa: E402

from shared.contracts.envelope import decode, encode  # noqa: E402
from shared.contracts.events import LinkApproved  # noqa: E402
from shared.contracts.vectors import SAMPLES  # noqa: E402
from tests.integration.webhook_receiver import self_signed_certificate  # noqa: E402

OUT = ROOT / "bench" / "out" / "webhooks.json"
PORT = 18905
BOOTSTRAP = linking_bench.BOOTSTRAP
CONCURRENCY = 16  # WEBHOOKS_CONCURRENCY's default, kept by the service below


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """The receiver process (HTTPS and HTTP ports)."""

    def __init__(self, tls_dir: Path) -> None:
        self.cert, self.key = self_signed_certificate(tls_dir)
        self.https_port, self.http_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        context = ssl.create_default_context(cafile=str(self.cert))
        self.control = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.http_port}", timeout=10)
        self.context = context

    def url(self, scheme: str) -> str:
        port = self.https_port if scheme == "https" else self.http_port
        return f"{scheme}://127.0.0.1:{port}/sis/hooks"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "webhook_receiver_app.py"),
                str(self.cert),
                str(self.key),
                str(self.https_port),
                str(self.http_port),
            ],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.stats()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("the receiver did not start") from None
                await asyncio.sleep(0.1)

    async def stats(self) -> dict[str, int]:
        response = await self.control.get("/stats")
        response.raise_for_status()
        return dict(response.json())

    async def reset(self) -> None:
        (await self.control.post("/reset")).raise_for_status()

    async def arrival(self, subject: str) -> float | None:
        response = await self.control.get(f"/arrival/{subject}")
        return None if response.status_code == 404 else float(response.json()["at"])

    async def wait_distinct(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (await self.stats())["distinct"] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {(await self.stats())['distinct']} of {count} arrived")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self.control.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class WebhooksService(BenchService):
    """A webhooks process of the benchmark's own (the linking process's run and topics)."""

    def __init__(self, linking: BenchService, receiver: Receiver) -> None:
        super().__init__(
            "webhooks",
            linking.run,
            PORT,
            {
                "WEBHOOKS_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
                "WEBHOOKS_CA_FILE": str(receiver.cert),
                "WEBHOOKS_ALLOW_HTTP": "true",
                "WEBHOOKS_CONCURRENCY": str(CONCURRENCY),
            },
        )
        self.database = f"{linking.db_prefix}webhooks"

    def cli(self, *args: str) -> dict[str, Any]:
        """``portal webhooks ...`` on this service's database; its JSON answer."""
        done = subprocess.run(
            [sys.executable, "-m", "shared.runtime.cli", "webhooks", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return dict(json.loads(done.stdout))


def approved(link_id: str) -> LinkApproved:
    base = SAMPLES[0].event
    assert isinstance(base, LinkApproved)
    return base.model_copy(update={"link_id": link_id, "approved_at": datetime.now(UTC)})


# --- 1./2. throughput -----------------------------------------------------------------


async def raw_posts(receiver: Receiver, scheme: str, count: int) -> float:
    """POSTs/s of one webhook-sized body from this process, CONCURRENCY at a time, with
    the service's client settings (HttpSender)."""
    record = encode(approved(str(uuid.uuid4())), source="bench")
    body = json.dumps(
        structured_event(decode(record.headers, record.value)),
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    await receiver.reset()
    url = receiver.url(scheme)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    async with httpx.AsyncClient(
        verify=receiver.context,
        timeout=httpx.Timeout(15),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post(
                    url,
                    content=body,
                    headers={
                        "content-type": "application/cloudevents+json; charset=utf-8",
                        "x-raw-id": f"raw-{i}",
                    },
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    stats = await receiver.stats()
    assert stats["distinct"] == count, stats
    return count / elapsed


async def through_service(
    receiver: Receiver, prefix: str, database: str, count: int
) -> tuple[float, float]:
    """Deliveries/s from the first publish to the last distinct webhook received, and
    events/s from the first publish to the last delivery recorded (consumed and queued:
    the consumer's share of the path)."""
    from pymongo import AsyncMongoClient

    await receiver.reset()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(linking_bench.MONGO)
    deliveries = mongo[database]["deliveries"]
    target = await deliveries.count_documents({}) + count
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        records = [encode(approved(str(uuid.uuid4())), source="bench") for _ in range(count)]
        started = time.perf_counter()
        futures = [
            await producer.send(
                f"{prefix}LinkApproved", value=r.value, key=r.key, headers=r.headers
            )
            for r in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    try:
        deadline = time.monotonic() + max(120.0, count / 2)
        while await deliveries.count_documents({}) < target:
            if time.monotonic() > deadline:
                raise RuntimeError("the events were not all queued")
            await asyncio.sleep(0.05)
        queued = count / (time.perf_counter() - started)
    finally:
        await mongo.close()
    await receiver.wait_distinct(count, timeout=max(120.0, count / 2))
    return count / (time.perf_counter() - started), queued


async def throughput(
    receiver: Receiver, service: WebhooksService, prefix: str, scheme: str, count: int
) -> dict[str, float]:
    before = await raw_posts(receiver, scheme, count)
    delivered, queued = await through_service(receiver, prefix, service.database, count)
    after = await raw_posts(receiver, scheme, count)
    log(f"   consumed and queued {queued:.1f} events/s, delivered {delivered:.1f}/s")
    return {
        "deliveries_per_second": delivered,
        "consumed_and_queued_per_second": queued,
        "raw_posts_per_second": (before + after) / 2,
        "raw_before": before,
        "raw_after": after,
    }


# --- 3. latency -----------------------------------------------------------------------


async def approval_to_webhook(
    approvals: linking_bench.Approvals, receiver: Receiver, link_id: str
) -> float:
    """Seconds from the approve request's start to the webhook's arrival (the receiver's
    monotonic clock, the same clock as this process's)."""
    started = time.monotonic()
    response = await approvals.api.post(
        f"/v1/link-requests/{link_id}/approve",
        headers=approvals.staff,
        json={"id_document_type": "drivers_license"},
    )
    response.raise_for_status()
    deadline = started + 60
    while (at := await receiver.arrival(link_id)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no webhook for {link_id}")
        await asyncio.sleep(0.005)
    return at - started


async def latencies(
    linking: BenchService, receiver: Receiver, n: int, warmup: int = 20
) -> dict[str, list[float]]:
    raw = linking_bench.RawKafka(linking.prefix)
    approvals = linking_bench.Approvals(linking, n + warmup)
    await raw.start()
    await approvals.start()
    await approvals.consumer.stop()  # the webhook is what is waited for here
    out: dict[str, list[float]] = {"raw": [], "webhook": []}
    try:
        for i, link_id in enumerate(approvals.link_ids):
            raw_s = await raw.once()
            webhook_s = await approval_to_webhook(approvals, receiver, link_id)
            if i >= warmup:
                out["raw"].append(raw_s)
                out["webhook"].append(webhook_s)
    finally:
        await approvals.api.aclose()
        await raw.stop()
    return out


async def amain(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:8]
    linking = BenchService("linking", run, linking_bench.PORT)
    with tempfile.TemporaryDirectory(prefix="webhooks-bench-") as tmp:
        receiver = Receiver(Path(tmp))
        service = WebhooksService(linking, receiver)
        log(f"webhooks bench {run}: receiver, linking (:{linking_bench.PORT}), webhooks (:{PORT})")
        await receiver.start()
        try:
            linking.start()  # creates the run's topics too
            service.start(topics=False)
            endpoint = service.cli(
                "endpoint", "add", "--sis", "bench", "--url", receiver.url("https")
            )
            results: dict[str, dict[str, float]] = {}
            for scheme in ("https", "http"):
                if scheme == "http":
                    service.cli("endpoint", "update", endpoint["id"], "--url", receiver.url("http"))
                log(f"{1 if scheme == 'https' else 2}. {args.deliveries} deliveries over {scheme}")
                results[scheme] = await throughput(
                    receiver, service, linking.prefix, scheme, args.deliveries
                )
            service.cli("endpoint", "update", endpoint["id"], "--url", receiver.url("https"))
            log(f"3. {args.approvals} approvals → webhook, alternating with raw Kafka records")
            samples = await latencies(linking, receiver, args.approvals)
        finally:
            service.stop()
            linking.stop()
            await receiver.stop()
            linking.cleanup()
    raw = linking_bench.percentiles(samples["raw"])
    webhook = linking_bench.percentiles(samples["webhook"])
    log("\nresults (value | same-run baseline | ratio)")
    rows = [
        ("webhook deliveries/s, HTTPS", results["https"]["deliveries_per_second"], "deliveries/s",
         "raw httpx POSTs/s, HTTPS", results["https"]["raw_posts_per_second"], "info"),
        ("webhook deliveries/s, HTTP", results["http"]["deliveries_per_second"], "deliveries/s",
         "raw httpx POSTs/s, HTTP", results["http"]["raw_posts_per_second"], "info"),
        ("approval → webhook p50", webhook["p50_ms"], "ms", "raw produce → consume p50",
         raw["p50_ms"], "info"),
        ("approval → webhook p99", webhook["p99_ms"], "ms", "raw produce → consume p99",
         raw["p99_ms"], "info"),
    ]  # fmt: skip
    figures = [figure(*row) for row in rows]
    result = {
        "benchmark": "webhooks",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "figures": figures,
        "throughput": results,
        "raw_kafka_latency": raw,
        "approval_to_webhook_latency": webhook,
        "notes": (
            f"Throughput: {args.deliveries} LinkApproved events of distinct links published at "
            "once, first publish → last distinct webhook-id at the receiver (a uvicorn process "
            "answering 204 at once); the service attempts "
            f"{CONCURRENCY} at a time, each with a MongoDB claim, a URL and DNS check, a "
            "signature, the POST and the recorded attempt. Its baseline: raw httpx POSTs of the "
            f"same body from the benchmark process, {CONCURRENCY} at a time (mean of a run "
            "before and one after). consumed_and_queued_per_second: first publish → the last "
            "delivery recorded in MongoDB (the consumer's share: one event and one offset "
            "commit at a time per topic, as every service's consumer). Latency: one approval (or one raw record) at a time, "
            "approve request start → webhook arrival (the receiver's monotonic clock); the "
            "baseline is linking_bench's raw produce → consume record (fetch_max_wait_ms=500). "
            "The receiver, both services, Kafka and the MongoDB-protocol server share the "
            "same cores."
        ),
        "command": ".venv/bin/python bench/webhooks_bench.py",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--approvals", type=int, default=200)
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
