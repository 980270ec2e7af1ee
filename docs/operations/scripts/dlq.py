"""List or replay the dead letters of one topic (docs/operations/runbook.md, "DLQ").

Runs with the portal image's Python (it has aiokafka), with the credentials of a
temporary KafkaUser created for the occasion:

    python dlq.py list   TOPIC                       print every record of TOPIC.DLQ
    python dlq.py replay TOPIC [--ce-id ID ...] [--group SERVICE] [--yes]
                                                     re-publish them to TOPIC

Connection from the environment, as for the services: KAFKA_BOOTSTRAP_SERVERS,
KAFKA_SECURITY_PROTOCOL (default SASL_SSL), KAFKA_SASL_MECHANISM (SCRAM-SHA-512),
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE, KAFKA_TOPIC_PREFIX.

A replayed record keeps its key, value and CloudEvents headers (same ``ce_id``) and
loses the ``dlq_*`` headers. Every consumer group of TOPIC sees it again; consumers are
idempotent, so only the group that had failed acts on it. The DLQ is read without a
consumer group and nothing is deleted from it (retention does that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.helpers import create_ssl_context

#: Never replayed: their token has expired by the time anyone looks (runbook.md).
SECRET_TOPICS = {"EmailVerificationRequested", "PasswordResetRequested"}
DLQ_SUFFIX = ".DLQ"


def connection() -> dict[str, Any]:
    """aiokafka connection options from the environment."""
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    options: dict[str, Any] = {
        "bootstrap_servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=os.environ.get("KAFKA_SSL_CAFILE"))
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        options["sasl_plain_username"] = os.environ["KAFKA_SASL_USERNAME"]
        options["sasl_plain_password"] = os.environ["KAFKA_SASL_PASSWORD"]
    return options


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """The record's headers as text."""
    return {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}


def replay_headers(record: ConsumerRecord[bytes, bytes]) -> list[tuple[str, bytes]]:
    """The original headers: everything but what the dead-lettering added."""
    return [(k, v) for k, v in record.headers or () if not k.startswith("dlq_")]


async def read_all(topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently in ``topic``, oldest first per partition."""
    # No consumer group: all partitions are assigned to us and nothing is committed.
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **connection()
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        for _ in range(100):
            if consumer.assignment():
                break
            await consumer.getmany(timeout_ms=100, max_records=1)  # drives the metadata
        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        if not tps:
            raise SystemExit(f"topic {topic} not found (or not readable by this user)")
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, items in batch.items():
                records += [r for r in items if r.offset < end[tp]]
        return records
    finally:
        await consumer.stop()


def describe(record: ConsumerRecord[bytes, bytes]) -> str:
    """One dead letter, for a person."""
    h = headers_of(record)
    lines = [
        f"{record.topic}[{record.partition}]@{record.offset} key={(record.key or b'').decode()}",
        f"  ce_id={h.get('ce_id')} ce_type={h.get('ce_type')} ce_time={h.get('ce_time')}",
        f"  failed in group {h.get('dlq_consumer_group')} at {h.get('dlq_failed_at')}: "
        f"{h.get('dlq_kind')}: {h.get('dlq_reason')}",
        f"  original {h.get('dlq_original_topic')}[{h.get('dlq_original_partition')}]"
        f"@{h.get('dlq_original_offset')}",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    if args.topic in SECRET_TOPICS:
        raise SystemExit(
            f"{args.topic} carries a token: its dead letters are not read or replayed "
            "(runbook.md). The guardian asks for a new email instead."
        )
    source = f"{prefix}{args.topic}{DLQ_SUFFIX}"
    records = await read_all(source)
    if args.ce_id:
        records = [r for r in records if headers_of(r).get("ce_id") in set(args.ce_id)]
    if args.group:
        records = [r for r in records if headers_of(r).get("dlq_consumer_group") == args.group]
    for record in records:
        print(describe(record))
    print(f"{len(records)} dead letter(s) in {source}")
    if args.command == "list" or not records:
        return 0
    target = f"{prefix}{args.topic}"
    if not args.yes:
        print(f"re-run with --yes to re-publish them to {target}")
        return 0
    producer = AIOKafkaProducer(acks="all", **connection())
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                target, value=record.value, key=record.key, headers=replay_headers(record)
            )
    finally:
        await producer.stop()
    print(f"re-published {len(records)} record(s) to {target}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("topic", help="the original topic, e.g. LinkApproved (not the .DLQ)")
    parser.add_argument("--ce-id", action="append", help="only this event (repeatable)")
    parser.add_argument("--group", help="only letters dead-lettered by this service")
    parser.add_argument("--yes", action="store_true", help="really re-publish")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
