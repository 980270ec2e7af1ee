"""A plain Kafka consumer for tests: plays the SIS, or watches any topic of a run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contracts.envelope import Envelope, decode

BOOTSTRAP = "127.0.0.1:9092"


class TopicWatcher:
    """Consumes some topics from the beginning into memory, in the background."""

    def __init__(self, topics: list[str], *, group_prefix: str = "test-watch") -> None:
        self.topics = topics
        self.records: list[Any] = []
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=BOOTSTRAP,
            group_id=f"{group_prefix}-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=True,
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            self.records.append(record)

    def envelopes(self, topic_suffix: str | None = None) -> list[Envelope]:
        out = []
        for r in self.records:
            if topic_suffix and not r.topic.endswith(topic_suffix):
                continue
            try:
                out.append(decode(r.headers, r.value))
            except ValueError:
                continue
        return out

    async def wait_for(
        self,
        match: Callable[[Envelope], bool],
        *,
        timeout: float = 30.0,
        topic_suffix: str | None = None,
    ) -> Envelope:
        """The first decoded event matching ``match``; fail after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for env in self.envelopes(topic_suffix):
                if match(env):
                    return env
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching event on {self.topics} within {timeout}s")


async def produce_raw(
    topic: str, value: bytes, headers: list[tuple[str, bytes]], key: bytes | None = None
) -> None:
    """Publish a raw record (e.g. a poison message)."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
