"""Local development and test helpers: tokens signed with the local dev keys, OneRoster
bundles built in memory, and identity events as identity would publish them.

Never used by the service itself; refuses to mint tokens when ``ENVIRONMENT=production``.
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from linking.settings import (
    AUDIENCE,
    IDENTITY_ISSUER,
    LOCAL_IDENTITY_KID,
    LOCAL_STAFF_ISSUER,
    LOCAL_STAFF_KID,
)
from shared.contracts.envelope import KafkaRecord, encode
from shared.contracts.events import Event
from shared.runtime.devkeys import dev_keypair


def _refuse_in_production() -> None:
    if os.environ.get("ENVIRONMENT", "local").lower() == "production":
        raise SystemExit("local dev tokens are refused when ENVIRONMENT=production")


def mint_staff_token(
    schools: Sequence[str] = (),
    *,
    role: str = "school_staff",
    subject: str = "local-staff",
    ttl_minutes: int = 480,
    issuer: str = LOCAL_STAFF_ISSUER,
    audience: str = AUDIENCE,
) -> str:
    """A staff bearer token signed with the local staff key (kid ``local-staff-1``)."""
    _refuse_in_production()
    private_pem, _ = dev_keypair("staff-jwt")
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role,
        "schools": list(schools),
        "iat": now,
        "exp": now + ttl_minutes * 60,
    }
    return jwt.encode(claims, private_pem, algorithm="ES256", headers={"kid": LOCAL_STAFF_KID})


def mint_guardian_token(
    account_id: str,
    *,
    email: str,
    name: str = "Test Guardian",
    locale: str = "en",
    ttl_minutes: int = 15,
) -> str:
    """A guardian access token as identity issues it, signed with the local identity key."""
    _refuse_in_production()
    private_pem, _ = dev_keypair("identity-jwt")
    now = int(time.time())
    claims = {
        "iss": IDENTITY_ISSUER,
        "aud": AUDIENCE,
        "sub": account_id,
        "email": email,
        "name": name,
        "locale": locale,
        "sid": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl_minutes * 60,
    }
    return jwt.encode(claims, private_pem, algorithm="ES256", headers={"kid": LOCAL_IDENTITY_KID})


def identity_record(event: Event, *, event_id: str | None = None) -> KafkaRecord:
    """``event`` encoded as identity (or the scheduler) would publish it."""
    source = "scheduler" if event.event_type().startswith(("LinkExpired",)) else "identity"
    return encode(event, source=source, event_id=event_id, time=datetime.now(UTC))


# --- OneRoster bundles ----------------------------------------------------------------


@dataclass(frozen=True)
class BundleStudent:
    """A student for a generated bundle."""

    student_id: str
    last_name: str
    first_name: str
    school_id: str
    birth_date: str | None = None
    sourced_id: str | None = None


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def oneroster_bundle(
    students: Sequence[BundleStudent],
    *,
    mode: str = "bulk",
    extra_schools: Sequence[str] = (),
    extra_user_rows: Sequence[Sequence[str]] = (),
    tobedeleted: Sequence[str] = (),
) -> bytes:
    """A OneRoster 1.1 CSV bundle (zip bytes) with one org per school id, one user and
    one enrollment per student, and demographics for birth dates.

    ``tobedeleted``: sourcedIds of students to list with status ``tobedeleted`` (delta).
    """
    schools = sorted({s.school_id for s in students} | set(extra_schools))
    org_sid = {school: f"org-{school}" for school in schools}
    manifest = _csv(
        ["propertyName", "value"],
        [
            ["manifest.version", "1.0"],
            ["oneroster.version", "1.1"],
            ["file.academicSessions", "absent"],
            ["file.categories", "absent"],
            ["file.classes", "absent"],
            ["file.classResources", "absent"],
            ["file.courses", "absent"],
            ["file.courseResources", "absent"],
            ["file.demographics", mode],
            ["file.enrollments", mode],
            ["file.lineItems", "absent"],
            ["file.orgs", mode],
            ["file.resources", "absent"],
            ["file.results", "absent"],
            ["file.users", mode],
            ["source.systemName", "guardian-portal devtools"],
        ],
    )
    orgs = _csv(
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "name",
            "type",
            "identifier",
            "parentSourcedId",
        ],
        [[org_sid[s], "", "", f"School {s}", "school", s, "district-1"] for s in schools],
    )
    user_header = [
        "sourcedId",
        "status",
        "dateLastModified",
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
    ]
    users: list[Sequence[str]] = []
    enrollments: list[Sequence[str]] = []
    demographics: list[Sequence[str]] = []
    for i, s in enumerate(students):
        sid = s.sourced_id or f"u-{s.school_id}-{s.student_id}"
        status = "tobedeleted" if sid in tobedeleted else ""
        users.append(
            [
                sid,
                status,
                "",
                "true",
                org_sid[s.school_id],
                "student",
                "",
                "",
                s.first_name,
                s.last_name,
                "",
                s.student_id,
                "",
                "",
                "",
                "",
                "05",
                "",
            ]
        )
        enrollments.append(
            [
                f"e-{i}-{sid}",
                status,
                "",
                f"class-{s.school_id}",
                org_sid[s.school_id],
                sid,
                "student",
                "",
                "",
                "",
            ]
        )
        if s.birth_date:
            demographics.append([sid, "", "", s.birth_date, "female"])
    users.extend(extra_user_rows)
    files = {
        "manifest.csv": manifest,
        "orgs.csv": orgs,
        "users.csv": _csv(user_header, users),
        "enrollments.csv": _csv(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            enrollments,
        ),
        "demographics.csv": _csv(
            ["sourcedId", "status", "dateLastModified", "birthDate", "sex"], demographics
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- Kafka helpers (local runs, tests, benchmarks) -------------------------------------


async def publish(
    event: Event,
    *,
    topic_prefix: str = "",
    event_id: str | None = None,
    bootstrap: str = "127.0.0.1:9092",
) -> str:
    """Publish ``event`` on its (prefixed) topic as its producer would; returns the
    CloudEvents id (pass it again to simulate a redelivery)."""
    from aiokafka import AIOKafkaProducer

    event_id = event_id or str(uuid.uuid4())
    record = identity_record(event, event_id=event_id)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{topic_prefix}{event.event_type()}",
            value=record.value,
            key=record.key,
            headers=record.headers,
        )
    finally:
        await producer.stop()
    return event_id


async def consumed_everything(topic: str, group: str, *, bootstrap: str = "127.0.0.1:9092") -> bool:
    """True when consumer group ``group`` has committed every record of ``topic``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        await consumer.topics()  # fetch cluster metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            if done < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()
        await admin.close()
