"""The scheduler on the real stack: timers armed from events, fired once when the clock
moves, cancelled by decisions and by account deletion.

Runs a scheduler of its own (ports 182xx, own topic and database prefixes): these tests
move its clock, and feed it events directly (``produce_raw``), so they depend on no
other service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from scheduler.domain.timers import fire_event_id

from shared.contracts.envelope import Envelope, encode
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountSignedIn,
    Event,
    GuardianContact,
    LinkApproved,
    LinkRequested,
    StudentRef,
)
from tests.harness import (
    Portal,
    advance_clock,
    async_wait_until,
    new_portal,
    start_portal,
    stop_portal,
)
from tests.kafka_tools import TopicWatcher, produce_raw
from tests.secrets_registry import remember

DAY = 86400.0
OUTPUTS = ("LinkExpired", "LinkExpiryReminder", "InactivityTimeout", "InactivityReminder")


@pytest.fixture(scope="module")
def sched(stack: None) -> Iterator[Portal]:
    """A scheduler alone on isolated prefixes, its clock ours to move."""
    portal = start_portal(new_portal(["scheduler"], port_offset=200))
    try:
        yield portal
    finally:
        stop_portal(portal)


@pytest.fixture(scope="module")
async def outputs(sched: Portal) -> AsyncIterator[TopicWatcher]:
    """Everything the scheduler publishes in this module."""
    async with TopicWatcher([sched.topic(t) for t in OUTPUTS], group_prefix="sched") as w:
        yield w


@pytest.fixture(scope="module")
async def timers(sched: Portal) -> AsyncIterator[Any]:
    """The scheduler's own collection (this is the scheduler's test)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:27017", tz_aware=True
    )
    try:
        yield client[f"{sched.db_prefix}scheduler"]["timers"]
    finally:
        await client.close()


async def publish(portal: Portal, event: Event) -> None:
    record = encode(event, source="tests")
    await produce_raw(portal.topic(event.event_type()), record.value, record.headers, record.key)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def email(account_id: str) -> str:
    """The guardian's address in the test's events: must never reach a log or span."""
    address = f"{account_id}@example.net"
    remember(address)
    return address


def link_requested(account_id: str, link_id: str, at: datetime) -> LinkRequested:
    return LinkRequested(
        link_id=link_id,
        account_id=account_id,
        school_id="0123",
        student_id="90966666",
        method="in_person",
        requested_at=at,
        expires_at=at + timedelta(days=21),
        guardian_email=email(account_id),
        guardian_name="Jenny Denny",
        locale="es",
    )


async def wait_state(timers: Any, timer_id: str, state: str, timeout: float = 30) -> Any:
    async def check() -> Any:
        doc = await timers.find_one({"_id": timer_id})
        return doc if doc and doc["state"] == state else None

    return await async_wait_until(check, timeout=timeout, what=f"{timer_id} {state}")


def events_for(watcher: TopicWatcher, topic: str, key: str) -> list[Envelope]:
    return [e for e in watcher.envelopes(f".{topic}") if e.subject == key]


async def fire_sentinel(portal: Portal, watcher: TopicWatcher, timers: Any, delay: float) -> None:
    """Arm a link timer due ``delay`` seconds after the current clock, move the clock past
    it, and wait until it fired: every timer due before it has been settled by then."""
    link = uid("sentinel")
    now = datetime.now(UTC)
    event = link_requested(uid("acc"), link, now - timedelta(days=21) + timedelta(seconds=delay))
    await publish(portal, event)
    await wait_state(timers, f"link-expiry:{link}", "scheduled")
    advance_clock(portal, delay + 1)
    await watcher.wait_for(lambda e: e.type == "LinkExpired" and e.subject == link, timeout=30)


def clock(portal: Portal) -> dict[str, Any]:
    response = httpx.get(f"{portal.url('scheduler')}/v1/admin/clock", timeout=10)
    response.raise_for_status()
    return dict(response.json())


