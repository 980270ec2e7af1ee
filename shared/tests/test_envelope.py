"""The CloudEvents binary-mode envelope: round trip, headers and poison detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts.envelope import EnvelopeError, decode, encode
from shared.contracts.events import (
    AccountCreated,
    EmailVerificationRequested,
    LinkApproved,
    StudentClaim,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _account_created() -> AccountCreated:
    return AccountCreated(
        account_id="acc-1",
        email="jenny@example.net",
        first_name="Jenny",
        last_name="Denny",
        locale="es",
        created_at=NOW,
        student_claims=[StudentClaim(school_id="0123", student_id="9", student_last_name="X")],
    )


def test_round_trip_keeps_data_and_metadata() -> None:
    event = _account_created()
    record = encode(
        event,
        source="identity",
        event_id="e-1",
        time=NOW,
        trace_headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )
    headers = dict(record.headers)
    assert headers["ce_id"] == b"e-1"
    assert headers["ce_type"] == b"AccountCreated"
    assert headers["ce_source"] == b"identity"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == b"acc-1"
    assert headers["ce_time"] == b"2026-11-24T12:00:00Z"
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"].startswith(b"00-aaaa")
    assert record.key == b"acc-1"

    env = decode(record.headers, record.value)
    assert env.event == event
    assert env.id == "e-1" and env.time == NOW
    assert env.trace_headers["traceparent"].startswith("00-aaaa")


def test_link_events_are_keyed_by_link_id() -> None:
    event = LinkApproved.model_validate(
        {
            "link_id": "lnk-7",
            "account_id": "acc-1",
            "guardian": {"name": "J D", "email": "j@example.net", "phones": []},
            "student": {"student_id": "9", "school_id": "0123"},
            "method": "in_person",
            "approved_by": "staff-1",
            "approved_at": NOW,
        }
    )
    assert encode(event, source="linking").key == b"lnk-7"


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    record = encode(_account_created(), source="identity")
    data = json.loads(record.value)
    data["a_field_added_in_a_later_release"] = {"x": 1}
    env = decode(record.headers, json.dumps(data).encode())
    assert isinstance(env.event, AccountCreated) and env.event.account_id == "acc-1"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_type"], v), "missing CloudEvents headers"),
        (
            lambda h, v: ([(k, b"Nope") if k == "ce_type" else (k, x) for k, x in h], v),
            "unknown ce_type",
        ),
        (lambda h, v: (h, b"{not json"), "not JSON"),
        (lambda h, v: (h, b'{"account_id": 5}'), "invalid AccountCreated data"),
        (
            lambda h, v: ([(k, b"0.3") if k == "ce_specversion" else (k, x) for k, x in h], v),
            "specversion",
        ),
        (lambda h, v: (h, None), "empty"),
        (lambda h, v: ([(k, b"\xff\xfe") if k == "ce_id" else (k, x) for k, x in h], v), "UTF-8"),
    ],
)
def test_poison_messages_raise_envelope_error(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    record = encode(_account_created(), source="identity")
    headers, value = mutate(list(record.headers), record.value)
    with pytest.raises(EnvelopeError, match=reason):
        decode(headers, value)


def test_validation_error_never_echoes_secret_values() -> None:
    event = EmailVerificationRequested(
        account_id="a",
        email="j@example.net",
        locale="en",
        first_name="J",
        token="s3cr3t-token-value",
        expires_at=NOW + timedelta(hours=24),
        reason="registration",
    )
    record = encode(event, source="identity")
    data = json.loads(record.value)
    data["expires_at"] = "s3cr3t-token-value"
    with pytest.raises(EnvelopeError) as info:
        decode(record.headers, json.dumps(data).encode())
    assert "s3cr3t" not in str(info.value)
