"""Helpers for the notifier's integration tests: publish events as the producers would
(CloudEvents on the run's prefixed topics), read ``notifier.notifications``, read the
service's Prometheus counters, and a private SMTP server for failure modes."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from shared.contracts.envelope import encode
from shared.contracts.events import Event
from tests.harness import Portal
from tests.kafka_tools import BOOTSTRAP
from tests.secrets_registry import remember
from tools.devstack.paths import MONGO_URI
from tools.devstack.smtp_sink import SmtpSink

_PARSER = BytesParser(policy=policy.default)


def unique_email(tag: str = "n") -> str:
    """A recipient nobody else uses (remembered: it must never reach a log line)."""
    email = f"{tag}.{uuid.uuid4().hex[:12]}@example.net"
    remember(email)
    return email


async def publish(
    portal: Portal,
    events: Iterable[Event],
    *,
    event_ids: Iterable[str] | None = None,
    source: str = "test",
) -> list[str]:
    """Publish events to ``portal``'s prefixed topics (one producer, in order); returns
    their CloudEvents ids. Repeating an id publishes a duplicate (a redelivery)."""
    ids = list(event_ids) if event_ids is not None else None
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await producer.start()
    sent: list[str] = []
    try:
        for i, event in enumerate(events):
            event_id = ids[i] if ids else str(uuid.uuid4())
            record = encode(event, source=source, event_id=event_id)
            await producer.send_and_wait(
                portal.topic(event.event_type()),
                value=record.value,
                key=record.key,
                headers=record.headers,
            )
            sent.append(event_id)
    finally:
        await producer.stop()
    return sent


class NotificationsDb:
    """Read access to the notifier's own database of one portal."""

    def __init__(self, portal: Portal) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            MONGO_URI, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        db = self.client[f"{portal.db_prefix}notifier"]
        self.notifications = db["notifications"]
        self.recipients = db["recipients"]

    async def get(self, event_id: str, template: str) -> dict[str, Any] | None:
        return await self.notifications.find_one({"_id": f"{event_id}:{template}"})

    async def with_status(self, ids: list[str], status: str) -> list[dict[str, Any]]:
        docs = [d async for d in self.notifications.find({"_id": {"$in": ids}})]
        return [d for d in docs if d["status"] == status]

    async def close(self) -> None:
        await self.client.close()


def metric(base_url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample of the service at ``base_url`` matching ``labels``."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRelay:
    """An SMTP server of our own (the devstack sink's code on another port and maildir),
    so stopping it or making it refuse mail cannot disturb other tests."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.port = free_port()
        self.sink: SmtpSink | None = None

    def start(self, mode: str = "accept") -> None:
        sink = SmtpSink(self.maildir, smtp_port=self.port, http_port=None)
        sink.store.set_mode(mode)
        # SmtpSink.start() runs a loop of its own until bound: not from inside a test's
        # running event loop, so from a helper thread.
        with ThreadPoolExecutor(1) as pool:
            self.sink = pool.submit(sink.start).result(timeout=30)

    def stop(self) -> None:
        if self.sink is not None:
            self.sink.stop()
            self.sink = None

    def set_mode(self, mode: str) -> None:
        assert self.sink is not None
        self.sink.store.set_mode(mode)

    def mails(self, to: str | None = None) -> list[Any]:
        """Parsed messages (oldest first), optionally for one recipient."""
        out = []
        for path in sorted(self.maildir.glob("*.eml")):
            message = _PARSER.parsebytes(path.read_bytes())
            rcpts = str(message.get("X-Devstack-Envelope-To", ""))
            if to is None or to.lower() in rcpts.lower():
                out.append(message)
        return out
