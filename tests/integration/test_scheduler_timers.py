"""The scheduler on the real stack: timers armed from events, fired once when the clock
moves, cancelled by decisions and by account deletion.

Every test runs a scheduler of its own (ports 182xx, own topic and database prefixes),
so moving its clock cannot move another test's, and feeds it events directly
(``produce_raw``), so it depends on no other service. The calendar tests start that
scheduler's clock on chosen awkward days (``SCHEDULER_CLOCK_START``) as well as on the
real today, and expect what the rules of ``shared/deadlines.py`` give for the clock they
read, never a fixed number of days.
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
from shared.deadlines import (
    add_months,
    days_left,
    end_of_day,
    last_day,
    link_deadline,
    local_date,
    reminder_at,
)
from shared.runtime.policy import load_policy
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
POLICY = load_policy()  # the bundled policy the scheduler runs with
TZ = POLICY.tz

#: The days the calendar tests run on besides the real today (None): month ends, leap
#: days, the district zone's DST change days, and a late evening that is already the next
#: day in UTC.
TODAYS = {
    "today": None,
    "jan31-noon": "2027-01-31T17:00:00Z",  # + 13 months = 29 February 2028
    "jan31-22h30": "2027-02-01T03:30:00Z",  # 31 January in New York, 1 February in UTC
    "feb29": "2028-02-29T15:00:00Z",
    "aug31": "2027-08-31T16:00:00Z",  # + 6 months = 29 February 2028
    "spring-forward": "2027-03-14T07:30:00Z",  # 03:30 EDT, the 23-hour day
    "fall-back": "2027-11-07T05:30:00Z",  # 01:30 EDT, the 25-hour day
    "dec31": "2026-12-31T20:00:00Z",
}


@pytest.fixture
def sched(stack: None, request: pytest.FixtureRequest) -> Iterator[Portal]:
    """A scheduler alone on isolated prefixes, its clock ours to move, started at the
    instant the test asks for (``indirect`` parameter; the real now by default)."""
    start = getattr(request, "param", None)
    portal = new_portal([], port_offset=200)
    portal.add("scheduler", {"SCHEDULER_CLOCK_START": start} if start else None)
    start_portal(portal)
    try:
        yield portal
    finally:
        stop_portal(portal)


@pytest.fixture
async def outputs(sched: Portal) -> AsyncIterator[TopicWatcher]:
    """Everything the test's scheduler publishes."""
    async with TopicWatcher([sched.topic(t) for t in OUTPUTS], group_prefix="sched") as w:
        yield w


@pytest.fixture
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


