"""Outbox entries and the update operators that commit them with the state change."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.sdk.trace import TracerProvider

from shared.contracts.envelope import decode
from shared.contracts.events import AccountSignedIn, EmailVerified
from shared.runtime.outbox import (
    OUTBOX,
    SINCE,
    merge_updates,
    outbox_entries,
    outbox_fields,
    outbox_update,
)

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_entries_are_complete_cloudevents_records() -> None:
    events = [
        AccountSignedIn(account_id="a", at=NOW),
        EmailVerified(account_id="a", email="a@example.net", verified_at=NOW),
    ]
    entries = outbox_entries(events, source="identity", now=NOW, event_ids=["e1", "e2"])
    assert [e["id"] for e in entries] == ["e1", "e2"]
    assert [e["topic"] for e in entries] == ["AccountSignedIn", "EmailVerified"]
    env = decode([(k, v.encode()) for k, v in entries[1]["headers"]], entries[1]["value"].encode())
    assert env.event == events[1] and env.id == "e2" and env.source == "identity"


def test_entries_carry_the_current_trace() -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("handler") as span:
        (entry,) = outbox_entries([AccountSignedIn(account_id="a", at=NOW)], source="identity")
    trace_id = format(span.get_span_context().trace_id, "032x")
    headers = dict(entry["headers"])
    assert trace_id in headers["traceparent"]


def test_insert_fields_and_update_merge_atomically() -> None:
    entries = outbox_entries([AccountSignedIn(account_id="a", at=NOW)], source="identity", now=NOW)
    assert outbox_fields(entries) == {OUTBOX: entries, SINCE: NOW}
    assert outbox_fields([]) == {}
    merged = merge_updates({"$set": {"status": "active"}, "$min": {"x": 1}}, outbox_update(entries))
    assert merged["$set"] == {"status": "active"}
    assert merged["$push"] == {OUTBOX: {"$each": entries}}
    assert merged["$min"] == {"x": 1, SINCE: NOW}
