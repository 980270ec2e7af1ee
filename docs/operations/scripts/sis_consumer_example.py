"""Example SIS consumer of the guardian portal's link events (sis-integration.md).

Reads LinkApproved, LinkDenied, LinkRevoked, LinkWithdrawn, LinkExpired and
GuardianContactUpdated as the `sis` Kafka user, skips events it has already applied
(at-least-once delivery: dedupe by ce_id), applies each event to the SIS (access, and the
guardian's contact block: the one in LinkApproved, replaced by each later
GuardianContactUpdated), and commits the record's offset only after that.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

TOPICS = [
    "LinkApproved",
    "LinkDenied",
    "LinkRevoked",
    "LinkWithdrawn",
    "LinkExpired",
    "GuardianContactUpdated",
]
GROUP = "sis-example"  # must start with "sis-"


ENDING = {"LinkRevoked", "LinkDenied", "LinkWithdrawn", "LinkExpired"}


class SisState:
    """ce_ids already applied, links already ended, and the contact block held per link
    with the ce_time of the event that carried it. A real SIS keeps all of it in its
    database, in the same transaction as the change the event causes; this example
    appends lines to a file ("<ce_id>", "ended <link_id>" or
    "contact <link_id> <ce_time> <contact JSON>")."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: set[str] = set()
        self._ended: set[str] = set()
        self._contacts: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for line in path.read_text().splitlines() if path.exists() else []:
            if line.startswith("ended "):
                self._ended.add(line[6:])
            elif line.startswith("contact "):
                _, link_id, at, contact = line.split(" ", 3)
                self._contacts[link_id] = (_instant(at), json.loads(contact))
            else:
                self._seen.add(line)

    def applied(self, ce_id: str) -> bool:
        return ce_id in self._seen

    def ended(self, link_id: str) -> bool:
        return link_id in self._ended

    def contact(self, link_id: str) -> tuple[datetime, dict[str, Any]] | None:
        return self._contacts.get(link_id)

    def record(
        self,
        ce_id: str,
        ended_link: str | None = None,
        contact: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """Remember an applied event: its ce_id, the link it ended, the contact block it
        made current (link_id, ce_time, block)."""
        self._seen.add(ce_id)
        lines = [ce_id]
        if ended_link:
            self._ended.add(ended_link)
            lines.append("ended " + ended_link)
        if contact:
            link_id, at, block = contact
            self._contacts[link_id] = (_instant(at), block)
            lines.append(f"contact {link_id} {at} {json.dumps(block, separators=(',', ':'))}")
        with self._path.open("a") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def contact_for_sis(guardian: dict[str, Any]) -> dict[str, Any]:
    """What the district's automated calls and texts need from the contact block: the
    emergency number, the numbers the guardian agreed to receive texts on, the postal
    address and the secondary email (missing fields of older records: unknown → null).
    Dial the E.164 form; fall back to the digits as typed when it has none."""
    phones = guardian.get("phones") or []
    emergency = next((p for p in phones if p.get("kind") == guardian.get("emergency_phone")), None)
    address = guardian.get("address")
    return {
        "emergency": (emergency.get("e164") or emergency["number"]) if emergency else None,
        "sms": [p["e164"] for p in phones if p.get("sms") is True and p.get("e164")],
        "address": None
        if not address
        else ", ".join(
            part
            for part in (
                address["street"],
                address.get("apt"),
                address["city"],
                f"{address['state']} {address['zip']}",
            )
            if part
        ),
        "secondary_email": guardian.get("secondary_email"),
    }


def apply_to_sis(
    ce_type: str, ce_id: str, ce_time: str, key: str, event: dict[str, Any], state: SisState
) -> dict[str, Any]:
    """Grant or remove the guardian's portal access, and keep the guardian's contact
    block, in the SIS (replace with yours); the event is then recorded in ``state``.

    Each event type is its own topic, so events of one link on different topics can
    arrive in any order: an ended link stays ended (a later-read approval or contact
    change of it is ignored), and a contact block replaces the one held for the link only
    when its event is newer (ce_time), so an approval read after a contact change of its
    link keeps the newer block."""
    link_id = event["link_id"]
    out: dict[str, Any] = {"ce_id": ce_id, "ce_type": ce_type, "key": key, "link_id": link_id}
    held = state.contact(link_id)
    newer = held is None or _instant(ce_time) > held[0]
    contact = contact_for_sis(event["guardian"]) if "guardian" in event else None
    if ce_type not in ENDING and state.ended(link_id):
        out.update(action="ignore_ended")
        state.record(ce_id)
    elif ce_type == "LinkApproved":
        assert contact is not None
        out.update(
            action="grant",
            guardian_email=event["guardian"]["email"],
            student_id=event["student"]["student_id"],
            school_id=event["student"]["school_id"],
            contact=held[1] if held and not newer else contact,
        )
        state.record(ce_id, contact=(link_id, ce_time, contact) if newer else None)
    elif ce_type == "GuardianContactUpdated":
        assert contact is not None
        if newer:
            # Replace the whole block (never merge field by field).
            out.update(action="update_contact", contact=contact, changed=event.get("changed", []))
            state.record(ce_id, contact=(link_id, ce_time, contact))
        else:
            out.update(action="ignore_older_contact")
            state.record(ce_id)
    elif ce_type == "LinkRevoked":
        out.update(action="remove", student_id=event["student_id"])
        state.record(ce_id, ended_link=link_id)
    else:  # LinkDenied, LinkWithdrawn, LinkExpired: the request ends without access
        out.update(action="close")
        state.record(ce_id, ended_link=link_id)
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
                        out = apply_to_sis(ce_type, ce_id, headers["ce_time"], key, event, state)
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
