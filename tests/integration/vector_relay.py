"""Relays sample events (shared/contracts/vectors.py) through the real outbox relay to a
real broker, as a service process does (tracing on), then exits.

    python -m tests.integration.vector_relay DATABASE PREFIX '[{"sample": "denied"}, ...]'

Each item may override ``event_id`` (a new event, or the same id again to simulate a
redelivery).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import ClassVar

from shared.contracts.vectors import SAMPLES
from shared.runtime.kafka import KafkaPublisher
from shared.runtime.mongo import create_client
from shared.runtime.outbox import OutboxRelay, ensure_outbox_index, outbox_entries, outbox_fields
from shared.runtime.settings import ServiceSettings
from shared.runtime.tracing import configure_tracing


class RelaySettings(ServiceSettings):
    service_name: ClassVar[str] = "vectorrelay"


async def main(database: str, prefix: str, items: list[dict[str, str]]) -> None:
    configure_tracing("vectorrelay")
    settings = RelaySettings(kafka_topic_prefix=prefix)
    client = create_client(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    coll = client[database]["outbox_docs"]
    await ensure_outbox_index(coll)
    by_name = {s.name: s for s in SAMPLES}
    try:
        for item in items:
            sample = by_name[item["sample"]]
            entries = outbox_entries(
                [sample.event],
                source=sample.source,
                event_ids=[item.get("event_id", sample.event_id)],
                times=[sample.time],
            )
            await coll.insert_one({"_id": uuid.uuid4().hex, **outbox_fields(entries)})
            # One document at a time: the records go out in the order given.
            relay = OutboxRelay([coll], publisher)
            while await relay.relay_once(coll):
                pass
        print(json.dumps({"relayed": len(items)}), flush=True)
    finally:
        await publisher.stop()
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
