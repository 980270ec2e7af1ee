"""The shared producer recovers from a failed restart and never waits forever.

Found by the long fault round: the broker was still down when the relay replaced its
producer; the failed start left a producer without a sender, records queued on it were
never acknowledged and the relay waited forever.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from shared.runtime import kafka
from shared.runtime.kafka import KafkaPublisher
from shared.runtime.settings import ServiceSettings


class FakeProducer:
    """Stands in for AIOKafkaProducer: start fails while ``broker_up`` is False; records
    are acknowledged only when ``acknowledge`` is True."""

    broker_up = True
    acknowledge = True
    started: ClassVar[list[FakeProducer]] = []

    def __init__(self, **options: Any) -> None:
        self.running = False
        self.sent: list[str] = []

    async def start(self) -> None:
        if not FakeProducer.broker_up:
            raise KafkaConnectionError("broker unreachable")
        self.running = True
        FakeProducer.started.append(self)

    async def stop(self) -> None:
        self.running = False

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        assert self.running, "record queued on a producer that is not running"
        self.sent.append(topic)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if FakeProducer.acknowledge:
            future.set_result(None)
        return future


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> KafkaPublisher:
    FakeProducer.broker_up, FakeProducer.acknowledge, FakeProducer.started = True, True, []
    monkeypatch.setattr(kafka, "AIOKafkaProducer", FakeProducer)
    return KafkaPublisher(ServiceSettings(kafka_topic_prefix="p."))


async def test_a_failed_restart_leaves_no_half_started_producer(
    publisher: KafkaPublisher,
) -> None:
    await publisher.start()
    FakeProducer.broker_up = False
    with pytest.raises(KafkaConnectionError):
        await publisher.restart()
    # Still down: sending raises instead of queueing on a producer without a sender.
    with pytest.raises(KafkaConnectionError):
        await publisher.send("T", key=None, value=b"v", headers=[])
    FakeProducer.broker_up = True
    await publisher.send_and_wait("T", key=None, value=b"v", headers=[])
    assert len(FakeProducer.started) == 2
    assert FakeProducer.started[-1].sent == ["p.T"]


async def test_unacknowledged_records_time_out(
    publisher: KafkaPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KafkaPublisher, "DELIVERY_TIMEOUT_SECONDS", 0.05)
    await publisher.start()
    FakeProducer.acknowledge = False
    with pytest.raises(KafkaTimeoutError):
        await publisher.send_and_wait("T", key=None, value=b"v", headers=[])


async def test_a_stopped_publisher_refuses_to_send(publisher: KafkaPublisher) -> None:
    await publisher.start()
    await publisher.stop()
    with pytest.raises(RuntimeError):
        await publisher.send("T", key=None, value=b"v", headers=[])
    assert len(FakeProducer.started) == 1


async def test_connect_while_the_broker_is_down_then_send_once_it_is_back(
    publisher: KafkaPublisher,
) -> None:
    """A service that started during a broker outage: connect raises, later sends
    start the producer themselves."""
    FakeProducer.broker_up = False
    with pytest.raises(KafkaConnectionError):
        await publisher.connect()
    assert not publisher.connected
    assert await publisher.ready() is False
    FakeProducer.broker_up = True
    await publisher.send_and_wait("T", key=None, value=b"v", headers=[])
    assert publisher.connected and FakeProducer.started[-1].sent == ["p.T"]


async def test_concurrent_connects_start_one_producer(publisher: KafkaPublisher) -> None:
    await asyncio.gather(*(publisher.connect() for _ in range(5)))
    await publisher.connect()
    assert len(FakeProducer.started) == 1
