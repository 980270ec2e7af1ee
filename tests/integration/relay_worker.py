"""A relay process for the kill -9 test: relays one collection's outbox until killed."""

from __future__ import annotations

import asyncio
import sys
from typing import ClassVar

from shared.runtime.kafka import KafkaPublisher
from shared.runtime.mongo import create_client
from shared.runtime.outbox import OutboxRelay
from shared.runtime.settings import ServiceSettings


class WorkerSettings(ServiceSettings):
    service_name: ClassVar[str] = "relayworker"


async def main(database: str, prefix: str, batch: int) -> None:
    settings = WorkerSettings(kafka_topic_prefix=prefix)
    client = create_client(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    relay = OutboxRelay(
        [client[database]["docs"]], publisher, batch_size=batch, poll_seconds=0.1, lease_seconds=2.0
    )
    print("relaying", flush=True)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
