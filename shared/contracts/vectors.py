"""Test vectors: sample Kafka records of every public (SIS) event and version, exactly as
the portal produces them (headers in order, key, value bytes), checked in under
``vectors/<Event>/v<N>/<name>.json``.

The files are written by ``portal vectors export`` from :data:`SAMPLES` through the same
outbox encoding the services use; ``tests/contract/test_vectors.py`` decodes them and
proves they are current, and ``tests/integration/test_sis_vectors.py`` proves the real
outbox relay puts exactly these records on a real broker. Only ``traceparent`` differs
from one production to the next (a new trace each time): the files carry the W3C
specification's example value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.contracts.envelope import encode
from shared.contracts.events import (
    Event,
    GuardianContact,
    GuardianContactUpdated,
    LinkApproved,
    LinkDenied,
    LinkExpired,
    LinkRevoked,
    LinkWithdrawn,
    Phone,
    PostalAddress,
    StudentRef,
)

VECTOR_DIR = Path(__file__).parent / "vectors"

#: The W3C Trace Context example ids with the flags the portal sends (03: sampled, random
#: trace id, Trace Context Level 2): the only header whose value the relay chooses anew.
SAMPLE_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


@dataclass(frozen=True)
class Sample:
    """One sample record: the event, which service produces it, its fixed id and time."""

    name: str
    summary: str
    event: Event
    source: str
    event_id: str
    time: datetime


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


_LINK = "6f1c2a7e-3b0d-4c55-9a1e-2f8d7c4b5a10"
_ACCOUNT = "a4e8b9c2-51f3-4d6a-8e7b-0c9d1f2a3b4c"
_ADDRESS = PostalAddress(
    street="111 Street Dr.", apt=None, city="Jacksonville", state="FL", zip="32207"
)
_GUARDIAN = GuardianContact(
    name="Jenny Denny",
    email="jenny.denny@example.net",
    phones=[
        Phone(kind="mobile", number="9045550100", unlisted=True, e164="+19045550100", sms=False),
        Phone(kind="work", number="9045550199", extension="12", e164="+19045550199"),
    ],
    emergency_phone="mobile",
    secondary_email=None,
    address=_ADDRESS,
)

SAMPLES: list[Sample] = [
    Sample(
        name="approved-in-person",
        summary="Staff approved an in-person request after checking the guardian's ID.",
        event=LinkApproved(
            link_id=_LINK,
            account_id=_ACCOUNT,
            guardian=_GUARDIAN,
            student=StudentRef(
                student_id="90966666", school_id="0123", first_name="Sam", last_name="Student"
            ),
            method="in_person",
            approved_by="staff:frontoffice-0123",
            approved_at=_t("2026-11-24T14:05:09.120000+00:00"),
            id_document_type="drivers_license",
            locale="es",
        ),
        source="linking",
        event_id="2b7f4e0a-9c1d-4f3e-8a6b-5d2c1e0f9a87",
        time=_t("2026-11-24T14:05:09.120000+00:00"),
    ),
    Sample(
        name="approved-activation-code",
        summary="A district-issued activation code approved the link at once.",
        event=LinkApproved(
            link_id="0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a",
            account_id=_ACCOUNT,
            guardian=_GUARDIAN,
            student=StudentRef(student_id="90977777", school_id="0123"),
            method="activation_code",
            approved_by="activation_code",
            approved_at=_t("2026-11-25T09:30:00+00:00"),
        ),
        source="linking",
        event_id="7c3a9e1f-2d4b-4a6c-8e0f-1a2b3c4d5e6f",
        time=_t("2026-11-25T09:30:00+00:00"),
    ),
    Sample(
        name="phone-and-sms-consent",
        summary="The guardian of an approved link changed the mobile number and agreed to "
        "text messages: replace the contact block.",
        event=GuardianContactUpdated(
            link_id=_LINK,
            account_id=_ACCOUNT,
            student_id="90966666",
            school_id="0123",
            guardian=GuardianContact(
                name="Jenny Denny",
                email="jenny.denny@example.net",
                phones=[
                    Phone(kind="mobile", number="9045550142", e164="+19045550142", sms=True),
                    Phone(kind="home", number="9045550142", e164="+19045550142"),
                ],
                emergency_phone="mobile",
                secondary_email="jenny.work@example.org",
                address=_ADDRESS,
            ),
            changed=["phones", "secondary_email"],
            updated_at=_t("2026-11-30T18:20:41.503000+00:00"),
            locale="es",
        ),
        source="linking",
        event_id="1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
        time=_t("2026-11-30T18:20:41.503000+00:00"),
    ),
    Sample(
        name="denied",
        summary="Staff denied a request; nothing had been granted.",
        event=LinkDenied(
            link_id="3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
            account_id=_ACCOUNT,
            student_id="90988888",
            school_id="0123",
            reason="The ID shown does not match the student's records.",
            denied_by="staff:frontoffice-0123",
            denied_at=_t("2026-11-26T10:15:00+00:00"),
            guardian_email="jenny.denny@example.net",
            guardian_name="Jenny Denny",
        ),
        source="linking",
        event_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        time=_t("2026-11-26T10:15:00+00:00"),
    ),
    Sample(
        name="revoked",
        summary="A district admin revoked an approved link: remove the access.",
        event=LinkRevoked(
            link_id=_LINK,
            account_id=_ACCOUNT,
            student_id="90966666",
            school_id="0123",
            reason="Court order restricts guardian rights.",
            revoked_at=_t("2026-12-01T16:45:30+00:00"),
            revoked_by="admin:district-legal",
            guardian_email="jenny.denny@example.net",
            guardian_name="Jenny Denny",
            locale="es",
        ),
        source="linking",
        event_id="4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a",
        time=_t("2026-12-01T16:45:30+00:00"),
    ),
    Sample(
        name="withdrawn",
        summary="The guardian withdrew a pending request; nothing had been granted.",
        event=LinkWithdrawn(
            link_id="5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
            account_id=_ACCOUNT,
            student_id="90999999",
            school_id="0456",
            reason="guardian",
            withdrawn_at=_t("2026-11-27T08:00:00+00:00"),
            guardian_email="jenny.denny@example.net",
            guardian_name="Jenny Denny",
        ),
        source="linking",
        event_id="6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
        time=_t("2026-11-27T08:00:00+00:00"),
    ),
    Sample(
        name="expired",
        summary="An in-person request reached its deadline without a visit to the school.",
        event=LinkExpired(
            link_id="7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
            account_id=_ACCOUNT,
            requested_at=_t("2026-11-02T12:00:00+00:00"),
            expired_at=_t("2026-11-23T12:00:00+00:00"),
            school_id="0123",
            student_id="90955555",
            guardian_email="jenny.denny@example.net",
            guardian_name="Jenny Denny",
        ),
        source="scheduler",
        event_id="8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a",
        time=_t("2026-11-23T12:00:00+00:00"),
    ),
]


def vector_of(sample: Sample) -> dict[str, Any]:
    """The record the outbox relay produces for ``sample`` (as stored in a vector file)."""
    record = encode(
        sample.event,
        source=sample.source,
        event_id=sample.event_id,
        time=sample.time,
        trace_headers={"traceparent": SAMPLE_TRACEPARENT},
    )
    return {
        "name": sample.name,
        "summary": sample.summary,
        "topic": sample.event.event_type(),
        "key": record.key.decode(),
        "headers": [[k, v.decode()] for k, v in record.headers],
        "value": record.value.decode(),
        "data": json.loads(record.value),
    }


def vector_path(sample: Sample, directory: Path = VECTOR_DIR) -> Path:
    """``vectors/<Event>/v<N>/<name>.json``."""
    cls = type(sample.event)
    return directory / cls.event_type() / f"v{cls.version}" / f"{sample.name}.json"


def render(vector: dict[str, Any]) -> str:
    """Stable text of a vector file."""
    return json.dumps(vector, indent=2, ensure_ascii=False) + "\n"


def export_vectors(directory: Path = VECTOR_DIR) -> list[Path]:
    """(Re)write every vector file; return the files written."""
    written = []
    for sample in SAMPLES:
        path = vector_path(sample, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(vector_of(sample)), encoding="utf-8")
        written.append(path)
    return written


def load_vectors(directory: Path = VECTOR_DIR) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every checked-in vector as ``(event type, version, vector)``, sorted by path."""
    for path in sorted(directory.glob("*/v*/*.json")):
        yield (
            path.parent.parent.name,
            int(path.parent.name[1:]),
            json.loads(path.read_text(encoding="utf-8")),
        )
