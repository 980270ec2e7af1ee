"""A service starts while the broker is unreachable (issue 21, item 5): start-up returns
after MongoDB alone, ``/healthz`` is ok, ``/readyz`` names Kafka, and the producer and the
consumers connect in the background once the broker answers. Dependencies are fakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from shared.runtime import service as service_module
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import ServiceSettings


class FakeKafka:
    """The producer and the FastStream broker of one runtime, reachable when ``up``."""

    def __init__(self) -> None:
        self.up = False
        self.broker_starts = 0
        self.broker_stops = 0

    async def connect(self) -> None:
        if not self.up:
            raise KafkaConnectionError("broker unreachable")

    async def ready(self) -> bool:
        return self.up

    async def broker_start(self) -> None:
        if not self.up:
            raise KafkaConnectionError("broker unreachable")
        self.broker_starts += 1

    async def broker_stop(self) -> None:
        self.broker_stops += 1

    async def nothing(self) -> None:
        return None


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> tuple[ServiceRuntime, FakeKafka]:
    async def ping(_: Any) -> None:
        return None

    monkeypatch.setattr(service_module, "ping", ping)
    rt = ServiceRuntime(
        ServiceSettings(environment="test", otel_traces_file=None),
        title="t",
        serves_without_kafka=True,
    )
    fake = FakeKafka()
    monkeypatch.setattr(rt.publisher, "connect", fake.connect)
    monkeypatch.setattr(rt.publisher, "ready", fake.ready)
    monkeypatch.setattr(rt.publisher, "stop", fake.nothing)
    monkeypatch.setattr(rt.broker, "start", fake.broker_start)
    monkeypatch.setattr(rt.broker, "stop", fake.broker_stop)
    rt.kafka_retry_seconds = 0.01
    return rt, fake


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_starts_without_kafka_and_connects_when_it_is_back(
    runtime: tuple[ServiceRuntime, FakeKafka],
) -> None:
    rt, fake = runtime
    await asyncio.wait_for(rt.start(), 5)  # returns although the broker is down
    try:
        assert rt.kafka_connected is False
        checks = await rt.readiness()
        assert checks == {"mongodb": "ok", "kafka": "unreachable"}
        # The half-started broker is stopped after each failed attempt, to retry cleanly.
        await until(lambda: fake.broker_stops >= 2)
        assert fake.broker_starts == 0

        fake.up = True
        await until(lambda: rt.kafka_connected)
        assert fake.broker_starts == 1
        assert await rt.readiness() == {"mongodb": "ok", "kafka": "ok"}
    finally:
        await rt.stop()


async def test_starts_connected_when_kafka_answers(
    runtime: tuple[ServiceRuntime, FakeKafka],
) -> None:
    rt, fake = runtime
    fake.up = True
    await rt.start()
    try:
        assert rt.kafka_connected and fake.broker_starts == 1
        assert not [t for t in rt._tasks if t.get_name() == "kafka-connect"]
    finally:
        await rt.stop()


async def test_readiness_says_connecting_until_the_consumers_are_subscribed(
    runtime: tuple[ServiceRuntime, FakeKafka],
) -> None:
    rt, fake = runtime
    fake.up = True  # the producer answers, the consumers have not started yet
    assert (await rt.readiness())["kafka"] == "connecting"


async def test_stop_ends_the_background_connection(
    runtime: tuple[ServiceRuntime, FakeKafka],
) -> None:
    rt, _ = runtime
    await rt.start()
    connecting = [t for t in rt._tasks if t.get_name() == "kafka-connect"]
    assert connecting
    await asyncio.wait_for(rt.stop(), 15)
    assert connecting[0].done()


async def test_stop_does_not_wait_for_an_unreachable_broker(
    runtime: tuple[ServiceRuntime, FakeKafka], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving the group or flushing the producer can hang while the broker is down: the
    shutdown goes on after ``kafka_stop_seconds`` (the outbox keeps unsent events)."""
    rt, fake = runtime
    fake.up = True
    await rt.start()
    hung: list[str] = []

    async def hang(what: str) -> None:
        hung.append(what)
        await asyncio.sleep(3600)

    monkeypatch.setattr(rt.broker, "stop", lambda: hang("consumers"))
    monkeypatch.setattr(rt.publisher, "stop", lambda: hang("producer"))
    rt.kafka_stop_seconds = 0.05
    await asyncio.wait_for(rt.stop(), 5)
    assert hung == ["consumers", "producer"]
