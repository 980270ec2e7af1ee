"""Issue 20: the contact block reaches the SIS. ``LinkApproved`` v1 gained optional
fields (nested in ``guardian``) without breaking its consumers, and the new public event
``GuardianContactUpdated`` is in the catalog, the SIS topics and the vectors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema

from shared.contracts.compat import breaking_changes
from shared.contracts.envelope import decode
from shared.contracts.events import (
    EVENT_TYPES,
    GuardianContact,
    GuardianContactUpdated,
    LinkApproved,
)
from shared.contracts.schemas import schema_for, schema_path
from shared.contracts.topics import PRODUCERS, SECRET_TOPICS, SIS_TOPICS, Topic
from shared.contracts.vectors import load_vectors

PUBLISHED = Path(__file__).parent / "published"


def _published(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((PUBLISHED / name).read_text(encoding="utf-8"))


def test_link_approved_v1_grew_compatibly_from_what_was_published() -> None:
    old = _published("LinkApproved.v1.json")
    assert breaking_changes(old, schema_for(LinkApproved)) == []
    guardian = schema_for(LinkApproved)["$defs"]["GuardianContact"]
    assert {"emergency_phone", "secondary_email", "address"} <= set(guardian["properties"])
    assert set(guardian["required"]) == {"name", "email"}  # what v1 required, no more
    phone = schema_for(LinkApproved)["$defs"]["Phone"]
    assert {"e164", "sms"} <= set(phone["properties"])
    assert set(phone["required"]) == {"kind", "number"}


def test_new_link_approved_records_validate_under_the_published_schema() -> None:
    """An SIS validating against the schema it downloaded before still accepts today's
    records (the additions are properties it does not know)."""
    old = _published("LinkApproved.v1.json")
    approved = [v for t, _, v in load_vectors() if t == "LinkApproved"]
    assert approved
    for vector in approved:
        jsonschema.validate(vector["data"], old)
        assert "address" in vector["data"]["guardian"]


def test_records_published_before_the_addition_parse_with_todays_model() -> None:
    vector = _published("LinkApproved.v1.approved-in-person.json")
    envelope = decode([(k, v.encode()) for k, v in vector["headers"]], vector["value"].encode())
    event = envelope.event
    assert isinstance(event, LinkApproved)
    assert event.guardian.address is None and event.guardian.emergency_phone is None
    assert [p.e164 for p in event.guardian.phones] == [None, None]
    jsonschema.validate(vector["data"], schema_for(LinkApproved))


def test_nested_additions_are_compatible_and_nested_removals_are_not() -> None:
    old = schema_for(LinkApproved)
    added = copy.deepcopy(old)
    added["$defs"]["PostalAddress"]["properties"]["country"] = {"type": "string"}
    assert breaking_changes(old, added) == []
    removed = copy.deepcopy(old)
    del removed["$defs"]["Phone"]["properties"]["number"]
    assert "field 'guardian.phones[].number' removed" in breaking_changes(old, removed)
    retyped = copy.deepcopy(old)
    retyped["$defs"]["Phone"]["properties"]["unlisted"] = {"type": "string"}
    assert "field 'guardian.phones[].unlisted' changed type" in breaking_changes(old, retyped)
    required = copy.deepcopy(old)
    required["$defs"]["GuardianContact"]["required"].append("address")
    assert (
        "new field 'guardian.address' is required (old producers do not send it)"
        in breaking_changes(old, required)
    )


def test_guardian_contact_updated_is_a_public_link_event() -> None:
    topic = Topic.GUARDIAN_CONTACT_UPDATED
    assert EVENT_TYPES["GuardianContactUpdated"] is GuardianContactUpdated
    assert GuardianContactUpdated.version == 1
    assert GuardianContactUpdated.key_field == "link_id"
    assert PRODUCERS[topic] == "linking"
    assert topic in SIS_TOPICS and topic not in SECRET_TOPICS
    schema = json.loads(schema_path(GuardianContactUpdated).read_text(encoding="utf-8"))
    assert schema["$id"] == "urn:guardian-portal:schema:GuardianContactUpdated:v1"
    assert set(schema["required"]) >= {
        "link_id", "account_id", "student_id", "school_id", "guardian", "updated_at",
    }
    # the same contact block as LinkApproved's guardian
    assert schema["$defs"]["GuardianContact"] == schema_for(LinkApproved)["$defs"][
        "GuardianContact"
    ]


def test_guardian_contact_updated_vector_carries_the_whole_block() -> None:
    vectors = [v for t, n, v in load_vectors() if t == "GuardianContactUpdated" and n == 1]
    assert vectors
    for vector in vectors:
        envelope = decode(
            [(k, v.encode()) for k, v in vector["headers"]], vector["value"].encode()
        )
        event = envelope.event
        assert isinstance(event, GuardianContactUpdated)
        assert vector["key"] == event.link_id == envelope.subject
        assert dict(vector["headers"])["ce_dataschema"].endswith(":GuardianContactUpdated:v1")
        contact: GuardianContact = event.guardian
        mobile = next(p for p in contact.phones if p.kind == "mobile")
        assert mobile.e164 is not None and mobile.e164.startswith("+")
        assert mobile.sms is True
        assert contact.address is not None and contact.emergency_phone == "mobile"
        assert event.changed
