"""Example SIS consumer of the guardian portal's link events (sis-integration.md).

Reads LinkApproved, LinkDenied, LinkRevoked and LinkWithdrawn as the `sis` Kafka user,
skips events it has already applied (at-least-once delivery: dedupe by ce_id), applies
each event to the SIS, and commits the offset only after that.

    pip install aiokafka==0.14.0
    export KAFKA_BOOTSTRAP_SERVERS=portal-kafka.example.org:9094
    export KAFKA_SASL_PASSWORD=...            # from the district (Secret `sis`)
    export KAFKA_SSL_CAFILE=portal-kafka-ca.crt
    python sis_consumer_example.py
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer

TOPICS = ["LinkApproved", "LinkDenied", "LinkRevoked", "LinkWithdrawn"]
GROUP = "sis-focus"  # must start with "sis-"


class AppliedEvents:
    """ce_ids already applied. Keep this in the SIS database, in the same transaction as
    the change the event causes; a set in memory only shows the idea."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __contains__(self, ce_id: str) -> bool:
        return ce_id in self._seen

    def add(self, ce_id: str) -> None:
        self._seen.add(ce_id)


def apply_to_sis(ce_type: str, event: dict[str, Any]) -> None:
    """Grant or remove the guardian's portal access in the SIS (replace with yours)."""
    student = event.get("student") or {"student_id": event.get("student_id")}
    if ce_type == "LinkApproved":
        guardian = event["guardian"]
        print(
            f"grant {guardian['email']} access to student {student['student_id']}"
            f" (link {event['link_id']}, approved {event['approved_at']})"
        )
    elif ce_type == "LinkRevoked":
        print(f"remove access of link {event['link_id']} ({event['reason']})")
    else:  # LinkDenied, LinkWithdrawn: the request ends without access
        print(f"{ce_type}: link {event['link_id']} closed ({event['reason']})")


async def main() -> None:
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    options: dict[str, Any] = {}
    if protocol == "SASL_SSL":
        options = {
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=os.environ["KAFKA_SSL_CAFILE"]),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": os.environ.get("KAFKA_SASL_USERNAME", "sis"),
            "sasl_plain_password": os.environ["KAFKA_SASL_PASSWORD"],
        }
    consumer = AIOKafkaConsumer(
        *[prefix + t for t in TOPICS],
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=os.environ.get("SIS_GROUP", GROUP),
        enable_auto_commit=False,  # commit only what the SIS has applied
        auto_offset_reset="earliest",  # first start: everything still retained (30 days)
        **options,
    )
    applied = AppliedEvents()
    await consumer.start()
    try:
        async for record in consumer:
            headers = {k: v.decode() for k, v in record.headers}
            ce_id, ce_type = headers["ce_id"], headers["ce_type"]
            if ce_id not in applied:
                apply_to_sis(ce_type, json.loads(record.value))
                applied.add(ce_id)
            await consumer.commit()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
