"""Kafka adapters shared by every service: connection options, the idempotent producer
and topic administration."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from shared.contracts.envelope import Headers
from shared.contracts.topics import all_topic_names
from shared.runtime.settings import ServiceSettings


def connection_options(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka connection options (bootstrap, TLS, SASL) from settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None
        )
    return options


def faststream_security(settings: ServiceSettings) -> Any:
    """The FastStream security object for the broker (None for plaintext)."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    options = connection_options(settings)
    ssl_context = options.get("ssl_context")
    mechanism = (settings.kafka_sasl_mechanism or "").upper()
    if mechanism:
        cls = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }[mechanism]
        password = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        )
        return cls(
            username=settings.kafka_sasl_username or "", password=password, ssl_context=ssl_context
        )
    if ssl_context is not None:
        return BaseSecurity(ssl_context=ssl_context)
    return None


class KafkaPublisher:
    """Idempotent producer (``acks=all``) writing prefixed topics.

    Used by the outbox relay and the dead-letter path; services never publish directly.
    """

    #: How long a batch may wait for the broker's acknowledgement before the caller gives
    #: up on it (and replaces the producer). Longer than the producer's own request timeout.
    DELIVERY_TIMEOUT_SECONDS = 60.0

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._running = False
        # One producer at a time: the relay, readiness and the background connection may
        # all find it missing at once.
        self._starting = asyncio.Lock()

    @property
    def prefix(self) -> str:
        return self._settings.kafka_topic_prefix

    async def start(self) -> None:
        """Start the producer (raises ``KafkaError`` while the broker is unreachable)."""
        self._running = True
        async with self._starting:
            await self._start_producer()

    async def connect(self) -> None:
        """Start the producer unless one is running. While the broker is unreachable this
        raises, and every later send tries again."""
        self._running = True
        async with self._starting:
            if self._producer is None:
                await self._start_producer()

    @property
    def connected(self) -> bool:
        """Whether a started producer is in place."""
        return self._producer is not None

    async def _start_producer(self) -> None:
        producer = AIOKafkaProducer(
            **connection_options(self._settings),
            client_id=f"{self._settings.service_name}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=30000,
        )
        try:
            await producer.start()
        except BaseException:
            # A producer whose start failed has no sender: records queued on it would
            # never be acknowledged. Keep none, so the next send starts a fresh one.
            with suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        self._running = False
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def restart(self) -> None:
        """Replace the producer. An idempotent producer that saw a fatal error (e.g.
        ``OutOfOrderSequenceNumber`` after a broker restart) never recovers by itself.
        If the broker is still down this raises, and the next send tries again."""
        old, self._producer = self._producer, None
        if old is not None:
            with suppress(Exception):  # the broken producer may fail to close
                await old.stop()
        await self.start()

    async def _current(self) -> AIOKafkaProducer:
        if not self._running:
            raise RuntimeError("publisher not started")
        if self._producer is None:  # not reachable at start-up, or a restart failed
            await self.connect()
        assert self._producer is not None
        return self._producer

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Headers
    ) -> asyncio.Future[Any]:
        """Queue one record on the unprefixed ``topic``; await the returned future for the
        broker's acknowledgement."""
        producer = await self._current()
        return await producer.send(f"{self.prefix}{topic}", value=value, key=key, headers=headers)

    async def delivered(self, futures: Sequence[asyncio.Future[Any]]) -> None:
        """Wait for the acknowledgement of every record in ``futures``; raise
        ``KafkaTimeoutError`` if the broker has not acknowledged them in time, so that the
        caller never waits forever on a producer that lost its way."""
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.DELIVERY_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise KafkaTimeoutError(
                f"no acknowledgement within {self.DELIVERY_TIMEOUT_SECONDS:.0f} s"
            ) from exc

    async def send_and_wait(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Headers
    ) -> None:
        """Publish one record and wait for ``acks=all``."""
        await self.delivered([await self.send(topic, key=key, value=value, headers=headers)])

    async def ready(self) -> bool:
        """True when the broker answers a metadata request."""
        try:
            producer = await self._current()
        except Exception:
            return False
        client = producer.client
        return bool(await client.fetch_all_metadata() is not None and client.cluster.brokers())


async def create_topics(
    settings: ServiceSettings,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    names: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Create every catalog topic and its DLQ; return (created, already existing)."""
    wanted = list(names or all_topic_names(settings.kafka_topic_prefix))
    admin = AIOKafkaAdminClient(**connection_options(settings), client_id="portal-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, partitions, replication_factor) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process
        return missing, [n for n in wanted if n in existing]
    finally:
        await admin.close()