def link_requested(
    account_id: str, link_id: str, at: datetime, expires_at: datetime | None = None
) -> LinkRequested:
    """A request made at ``at`` (wall clock), expiring as linking sets it unless told."""
    return LinkRequested(
        link_id=link_id,
        account_id=account_id,
        school_id="0123",
        student_id="90966666",
        method="in_person",
        requested_at=at,
        expires_at=expires_at or link_deadline(at, POLICY.links.deadline_days, TZ),
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
    event = link_requested(uid("acc"), link, now, expires_at=now + timedelta(seconds=delay))
    await publish(portal, event)
    await wait_state(timers, f"link-expiry:{link}", "scheduled")
    advance_clock(portal, delay + 1)
    await watcher.wait_for(lambda e: e.type == "LinkExpired" and e.subject == link, timeout=30)


def clock(portal: Portal) -> dict[str, Any]:
    response = httpx.get(f"{portal.url('scheduler')}/v1/admin/clock", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def scheduler_now(portal: Portal) -> datetime:
    return datetime.fromisoformat(clock(portal)["now"])


def offset(portal: Portal) -> timedelta:
    return timedelta(seconds=clock(portal)["offset_seconds"])


def advance_to(portal: Portal, moment: datetime) -> None:
    """Move the scheduler's clock forward to ``moment`` (on its timeline)."""
    advance_clock(portal, max(0.0, (moment - scheduler_now(portal)).total_seconds()))


async def nothing_fired_yet(
    portal: Portal, watcher: TopicWatcher, timers: Any, topic: str, key: str, due: datetime
) -> None:
    """Move the clock to a minute before ``due`` and settle every timer due until then:
    nothing for ``key`` on ``topic`` has fired."""
    advance_to(portal, due - timedelta(seconds=120))
    await fire_sentinel(portal, watcher, timers, 60)
    assert scheduler_now(portal) < due
    assert not events_for(watcher, topic, key)


@pytest.mark.parametrize(
    "sched",
    [TODAYS[k] for k in ("today", "jan31-22h30", "feb29", "spring-forward", "fall-back")],
    ids=["today", "jan31-22h30", "feb29", "spring-forward", "fall-back"],
    indirect=True,
)
async def test_a_pending_link_expires_at_the_end_of_its_last_day_with_a_reminder_before(
    sched: Portal, outputs: TopicWatcher, timers: Any
) -> None:
    account, link = uid("acc"), uid("lnk")
    requested = datetime.now(UTC)
    today = scheduler_now(sched)
    # linking's deadline for a request made on the scheduler's today, as the event that
    # arrives now carries it (the scheduler shifts incoming times by its clock's offset)
    deadline = link_deadline(today, POLICY.links.deadline_days, TZ)
    await publish(sched, link_requested(account, link, requested, deadline - offset(sched)))
    armed = await wait_state(timers, f"link-expiry:{link}", "scheduled")
    assert armed["trace"]["traceparent"]  # the request's trace continues at expiry
    due = armed["due_at"]
    assert due == deadline
    assert last_day(due, TZ) == local_date(today, TZ) + timedelta(days=21)
    assert days_left(due, today, TZ) == 21  # what the staff queue shows today
    remind = (await wait_state(timers, f"link-reminder:{link}", "scheduled"))["due_at"]
    assert remind == reminder_at(due, POLICY.links.reminder_days_before or 0, TZ)

    await publish(sched, link_requested(account, link, requested, deadline - offset(sched)))
    await nothing_fired_yet(sched, outputs, timers, "LinkExpiryReminder", link, remind)
    advance_to(sched, remind + timedelta(seconds=1))
    reminder = await outputs.wait_for(
        lambda e: e.type == "LinkExpiryReminder" and e.subject == link, timeout=30
    )
    assert reminder.event.expires_at == due  # type: ignore[attr-defined]
    assert reminder.event.locale == "es"  # type: ignore[attr-defined]

    # the whole last day the link is still pending; it expires when the day ends
    await nothing_fired_yet(sched, outputs, timers, "LinkExpired", link, due)
    assert local_date(scheduler_now(sched), TZ) == last_day(due, TZ)
    advance_to(sched, due + timedelta(seconds=1))
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


@pytest.mark.parametrize("sched", list(TODAYS.values()), ids=list(TODAYS), indirect=True)
async def test_inactivity_disables_at_6_months_and_deletes_at_13(
    sched: Portal, outputs: TopicWatcher, timers: Any, request: pytest.FixtureRequest
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
    remind = (await wait_state(timers, f"inactivity-reminder:{account}", "scheduled"))["due_at"]
    start = request.node.callspec.params["sched"]
    if start:  # the clock was started where the test asked
        assert abs(scheduler_now(sched) - datetime.fromisoformat(start)) < timedelta(minutes=5)
    # the day of the activity on the scheduler's timeline, in the district's zone
    active = local_date(disable["data"]["last_activity_at"] + offset(sched), TZ)
    rules = POLICY.inactivity
    assert disable["due_at"] == end_of_day(add_months(active, rules.disable_after_months), TZ)
    assert delete["due_at"] == end_of_day(add_months(active, rules.delete_after_months), TZ)
    assert remind == reminder_at(disable["due_at"], rules.reminder_days_before_disable or 0, TZ)

    await nothing_fired_yet(sched, outputs, timers, "InactivityReminder", account, remind)
    advance_to(sched, remind + timedelta(seconds=1))
    reminder = await outputs.wait_for(
        lambda e: e.type == "InactivityReminder" and e.subject == account, timeout=30
    )
    assert reminder.event.email == email(account)  # type: ignore[attr-defined]
    assert reminder.event.locale == "ht"  # type: ignore[attr-defined]
    assert reminder.event.disable_at == disable["due_at"]  # type: ignore[attr-defined]

    await nothing_fired_yet(sched, outputs, timers, "InactivityTimeout", account, disable["due_at"])
    advance_to(sched, disable["due_at"] + timedelta(seconds=1))
    timeout = await outputs.wait_for(
        lambda e: e.type == "InactivityTimeout" and e.subject == account, timeout=30
    )
    assert timeout.event.stage == "disable"  # type: ignore[attr-defined]
    assert timeout.event.due_at == disable["due_at"]  # type: ignore[attr-defined]
    assert abs(timeout.event.last_activity_at - created) < timedelta(milliseconds=1)  # type: ignore[attr-defined]
    assert timeout.id == fire_event_id(f"inactivity-disable:{account}", disable["due_at"])

    def stages() -> list[str]:
        found = events_for(outputs, "InactivityTimeout", account)
        return [e.event.stage for e in found]  # type: ignore[attr-defined]

    advance_to(sched, delete["due_at"] - timedelta(seconds=120))
    await fire_sentinel(sched, outputs, timers, 60)
    assert stages() == ["disable"]
    advance_to(sched, delete["due_at"] + timedelta(seconds=1))
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
    assert second["due_at"] == end_of_day(
        add_months(
            local_date(signed_in + offset(sched), TZ), POLICY.inactivity.disable_after_months
        ),
        TZ,
    )
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
    await fire_sentinel(sched, outputs, timers, 400 * DAY)  # past every deadline
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
