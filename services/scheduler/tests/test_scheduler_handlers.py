"""Use cases on fakes: idempotent arming, cancelling, re-arming and account deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler import handlers
from scheduler.domain.clock import FixedClock
from scheduler.domain.timers import Recipient, TimerKind, TimerState
from scheduler.handlers import Deps
from scheduler_fakes import FakeTimers

from shared.contracts.events import LinkRequested
from shared.deadlines import inactivity_deadline
from shared.runtime.policy import DistrictPolicy

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def deps(timers: FakeTimers, now: datetime = NOW, offset: timedelta = timedelta(0)) -> Deps:
    return Deps(timers=timers, clock=FixedClock(now, offset), policy=DistrictPolicy())


def requested(link_id: str = "lnk-1", account_id: str = "acc-1") -> LinkRequested:
    return LinkRequested(
        link_id=link_id,
        account_id=account_id,
        school_id="0123",
        student_id="90966666",
        method="in_person",
        requested_at=NOW,
        expires_at=NOW + timedelta(days=21),
        guardian_email="jenny@example.net",
        guardian_name="Jenny Denny",
    )


async def test_link_request_arms_expiry_and_reminder_once() -> None:
    timers = FakeTimers()
    assert await handlers.link_requested(requested(), deps(timers)) == 2
    assert await handlers.link_requested(requested(), deps(timers)) == 0  # redelivered
    expiry = timers.timers["link-expiry:lnk-1"]
    assert expiry.state is TimerState.SCHEDULED
    assert expiry.due_at == NOW + timedelta(days=21)
    assert len(timers.timers) == 2


async def test_approval_cancels_both_link_timers() -> None:
    timers = FakeTimers()
    await handlers.link_requested(requested(), deps(timers))
    assert await handlers.link_closed("lnk-1", "acc-1", "approved", deps(timers)) == 2
    assert {t.state for t in timers.link_timers()} == {TimerState.CANCELLED}
    assert await handlers.link_closed("lnk-1", "acc-1", "approved", deps(timers)) == 0


async def test_a_decision_seen_before_the_request_keeps_the_timer_from_arming() -> None:
    timers = FakeTimers()
    await handlers.link_closed("lnk-1", "acc-1", "approved", deps(timers))
    assert await handlers.link_requested(requested(), deps(timers)) == 0
    assert {t.state for t in timers.link_timers()} == {TimerState.CANCELLED}


async def test_cancelling_a_claimed_timer_flags_it_for_the_firer() -> None:
    timers = FakeTimers()
    await handlers.link_requested(requested(), deps(timers))
    timers.timers["link-expiry:lnk-1"].state = TimerState.FIRING
    await handlers.link_closed("lnk-1", "acc-1", "denied", deps(timers))
    expiry = timers.timers["link-expiry:lnk-1"]
    assert expiry.state is TimerState.FIRING
    assert expiry.cancel_requested


async def test_activity_rearms_forward_only() -> None:
    timers = FakeTimers()
    d = deps(timers)
    created = NOW
    assert (
        await handlers.account_active(
            "acc-1", created, d, recipient=Recipient("jenny@example.net", "vi", "Jenny")
        )
        == 3
    )
    signed_in = NOW + timedelta(days=40)
    assert await handlers.account_active("acc-1", signed_in, d) == 3
    disable = timers.timers["inactivity-disable:acc-1"]
    # 40 days later is 10 April; six calendar months on, the end of 10 October in the
    # district's zone
    assert disable.due_at == inactivity_deadline(signed_in, 6, d.policy.tz)
    assert disable.due_at == datetime(2025, 10, 11, 3, 59, 59, 999000, tzinfo=UTC)
    assert disable.data["last_activity_at"] == signed_in
    # the older creation event redelivered late moves nothing back
    assert await handlers.account_active("acc-1", created, d) == 0
    assert timers.timers["inactivity-disable:acc-1"].due_at == disable.due_at
    assert timers.timers["inactivity-delete:acc-1"].due_at == inactivity_deadline(
        signed_in, 13, d.policy.tz
    )
    # the recipient given at creation is kept through the sign-in re-arm
    reminder = timers.timers["inactivity-reminder:acc-1"]
    assert (reminder.data["email"], reminder.data["locale"], reminder.data["first_name"]) == (
        "jenny@example.net",
        "vi",
        "Jenny",
    )
    assert reminder.event().disable_at == disable.due_at  # type: ignore[attr-defined]


async def test_recipient_is_kept_when_the_creation_arrives_after_a_sign_in() -> None:
    timers = FakeTimers()
    d = deps(timers)
    await handlers.account_active("acc-1", NOW + timedelta(days=1), d)
    moved = await handlers.account_active(
        "acc-1", NOW, d, recipient=Recipient("jenny@example.net", "en", "Jenny")
    )
    assert moved == 0
    reminder = timers.timers["inactivity-reminder:acc-1"]
    assert reminder.data["email"] == "jenny@example.net"
    assert reminder.data["last_activity_at"] == NOW + timedelta(days=1)


async def test_account_deletion_cancels_everything_erases_data_and_blocks_rearming() -> None:
    timers = FakeTimers()
    d = deps(timers)
    await handlers.account_active(
        "acc-1", NOW, d, recipient=Recipient("jenny@example.net", "en", "Jenny")
    )
    await handlers.link_requested(requested("lnk-1"), d)
    await handlers.link_requested(requested("lnk-2"), d)
    await handlers.link_requested(requested("lnk-other", account_id="acc-2"), d)
    assert await handlers.account_deleted("acc-1", "inactivity", d) == 7
    mine = [t for t in timers.timers.values() if t.account_id == "acc-1"]
    assert {t.state for t in mine} == {TimerState.CANCELLED}
    assert all("email" not in t.data and "guardian_email" not in t.data for t in mine)
    assert timers.timers["link-expiry:lnk-other"].state is TimerState.SCHEDULED
    # late or redelivered events of a deleted account arm nothing
    assert await handlers.account_active("acc-1", NOW + timedelta(days=9), d) == 0
    assert await handlers.link_requested(requested("lnk-3"), d) == 0
    assert "link-expiry:lnk-3" not in timers.timers


async def test_deletion_seen_before_creation_leaves_tombstones() -> None:
    timers = FakeTimers()
    d = deps(timers)
    await handlers.account_deleted("acc-1", "requested", d)
    assert await handlers.account_active("acc-1", NOW, d) == 0
    assert {t.state for t in timers.of_kind(TimerKind.INACTIVITY_DISABLE)} == {TimerState.CANCELLED}


async def test_clock_offset_applies_to_new_timers_only() -> None:
    timers = FakeTimers()
    offset = timedelta(days=400)
    await handlers.link_requested(requested(), deps(timers, NOW + offset, offset))
    assert timers.timers["link-expiry:lnk-1"].due_at == NOW + offset + timedelta(days=21)
