"""Pure rules of the scheduler: month arithmetic, timer plans, re-arm, cancel, claim."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.domain.calendar import to_millis
from scheduler.domain.clock import FixedClock, OffsetClock
from scheduler.domain.timers import (
    Timer,
    TimerKind,
    TimerState,
    cancel_outcome,
    fire_event_id,
    is_claimable,
    may_rearm,
    plan_inactivity_timers,
    plan_link_timers,
)

from shared.contracts.events import (
    InactivityReminder,
    InactivityTimeout,
    LinkExpired,
    LinkRequested,
)
from shared.deadlines import end_of_day, link_deadline, reminder_at
from shared.runtime.policy import InactivityPolicy, LinkPolicy

NY = ZoneInfo("America/New_York")


def at(year: int, month: int, day: int, *rest: int) -> datetime:
    return datetime(year, month, day, *rest, tzinfo=UTC)  # type: ignore[arg-type, misc]


# --- times as stored ------------------------------------------------------------------


def test_to_millis_truncates_microseconds() -> None:
    assert to_millis(at(2025, 1, 1).replace(microsecond=123_987)).microsecond == 123_000


# --- clocks ---------------------------------------------------------------------------


def test_offset_clock_moves_forward_only() -> None:
    wall = at(2025, 5, 1)
    clock = OffsetClock(wall=lambda: wall)
    clock.set_offset(timedelta(days=21))
    assert clock.now() == at(2025, 5, 22)
    clock.set_offset(timedelta(days=1))  # a stale read never moves time back
    assert clock.now() == at(2025, 5, 22)


def test_offset_clock_may_start_in_the_past_then_moves_forward_only() -> None:
    wall = at(2030, 5, 1)
    clock = OffsetClock(wall=lambda: wall)
    assert clock.now() == wall  # nothing adopted yet
    clock.set_offset(at(2028, 2, 29) - wall)  # SCHEDULER_CLOCK_START on a new database
    assert clock.now() == at(2028, 2, 29)
    clock.set_offset(timedelta(days=-3000))
    assert clock.now() == at(2028, 2, 29)


# --- link timers ----------------------------------------------------------------------


def link_requested(requested: datetime, days: int = 21) -> LinkRequested:
    return LinkRequested(
        link_id="lnk-1",
        account_id="acc-1",
        school_id="0123",
        student_id="90966666",
        method="in_person",
        requested_at=requested,
        expires_at=link_deadline(requested, days, NY),
        guardian_email="jenny@example.net",
        guardian_name="Jenny Denny",
        locale="es",
    )


def test_link_expiry_and_reminder_are_planned_from_expires_at() -> None:
    requested = at(2025, 3, 1, 9, 0)
    expiry, reminder = plan_link_timers(
        link_requested(requested),
        LinkPolicy.model_validate({}),
        now=requested,
        offset=timedelta(0),
        tz=NY,
    )
    assert expiry.id == "link-expiry:lnk-1"
    # requested on 1 March (04:00 in New York): the last day is 22 March, ending at
    # local midnight (EDT since 9 March)
    assert expiry.due_at == end_of_day(date(2025, 3, 22), NY)
    assert expiry.due_at == at(2025, 3, 23, 3, 59, 59, 999000)
    event = LinkExpired.model_validate(expiry.data)
    assert event.expired_at == expiry.due_at
    assert event.requested_at == requested
    assert (event.guardian_email, event.locale, event.school_id) == (
        "jenny@example.net",
        "es",
        "0123",
    )
    assert reminder.id == "link-reminder:lnk-1"
    # 7 days before the last day (policy), at 09:00 local
    assert reminder.due_at == at(2025, 3, 15, 13, 0)
    assert reminder.topic == "LinkExpiryReminder"


def test_link_reminder_is_skipped_when_already_past_or_disabled() -> None:
    requested = at(2025, 3, 1)
    late = plan_link_timers(
        link_requested(requested, days=5),
        LinkPolicy.model_validate({}),
        now=requested,
        offset=timedelta(0),
        tz=NY,
    )
    assert [s.kind for s in late] == [TimerKind.LINK_EXPIRY]
    off = plan_link_timers(
        link_requested(requested),
        LinkPolicy.model_validate({"reminder_days_before": None}),
        now=requested,
        offset=timedelta(0),
        tz=NY,
    )
    assert [s.kind for s in off] == [TimerKind.LINK_EXPIRY]


def test_clock_offset_shifts_incoming_times_onto_the_scheduler_timeline() -> None:
    requested = at(2025, 3, 1)
    offset = timedelta(days=400)
    (expiry, _reminder) = plan_link_timers(
        link_requested(requested),
        LinkPolicy.model_validate({}),
        now=requested + offset,
        offset=offset,
        tz=NY,
    )
    assert expiry.due_at == link_deadline(requested, 21, NY) + offset
    assert expiry.armed_by == requested  # monotonicity compares the producer's times


# --- inactivity timers ----------------------------------------------------------------


def test_inactivity_timers_at_6_and_13_months_and_reminder_14_days_before() -> None:
    active = at(2025, 8, 31, 12, 0)
    disable, delete, reminder = plan_inactivity_timers(
        "acc-1",
        active,
        InactivityPolicy.model_validate({}),
        now=active,
        offset=timedelta(0),
        tz=NY,
    )
    # 31 August + 6 months is clamped to 28 February; the day ends at local midnight
    assert disable.due_at == end_of_day(date(2026, 2, 28), NY)
    assert delete.due_at == end_of_day(date(2026, 9, 30), NY)
    timeout = InactivityTimeout.model_validate(disable.data)
    assert (timeout.stage, timeout.last_activity_at, timeout.due_at) == (
        "disable",
        active,
        disable.due_at,
    )
    assert InactivityTimeout.model_validate(delete.data).stage == "delete"
    assert reminder.due_at == reminder_at(disable.due_at, 14, NY)
    assert reminder.due_at == at(2026, 2, 14, 14, 0)  # 09:00 EST
    assert reminder.state is TimerState.SCHEDULED
    assert InactivityReminder.model_validate(reminder.data).disable_at == disable.due_at


def test_a_reminder_already_past_is_planned_cancelled() -> None:
    active = at(2025, 1, 1)
    *_, reminder = plan_inactivity_timers(
        "acc-1",
        active,
        InactivityPolicy.model_validate({}),
        now=at(2025, 6, 25),
        offset=timedelta(0),
        tz=NY,
    )
    assert reminder.state is TimerState.CANCELLED
    assert reminder.cancel_reason == "past_due"


def test_inactivity_thresholds_come_from_the_policy() -> None:
    active = at(2025, 1, 10)
    policy = InactivityPolicy.model_validate(
        {"disable_after_months": 1, "delete_after_months": 2, "reminder_days_before_disable": None}
    )
    specs = plan_inactivity_timers("a", active, policy, now=active, offset=timedelta(0), tz=NY)
    # active on 9 January in New York (00:00 UTC on the 10th is 19:00 on the 9th)
    assert [s.due_at for s in specs] == [
        end_of_day(date(2025, 2, 9), NY),
        end_of_day(date(2025, 3, 9), NY),
    ]


# --- rules ----------------------------------------------------------------------------


def stored(**kw: object) -> Timer:
    base: dict[str, object] = {
        "id": "inactivity-disable:a",
        "kind": TimerKind.INACTIVITY_DISABLE,
        "account_id": "a",
        "due_at": at(2025, 7, 1),
        "state": TimerState.SCHEDULED,
        "data": {},
        "armed_by": at(2025, 1, 1),
    }
    base.update(kw)
    return Timer(**base)  # type: ignore[arg-type]


def test_rearm_only_moves_forward() -> None:
    assert may_rearm(None, at(2025, 1, 1))
    assert may_rearm(stored(), at(2025, 1, 2))
    assert not may_rearm(stored(), at(2025, 1, 1))  # the same event redelivered
    assert not may_rearm(stored(), at(2024, 12, 31))  # an older one, late
    assert may_rearm(stored(state=TimerState.FIRED), at(2025, 2, 1))  # reactivated account
    assert not may_rearm(stored(closed=True), at(2030, 1, 1))  # deleted account


def test_cancel_rules() -> None:
    assert cancel_outcome(TimerState.SCHEDULED) == "cancelled"
    assert cancel_outcome(TimerState.FIRING) == "cancel_requested"
    assert cancel_outcome(TimerState.FIRED) is None
    assert cancel_outcome(TimerState.CANCELLED) is None


def test_claim_rules_use_the_clock_for_due_and_the_wall_for_leases() -> None:
    now, wall = at(2025, 7, 2), at(2025, 1, 1)
    assert is_claimable(stored(), now=now, wall=wall)
    assert not is_claimable(stored(due_at=at(2025, 7, 3)), now=now, wall=wall)
    firing = stored(state=TimerState.FIRING, lease_until=at(2025, 1, 1, 0, 0, 30))
    assert not is_claimable(firing, now=now, wall=wall)  # the firer is alive
    assert is_claimable(firing, now=now, wall=at(2025, 1, 1, 0, 1))  # lease ran out
    assert not is_claimable(stored(state=TimerState.FIRED), now=now, wall=wall)
    assert not is_claimable(stored(state=TimerState.CANCELLED), now=now, wall=wall)


def test_event_ids_are_derived_from_timer_and_due_time() -> None:
    due = at(2025, 7, 1, 0, 0, 0)
    assert fire_event_id("link-expiry:x", due) == fire_event_id("link-expiry:x", due)
    # microseconds do not survive MongoDB: they do not change the id
    assert fire_event_id("link-expiry:x", due) == fire_event_id(
        "link-expiry:x", due.replace(microsecond=400)
    )
    assert fire_event_id("link-expiry:x", due) != fire_event_id("link-expiry:y", due)
    assert fire_event_id("link-expiry:x", due) != fire_event_id(
        "link-expiry:x", due + timedelta(days=1)
    )
    assert stored().event_id == fire_event_id("inactivity-disable:a", at(2025, 7, 1))


def test_fixed_clock_advances() -> None:
    clock = FixedClock(at(2025, 1, 1))
    clock.advance(timedelta(days=21))
    assert clock.now() == at(2025, 1, 22)


# --- due sweep --------------------------------------------------------------------------


def test_sweep_walks_a_backlog_window_by_window_and_returns_when_caught_up() -> None:
    from scheduler.domain.sweep import DueSweep

    now = at(2025, 6, 1)
    sweep = DueSweep()
    assert sweep.window(now) is None  # nothing known: one query over everything due
    sweep.record([at(2025, 1, 1, 0, 0, s) for s in range(10)], limit=20, now=now)
    assert sweep.window(now) is None  # less than a batch: no backlog
    batch = [at(2025, 1, 1, 0, 0, s) for s in range(20)]
    sweep.record(batch, limit=20, now=now)  # a full batch: a backlog
    assert sweep.in_backlog
    low, high = sweep.window(now)  # type: ignore[misc]
    assert low == batch[-1]  # continues where the batch ended
    assert high - low == timedelta(seconds=19)  # sized like the span of a batch
    sweep.record([low + timedelta(seconds=s) for s in range(20)], limit=20, now=now)
    low2, high2 = sweep.window(now)  # type: ignore[misc]
    assert low2 == low + timedelta(seconds=19)  # full: after the last one taken...
    assert high2 - low2 == timedelta(seconds=9.5)  # ...and narrower
    sweep.record([], limit=20, now=now)  # empty: the next window, four times as wide
    low3, high3 = sweep.window(now)  # type: ignore[misc]
    assert (low3, high3 - low3) == (high2, timedelta(seconds=38))
    sweep.record([low3] * 9, limit=20, now=now)  # half a batch: twice as wide
    low4, high4 = sweep.window(now)  # type: ignore[misc]
    assert (low4, high4 - low4) == (high3, timedelta(seconds=76))
    sweep.record([low4] * 18, limit=20, now=now)  # 90%: the same width
    assert sweep.width == timedelta(seconds=76)
    for _ in range(100):  # nothing more: the window grows until it reaches the present
        sweep.record([], limit=20, now=now)
        if not sweep.in_backlog:
            break
    assert sweep.window(now) is None


def test_sweep_window_never_reaches_beyond_now() -> None:
    from scheduler.domain.sweep import DueSweep

    now = at(2025, 6, 1)
    sweep = DueSweep()
    sweep.record([now - timedelta(days=400), now - timedelta(seconds=1)], limit=2, now=now)
    low, high = sweep.window(now)  # type: ignore[misc]
    assert low == now - timedelta(seconds=1) and high <= now + timedelta(milliseconds=1)
