"""Example SIS consumer of the guardian portal's link events (sis-integration.md).

Reads LinkApproved, LinkDenied, LinkRevoked, LinkWithdrawn and LinkExpired as the `sis`
Kafka user, skips events it has already applied (at-least-once delivery: dedupe by
ce_id), applies each event to the SIS, and commits the record's offset only after that.
Prints one JSON line per record (the same lines as the Java example,
examples/sis-consumer-java). The portal's tests run it against a real broker.

    pip install aiokafka==0.14.0
    export KAFKA_BOOTSTRAP_SERVERS=portal-kafka.example.org:9094
    export KAFKA_SASL_PASSWORD=...            # from the district (Secret `sis`)
    export KAFKA_SSL_CAFILE=portal-kafka-ca.crt
    export SIS_GROUP=sis-focus                # must start with "sis-"
    python sis_consumer_example.py

Local plaintext broker: KAFKA_SECURITY_PROTOCOL=PLAINTEXT. Optional: KAFKA_TOPIC_PREFIX,
SIS_APPLIED_FILE (where applied ce_ids are kept), SIS_EXIT_AFTER_RECORDS and
SIS_EXIT_WHEN_IDLE_MS (stop after that many records / that long without one).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

TOPICS = ["LinkApproved", "LinkDenied", "LinkRevoked", "LinkWithdrawn", "LinkExpired"]
GROUP = "sis-example"  # must start with "sis-"


ENDING = {"LinkRevoked", "LinkDenied", "LinkWithdrawn", "LinkExpired"}


class SisState:
    """ce_ids already applied and links already ended. A real SIS keeps both in its
    database, in the same transaction as the change the event causes; this example
    appends them to a file ("<ce_id>" or "ended <link_id>" per line)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        lines = path.read_text().splitlines() if path.exists() else []
        self._seen = {line for line in lines if not line.startswith("ended ")}
        self._ended = {line[6:] for line in lines if line.startswith("ended ")}

    def applied(self, ce_id: str) -> bool:
        return ce_id in self._seen

    def ended(self, link_id: str) -> bool:
        return link_id in self._ended

    def record(self, ce_id: str, ended_link: str | None) -> None:
        self._seen.add(ce_id)
        lines = [ce_id]
        if ended_link:
            self._ended.add(ended_link)
            lines.append("ended " + ended_link)
        with self._path.open("a") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())


def apply_to_sis(
    ce_type: str, ce_id: str, key: str, event: dict[str, Any], state: SisState
) -> dict[str, Any]:
    """Grant or remove the guardian's portal access in the SIS (replace with yours).

    Each event type is its own topic, so events of one link on different topics can
    arrive in any order (a revocation before its approval): an ended link stays ended."""
    out: dict[str, Any] = {
        "ce_id": ce_id,
        "ce_type": ce_type,
        "key": key,
        "link_id": event["link_id"],
    }
    if ce_type not in ENDING and state.ended(event["link_id"]):
        out.update(action="ignore_ended")
    elif ce_type == "LinkApproved":
        out.update(
            action="grant",
            guardian_email=event["guardian"]["email"],
            student_id=event["student"]["student_id"],
            school_id=event["student"]["school_id"],
        )
    elif ce_type == "LinkRevoked":
        out.update(action="remove", student_id=event["student_id"])
    else:  # LinkDenied, LinkWithdrawn, LinkExpired: the request ends without access
        out.update(action="close")
    return out


def connection_options() -> dict[str, Any]:
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    if protocol != "SASL_SSL":
        return {"security_protocol": protocol}
    return {
        "security_protocol": "SASL_SSL",
        "ssl_context": ssl.create_default_context(cafile=os.environ["KAFKA_SSL_CAFILE"]),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": os.environ.get("KAFKA_SASL_USERNAME", "sis"),
        "sasl_plain_password": os.environ["KAFKA_SASL_PASSWORD"],
    }


async def main() -> None:
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    exit_after = int(os.environ.get("SIS_EXIT_AFTER_RECORDS", "0"))
    idle_ms = int(os.environ.get("SIS_EXIT_WHEN_IDLE_MS", "0"))
    consumer = AIOKafkaConsumer(
        *[prefix + t for t in TOPICS],
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=os.environ.get("SIS_GROUP", GROUP),
        enable_auto_commit=False,  # commit only what the SIS has applied
        auto_offset_reset="earliest",  # first start: everything still retained (30 days)
        **connection_options(),
    )
    state = SisState(Path(os.environ.get("SIS_APPLIED_FILE", "sis-applied-ce-ids.txt")))
    handled = 0
    last = time.monotonic()
    await consumer.start()
    try:
        while not exit_after or handled < exit_after:
            if idle_ms and (time.monotonic() - last) * 1000 > idle_ms:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for partition, records in batch.items():
                for record in records:
                    last = time.monotonic()
                    headers = {k: v.decode() for k, v in record.headers}
                    ce_id, ce_type = headers["ce_id"], headers["ce_type"]
                    if state.applied(ce_id):
                        out: dict[str, Any] = {"action": "duplicate", "ce_id": ce_id}
                    else:
                        key = record.key.decode() if record.key else ""
                        event = json.loads(record.value)
                        out = apply_to_sis(ce_type, ce_id, key, event, state)
                        state.record(ce_id, event["link_id"] if ce_type in ENDING else None)
                    print(json.dumps(out), flush=True)
                    # Commit this record only now that it is applied.
                    await consumer.commit(
                        {
                            TopicPartition(partition.topic, partition.partition): OffsetAndMetadata(
                                record.offset + 1, ""
                            )
                        }
                    )
                    handled += 1
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
