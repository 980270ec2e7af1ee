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


class _Cursor:
    def __init__(self, docs: list[dict[str, object]]) -> None:
        self._docs = docs

    def sort(self, key: str, direction: int) -> _Cursor:
        return _Cursor(sorted(self._docs, key=lambda d: d[key], reverse=direction < 0))  # type: ignore[arg-type, return-value]

    def limit(self, n: int) -> _Cursor:
        return _Cursor(self._docs[:n])

    def __aiter__(self):  # type: ignore[no-untyped-def]
        async def gen():  # type: ignore[no-untyped-def]
            for d in self._docs:
                yield d

        return gen()


class _Collection:
    """Just what the backlog measure asks of a collection (unit test: no MongoDB)."""

    name = "accounts"

    def __init__(self, docs: list[dict[str, object]]) -> None:
        self.docs = docs
        self.queries: list[dict[str, object]] = []

    def find(self, query: dict[str, object], projection: dict[str, int]) -> _Cursor:
        self.queries.append(query)
        return _Cursor([d for d in self.docs if SINCE in d])


async def test_backlog_is_the_age_of_the_oldest_pending_event() -> None:
    from datetime import timedelta

    from shared.runtime.outbox import oldest_pending_seconds

    coll = _Collection(
        [
            {"_id": 1, SINCE: NOW - timedelta(seconds=30)},
            {"_id": 2},
            {"_id": 3, SINCE: NOW - timedelta(seconds=400)},
        ]
    )
    assert await oldest_pending_seconds(coll, now=NOW) == 400.0  # type: ignore[arg-type]
    assert coll.queries == [{SINCE: {"$exists": True}}]
    # A client without tz_aware returns naive datetimes: they are UTC.
    naive = _Collection([{"_id": 1, SINCE: (NOW - timedelta(seconds=5)).replace(tzinfo=None)}])
    assert await oldest_pending_seconds(naive, now=NOW) == 5.0  # type: ignore[arg-type]
    assert await oldest_pending_seconds(_Collection([{"_id": 1}]), now=NOW) == 0.0  # type: ignore[arg-type]


async def test_relay_publishes_the_backlog_gauge_at_most_every_interval() -> None:
    from prometheus_client import REGISTRY

    from shared.runtime.outbox import OutboxRelay

    coll = _Collection([{"_id": 1, SINCE: datetime.now(UTC)}])
    relay = OutboxRelay([coll], publisher=None, measure_seconds=60)  # type: ignore[list-item, arg-type]
    await relay._measure_backlog()
    await relay._measure_backlog()
    assert len(coll.queries) == 1
    value = REGISTRY.get_sample_value(
        "portal_outbox_oldest_pending_seconds", {"collection": "accounts"}
    )
    assert value is not None and 0 <= value < 60