async def test_pending_link_expires_once_21_days_later_with_a_reminder_before(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account, link = uid("acc"), uid("lnk")
    requested = datetime.now(UTC)
    await publish(sched, link_requested(account, link, requested))
    armed = await wait_state(timers, f"link-expiry:{link}", "scheduled")
    assert armed["trace"]["traceparent"]  # the request's trace continues at expiry
    offset = timedelta(seconds=clock(sched)["offset_seconds"])
    due = armed["due_at"]
    assert abs(due - (requested + offset + timedelta(days=21))) < timedelta(milliseconds=2)

    await publish(sched, link_requested(account, link, requested))  # redelivered
    advance_clock(sched, 14 * DAY + 60)  # past the reminder (7 days before), not the expiry
    reminder = await outputs.wait_for(
        lambda e: e.type == "LinkExpiryReminder" and e.subject == link, timeout=30
    )
    assert reminder.event.expires_at == due  # type: ignore[attr-defined]
    assert reminder.event.locale == "es"  # type: ignore[attr-defined]
    assert not events_for(outputs, "LinkExpired", link)

    advance_clock(sched, 7 * DAY)
    expired = await outputs.wait_for(
        lambda e: e.type == "LinkExpired" and e.subject == link, timeout=30
    )
    assert expired.id == fire_event_id(f"link-expiry:{link}", due)
    assert expired.time == due  # event time is the due time
    assert expired.source == "scheduler"
    assert expired.event.expired_at == due  # type: ignore[attr-defined]
    assert expired.event.requested_at == armed["data"]["requested_at"]  # type: ignore[attr-defined]
    assert expired.event.guardian_email == email(account)  # type: ignore[attr-defined]
    fired = await wait_state(timers, f"link-expiry:{link}", "fired")
    assert fired["fired_at"] >= due and fired["claims"] == 1

    await fire_sentinel(sched, outputs, timers, 3600)
    assert len(events_for(outputs, "LinkExpired", link)) == 1
    assert len(events_for(outputs, "LinkExpiryReminder", link)) == 1


async def test_approval_before_the_deadline_cancels_the_timers(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account, link = uid("acc"), uid("lnk")
    now = datetime.now(UTC)
    await publish(sched, link_requested(account, link, now))
    await wait_state(timers, f"link-expiry:{link}", "scheduled")
    advance_clock(sched, 10 * DAY)
    await publish(
        sched,
        LinkApproved(
            link_id=link,
            account_id=account,
            guardian=GuardianContact(name="Jenny Denny", email=email(account)),
            student=StudentRef(student_id="90966666", school_id="0123"),
            method="in_person",
            approved_by="staff-1",
            approved_at=now + timedelta(days=10),
        ),
    )
    cancelled = await wait_state(timers, f"link-expiry:{link}", "cancelled")
    assert cancelled["cancel_reason"] == "approved"
    assert (await timers.find_one({"_id": f"link-reminder:{link}"}))["state"] == "cancelled"

    await fire_sentinel(sched, outputs, timers, 30 * DAY)  # well past the deadline
    assert not events_for(outputs, "LinkExpired", link)
    assert not events_for(outputs, "LinkExpiryReminder", link)
    # A late redelivery of the request does not bring the timer back.
    await publish(sched, link_requested(account, link, now))
    await fire_sentinel(sched, outputs, timers, 60)
    assert (await timers.find_one({"_id": f"link-expiry:{link}"}))["state"] == "cancelled"
    assert not events_for(outputs, "LinkExpired", link)


async def test_inactivity_disables_at_6_months_and_deletes_at_13(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account = uid("acc")
    created = datetime.now(UTC)
    await publish(
        sched,
        AccountCreated(
            account_id=account,
            email=email(account),
            first_name="Jenny",
            last_name="Denny",
            locale="ht",
            created_at=created,
        ),
    )
    disable = await wait_state(timers, f"inactivity-disable:{account}", "scheduled")
    delete = await wait_state(timers, f"inactivity-delete:{account}", "scheduled")
    now = datetime.fromisoformat(clock(sched)["now"])
    until_disable = (disable["due_at"] - now).total_seconds()
    assert 181 * DAY - 60 < until_disable <= 184 * DAY  # six calendar months
    assert 395 * DAY - 60 < (delete["due_at"] - now).total_seconds() <= 397 * DAY

    advance_clock(sched, until_disable - DAY)
    reminder = await outputs.wait_for(
        lambda e: e.type == "InactivityReminder" and e.subject == account, timeout=30
    )
    assert reminder.event.email == email(account)  # type: ignore[attr-defined]
    assert reminder.event.locale == "ht"  # type: ignore[attr-defined]
    assert reminder.event.disable_at == disable["due_at"]  # type: ignore[attr-defined]
    assert not events_for(outputs, "InactivityTimeout", account)

    advance_clock(sched, DAY + 60)
    timeout = await outputs.wait_for(
        lambda e: e.type == "InactivityTimeout" and e.subject == account, timeout=30
    )
    assert timeout.event.stage == "disable"  # type: ignore[attr-defined]
    assert timeout.event.due_at == disable["due_at"]  # type: ignore[attr-defined]
    assert abs(timeout.event.last_activity_at - created) < timedelta(milliseconds=1)  # type: ignore[attr-defined]
    assert timeout.id == fire_event_id(f"inactivity-disable:{account}", disable["due_at"])

    until_delete = (delete["due_at"] - datetime.fromisoformat(clock(sched)["now"])).total_seconds()
    advance_clock(sched, until_delete + 60)

    def stages() -> list[str]:
        found = events_for(outputs, "InactivityTimeout", account)
        return [e.event.stage for e in found]  # type: ignore[attr-defined]

    await async_wait_until(lambda: len(stages()) >= 2, timeout=30, what="delete stage")
    await fire_sentinel(sched, outputs, timers, 60)
    assert stages() == ["disable", "delete"]


async def test_sign_in_moves_the_timers_forward_and_older_events_never_back(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account = uid("acc")
    created = datetime.now(UTC)
    signed_in = created + timedelta(days=60)  # activity two months later
    created_event = AccountCreated(
        account_id=account,
        email=email(account),
        first_name="Jenny",
        last_name="Denny",
        locale="vi",
        created_at=created,
    )
    await publish(sched, created_event)
    first = await wait_state(timers, f"inactivity-disable:{account}", "scheduled")
    await publish(sched, AccountSignedIn(account_id=account, at=signed_in))

    async def moved() -> Any:
        doc = await timers.find_one({"_id": f"inactivity-disable:{account}"})
        return doc if doc["due_at"] > first["due_at"] else None

    second = await async_wait_until(moved, timeout=30, what="re-armed")
    assert (second["due_at"] - first["due_at"]) >= timedelta(days=58)
    await publish(sched, created_event)  # the creation, redelivered late
    await fire_sentinel(sched, outputs, timers, 60)
    doc = await timers.find_one({"_id": f"inactivity-disable:{account}"})
    assert doc["due_at"] == second["due_at"]
    reminder = await timers.find_one({"_id": f"inactivity-reminder:{account}"})
    assert reminder["data"]["email"] == email(account)  # kept through the sign-in

    # At the original deadline nothing fires; at the new one the disable does.
    now = datetime.fromisoformat(clock(sched)["now"])
    advance_clock(sched, (first["due_at"] - now).total_seconds() + DAY)
    await fire_sentinel(sched, outputs, timers, 60)
    assert not events_for(outputs, "InactivityTimeout", account)
    now = datetime.fromisoformat(clock(sched)["now"])
    advance_clock(sched, (second["due_at"] - now).total_seconds() + 60)
    timeout = await outputs.wait_for(
        lambda e: e.type == "InactivityTimeout" and e.subject == account, timeout=30
    )
    assert abs(timeout.event.last_activity_at - signed_in) < timedelta(milliseconds=1)  # type: ignore[attr-defined]


async def test_account_deletion_cancels_every_timer_and_erases_personal_data(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account, link = uid("acc"), uid("lnk")
    now = datetime.now(UTC)
    await publish(
        sched,
        AccountCreated(
            account_id=account,
            email=email(account),
            first_name="Jenny",
            last_name="Denny",
            locale="en",
            created_at=now,
        ),
    )
    await publish(sched, link_requested(account, link, now))
    await wait_state(timers, f"inactivity-reminder:{account}", "scheduled")
    await wait_state(timers, f"link-expiry:{link}", "scheduled")
    await publish(sched, AccountDeleted(account_id=account, reason="requested", at=now))

    async def all_closed() -> list[dict[str, Any]] | None:
        docs = [d async for d in timers.find({"account_id": account})]
        ok = len(docs) == 5 and all(d["state"] == "cancelled" and d.get("closed") for d in docs)
        return docs if ok else None

    docs = await async_wait_until(all_closed, timeout=30, what="account timers closed")
    for doc in docs:
        assert not {"email", "first_name", "guardian_email", "guardian_name"} & set(doc["data"])
        assert "trace" not in doc
    # Late events of the deleted account arm nothing.
    await publish(sched, AccountSignedIn(account_id=account, at=now + timedelta(days=1)))
    await publish(sched, link_requested(account, uid("lnk"), now))
    await fire_sentinel(sched, outputs, timers, 400 * DAY)
    assert {d["state"] for d in [d async for d in timers.find({"account_id": account})]} == {
        "cancelled"
    }
    assert not [e for e in outputs.envelopes() if getattr(e.event, "account_id", "") == account]


async def test_clock_control_endpoint(sched: Portal) -> None:
    url = f"{sched.url('scheduler')}/v1/admin/clock"
    before = clock(sched)
    moved = httpx.post(url, json={"advance_seconds": 90}, timeout=10).json()
    assert moved["offset_seconds"] == before["offset_seconds"] + 90
    assert datetime.fromisoformat(moved["now"]) >= datetime.fromisoformat(before["now"])
    backwards = httpx.post(url, json={"advance_seconds": -1}, timeout=10)
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("application/problem+json")
    assert backwards.json()["errors"][0]["field"] == "advance_seconds"
    metrics = httpx.get(f"{sched.url('scheduler')}/metrics", timeout=10).text
    for name in (
        "scheduler_timers_scheduled",
        "scheduler_timers_due",
        "scheduler_timers_overdue_seconds",
        "scheduler_timers_fired_total",
        "scheduler_timers_cancelled_total",
    ):
        assert name in metrics
