"""Notifier benchmark: emails/s through the notifier next to raw aiosmtplib sends/s to the
same SMTP server, measured in one run on the same machine.

    .venv/bin/python bench/notifier_bench.py [--emails 1000] [--limited 100]

On the running local stack (``python -m tools.devstack up``) it starts a private SMTP
server (the devstack sink's code on a free port, writing ``.eml`` files to a temporary
directory, exactly as the shared sink does) and its own notifier process (a database and
topic prefix of its own, port 18903), then measures:

1. **raw aiosmtplib**: ``--emails`` messages as the notifier builds them (multipart text
   + HTML, Spanish), sent one after the other over one persistent connection: the relay's
   own ceiling, with no Kafka, no MongoDB, no rendering.
2. **notifier end to end**: ``--emails`` ``PasswordChanged`` events (locales rotating over
   all six) published to Kafka at once; time from the first publish to the last message
   stored by the SMTP server. Every mail goes through the consumer, preferences lookup,
   rendering, the idempotent MongoDB record, the claim, SMTP and the sent mark. The rate
   limit is lifted for this run (``NOTIFIER_MAX_SENDS_PER_SECOND=100000``).
3. **sender drain**: ``--emails`` events published while the SMTP server is down (all
   recorded and deferred), then the server comes back; time from its return to the last
   message stored: the sending stage alone (claim, SMTP, sent marks).
4. **rate limit honoured**: ``--limited`` events with the default limit of 20 sends/s;
   the sustained rate after the initial burst (the bucket holds 20 tokens) is printed
   next to the configured one.

Figures are printed and written to ``bench/out/notifier.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tools.devstack when run as a script

from notifier.adapters.smtp_mailer import build_message  # noqa: E402
from notifier.domain.model import Notification, Template  # noqa: E402
from notifier.rendering import Renderer  # noqa: E402

from shared.contracts.envelope import encode  # noqa: E402
from shared.contracts.events import PasswordChanged  # noqa: E402
from shared.runtime.policy import load_policy  # noqa: E402
from tests.harness import wait_ready  # noqa: E402
from tools.devstack.paths import KAFKA_BOOTSTRAP, MONGO_URI  # noqa: E402
from tools.devstack.smtp_sink import SmtpSink  # noqa: E402

OUT = ROOT / "bench" / "out" / "notifier.json"
PORT = 18903
LOCALES = ("en", "es", "vi", "ar", "so", "ht")


def log(message: str) -> None:
    print(message, flush=True)


def count_mail(maildir: Path) -> int:
    """Stored messages (cheap: the sink shares this process's GIL while we poll)."""
    with os.scandir(maildir) as entries:
        return sum(1 for e in entries if e.name.endswith(".eml") and e.name[0] != ".")


def clear_mail(maildir: Path) -> None:
    for path in maildir.glob("*.eml"):
        path.unlink(missing_ok=True)


# --- 1. raw aiosmtplib ------------------------------------------------------------------


async def raw_sends(port: int, maildir: Path, count: int) -> float:
    """Sends/s of pre-built notifier-shaped messages over one persistent connection."""
    renderer = Renderer(load_policy())
    mail = renderer.sample(Template.PASSWORD_CHANGED, "es")
    messages = []
    for i in range(count):
        notification = Notification.queued(
            event_id=f"raw-{i}",
            event_type="PasswordChanged",
            template=Template.PASSWORD_CHANGED,
            account_id="bench",
            to=f"raw.{i}@example.net",
            to_name="Jenny Denny",
            mail=mail,
            now=datetime.now(UTC),
        )
        messages.append(build_message(notification, "Portal <no-reply@example.org>"))
    clear_mail(maildir)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for i, raw in enumerate(messages):
        await client.sendmail("no-reply@example.org", [f"raw.{i}@example.net"], raw)
    elapsed = time.perf_counter() - started
    await client.quit()
    assert count_mail(maildir) == count, "the SMTP server did not store every raw message"
    return count / elapsed


# --- 2./3. through the notifier ----------------------------------------------------------


class NotifierProcess:
    """A notifier of its own (prefixes ``b<run>.``) sending to the private SMTP server."""

    def __init__(self, run: str, smtp_port: int, max_rate: str) -> None:
        self.run = run
        self.env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "HTTP_PORT": str(PORT),
            "KAFKA_TOPIC_PREFIX": f"b{run}.",
            "MONGODB_DATABASE_PREFIX": f"b{run}_",
            "SMTP_PORT": str(smtp_port),
            "NOTIFIER_MAX_SENDS_PER_SECOND": max_rate,
            "NOTIFIER_BATCH_SIZE": "200",
            "NOTIFIER_POLL_SECONDS": "0.2",
            # The drain run's outage should end in a retry within half a second.
            "NOTIFIER_RETRY_BASE_SECONDS": "0.2",
            "NOTIFIER_RETRY_MAX_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.runtime.cli", "serve", "notifier"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(
            self.proc, f"http://127.0.0.1:{PORT}", name="notifier", log_path=None, timeout=120
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def create_topics(prefix: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", "topics", "create"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "KAFKA_TOPIC_PREFIX": prefix},
        stdout=subprocess.DEVNULL,
    )


def cleanup(run: str) -> None:
    """Drop the run's database and topics (best effort)."""
    try:
        from pymongo import MongoClient

        from tools.devstack.testing import delete_kafka_topics

        delete_kafka_topics(f"b{run}.")
        with MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000) as mongo:
            mongo.drop_database(f"b{run}_notifier")
    except Exception as exc:
        log(f"  (cleanup of run {run} incomplete: {type(exc).__name__})")


async def publish(run: str, count: int, tag: str) -> float:
    """Publish ``count`` PasswordChanged events at once; returns the start time."""
    now = datetime.now(UTC)
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA_BOOTSTRAP, enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for i in range(count):
            event = PasswordChanged(
                account_id=f"{tag}-{i}",
                email=f"{tag}.{i}@example.net",
                locale=LOCALES[i % len(LOCALES)],
                changed_at=now,
                via="change",
            )
            record = encode(event, source="bench")
            futures.append(
                await producer.send(
                    f"b{run}.PasswordChanged",
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return started


async def wait_for_mail(maildir: Path, count: int, started: float) -> float:
    """Wait until ``count`` mails are stored; emails/s since ``started``; fail on doubles."""
    deadline = time.monotonic() + max(120.0, count / 5)
    while count_mail(maildir) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count_mail(maildir)} of {count} mails arrived")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)  # anything doubled would show up now
    stored = count_mail(maildir)
    if stored != count:
        raise RuntimeError(f"{stored} mails stored for {count} events")
    return count / elapsed


async def through_notifier(run: str, maildir: Path, count: int, tag: str) -> float:
    """Emails/s from the first publish to the last mail stored."""
    clear_mail(maildir)
    started = await publish(run, count, tag)
    return await wait_for_mail(maildir, count, started)


async def drain(run: str, sink: SmtpSink, maildir: Path, count: int) -> float:
    """Emails/s sending a backlog recorded while the SMTP server was down."""
    from pymongo import AsyncMongoClient

    clear_mail(maildir)
    port = sink.smtp_port
    await asyncio.to_thread(sink.stop)
    await publish(run, count, "drain")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URI)
    try:
        waiting = mongo[f"b{run}_notifier"]["notifications"]
        deadline = time.monotonic() + 300
        while await waiting.count_documents({"status": {"$in": ["queued", "sending"]}}) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the backlog was not recorded")
            await asyncio.sleep(0.2)
    finally:
        await mongo.close()
    restarted = SmtpSink(maildir, smtp_port=port, http_port=None)
    await asyncio.to_thread(restarted.start)
    sink.__dict__.update(restarted.__dict__)  # the caller's handle stops the new server
    return await wait_for_mail(maildir, count, time.perf_counter())


def sustained_rate(maildir: Path, burst: int) -> float:
    """Mails/s after the first ``burst`` (from the sink's receive time stamps)."""
    stamps = sorted(
        datetime.strptime(p.name.split("-", 1)[0], "%Y%m%dT%H%M%S.%fZ").timestamp()
        for p in maildir.glob("*.eml")
    )
    tail = stamps[burst:]
    return (len(tail) - 1) / (tail[-1] - tail[0])


def figure(
    name: str, value: float, unit: str, baseline_name: str, baseline: float, goal: str = ""
) -> dict[str, Any]:
    ratio = value / baseline if baseline else 0.0
    log(
        f"  {name:<38} {value:9.1f} {unit:<9} | {baseline_name:<34} {baseline:9.1f} "
        f"| ratio {ratio:5.2f}"
    )
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline": round(baseline, 2),
        "ratio": round(ratio, 3),
        "goal": goal,
    }


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        maildir = Path(tmp)
        sink = SmtpSink(maildir, smtp_port=0, http_port=None)
        await asyncio.to_thread(sink.start)
        log(f"notifier benchmark (run {run}): private SMTP server on 127.0.0.1:{sink.smtp_port}")
        figures: list[dict[str, Any]] = []
        notifier: NotifierProcess | None = None
        try:
            create_topics(f"b{run}.")
            log(f"1. raw aiosmtplib, {args.emails} messages over one connection")
            raw = await raw_sends(sink.smtp_port, maildir, args.emails)
            log(f"   {raw:.1f} sends/s")

            notifier = NotifierProcess(run, sink.smtp_port, "100000")
            notifier.start()
            await through_notifier(run, maildir, 50, "warmup")
            log(f"2. notifier end to end (Kafka → MongoDB → SMTP), {args.emails} events")
            e2e = await through_notifier(run, maildir, args.emails, "e2e")
            log(f"   {e2e:.1f} emails/s")
            log(f"3. sender drain after an SMTP outage, {args.emails} queued mails")
            drained = await drain(run, sink, maildir, args.emails)
            log(f"   {drained:.1f} emails/s")
            notifier.stop()

            notifier = NotifierProcess(run, sink.smtp_port, "20")
            notifier.start()
            log(f"4. notifier with the default limit (20 sends/s), {args.limited} events")
            limited = await through_notifier(run, maildir, args.limited, "limited")
            sustained = sustained_rate(maildir, burst=20)
            log(f"   {limited:.1f} emails/s overall, {sustained:.1f}/s after the burst of 20")

            log("\nfigures (value | same-run baseline | ratio)")
            figures = [
                figure(
                    "notifier emails/s (no rate limit)",
                    e2e,
                    "emails/s",
                    "raw aiosmtplib sends/s",
                    raw,
                    "ratio >= 0.5",
                ),
                figure(
                    "sender drain emails/s (backlog)",
                    drained,
                    "emails/s",
                    "raw aiosmtplib sends/s",
                    raw,
                    "ratio >= 0.5",
                ),
                figure(
                    "sustained emails/s at limit 20/s",
                    sustained,
                    "emails/s",
                    "NOTIFIER_MAX_SENDS_PER_SECOND",
                    20.0,
                    "ratio <= 1.05",
                ),
            ]
        finally:
            if notifier is not None:
                notifier.stop()
            await asyncio.to_thread(sink.stop)
            cleanup(run)
    data = {
        "figures": figures,
        "notes": (
            "raw: pre-built messages over one persistent aiosmtplib connection; notifier: "
            "PasswordChanged events published at once, time from first publish to last "
            "message stored, through consumer, rendering, MongoDB record, claim, SMTP and "
            "sent mark (bounded by the shared consumer: one message and one offset commit "
            "at a time per topic); drain: the same mails queued during an SMTP outage, "
            "time from the server's return; the SMTP server (devstack sink code) fsyncs "
            "every message."
        ),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "emails": args.emails,
        "measured_at": datetime.now(UTC).isoformat(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    log(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=1000, help="mails per throughput run")
    parser.add_argument("--limited", type=int, default=200, help="mails in the rate-limit run")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
