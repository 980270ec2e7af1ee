"""Timers: what to raise, when, and the rules that keep each timer firing at most once.

A timer is one document with a deterministic id (``<kind>:<link_id|account_id>``), so a
redelivered event never creates a twin. Its life::

    scheduled ──claim──▶ firing ──published──▶ fired
        │                  │ (lease expired: reclaimed by another replica)
        └──cancel──▶ cancelled ◀──cancel_requested, seen by the firer before publishing

Inactivity timers are re-armed by later activity; ``armed_by`` (the activity time that
armed them) only moves forward, so an older redelivered event never moves a timer back.
Once an account is deleted its timers are closed for good (``closed``).

Times from other services (``expires_at``, ``at``) are shifted by the clock offset onto
the scheduler's timeline (zero in production): with a moved clock, an event that arrives
now is treated as happening now, so moving the clock only ever fires timers armed before
the move.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.domain.calendar import to_millis
from shared.contracts.events import Event, LinkRequested, event_class
from shared.contracts.topics import Topic
from shared.deadlines import inactivity_deadline, reminder_at
from shared.runtime.policy import InactivityPolicy, LinkPolicy

#: Namespace of the CloudEvents ids the scheduler derives from timer ids.
EVENT_ID_NAMESPACE = uuid.UUID("6f0c7a52-5f0e-4c4e-9a8e-3b1f0d2a7c11")


class TimerKind(StrEnum):
    """What a timer is for; also the prefix of its id."""

    LINK_EXPIRY = "link-expiry"
    LINK_REMINDER = "link-reminder"
    INACTIVITY_DISABLE = "inactivity-disable"
    INACTIVITY_DELETE = "inactivity-delete"
    INACTIVITY_REMINDER = "inactivity-reminder"


class TimerState(StrEnum):
    """Where a timer is in its life."""

    SCHEDULED = "scheduled"
    FIRING = "firing"
    FIRED = "fired"
    CANCELLED = "cancelled"


#: The event each kind raises.
TOPIC_OF: dict[TimerKind, Topic] = {
    TimerKind.LINK_EXPIRY: Topic.LINK_EXPIRED,
    TimerKind.LINK_REMINDER: Topic.LINK_EXPIRY_REMINDER,
    TimerKind.INACTIVITY_DISABLE: Topic.INACTIVITY_TIMEOUT,
    TimerKind.INACTIVITY_DELETE: Topic.INACTIVITY_TIMEOUT,
    TimerKind.INACTIVITY_REMINDER: Topic.INACTIVITY_REMINDER,
}

LINK_KINDS = (TimerKind.LINK_EXPIRY, TimerKind.LINK_REMINDER)
INACTIVITY_KINDS = (
    TimerKind.INACTIVITY_DISABLE,
    TimerKind.INACTIVITY_DELETE,
    TimerKind.INACTIVITY_REMINDER,
)

#: Event fields that identify a person; erased from timers when the account is deleted.
PERSONAL_FIELDS = ("email", "first_name", "guardian_email", "guardian_name", "student_id")


def timer_id(kind: TimerKind, subject: str) -> str:
    """The deterministic id of the ``kind`` timer of a link or an account."""
    return f"{kind}:{subject}"


def link_timer_ids(link_id: str) -> list[str]:
    """Ids of every timer a link may have."""
    return [timer_id(kind, link_id) for kind in LINK_KINDS]


def account_timer_ids(account_id: str) -> list[str]:
    """Ids of every inactivity timer an account may have."""
    return [timer_id(kind, account_id) for kind in INACTIVITY_KINDS]


def fire_event_id(timer: str, due_at: datetime) -> str:
    """The CloudEvents id of the event a timer raises for one due time.

    Deterministic, so that a re-fire after a crash carries the same id and consumers
    drop it; a re-armed timer (new due time) raises a new id.
    """
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{timer}|{to_millis(due_at).isoformat()}"))


@dataclass(frozen=True)
class TimerSpec:
    """A timer to arm (or re-arm): when, what to raise, and what armed it."""

    id: str
    kind: TimerKind
    account_id: str
    subject: str
    due_at: datetime
    data: dict[str, Any]
    armed_by: datetime
    state: TimerState = TimerState.SCHEDULED
    cancel_reason: str | None = None

    @property
    def topic(self) -> Topic:
        """The topic of the event this timer raises."""
        return TOPIC_OF[self.kind]


@dataclass(frozen=True)
class Recipient:
    """Who the notifier writes to for an account reminder (kept on the timer, since
    ``AccountSignedIn`` does not carry it)."""

    email: str | None = None
    locale: str | None = None
    first_name: str | None = None

    def fields(self) -> dict[str, str]:
        """The known fields, for the reminder event's data."""
        return {k: v for k, v in vars(self).items() if v is not None}


def plan_link_timers(
    event: LinkRequested,
    policy: LinkPolicy,
    *,
    now: datetime,
    offset: timedelta,
    tz: ZoneInfo,
) -> list[TimerSpec]:
    """The expiry timer of a pending link (at the ``expires_at`` linking set: the end of
    the request's last local day), and its reminder (09:00 local, ``reminder_days_before``
    days before that day) if still ahead of ``now``."""
    expires = to_millis(event.expires_at + offset)
    recipient = {
        "guardian_email": event.guardian_email,
        "guardian_name": event.guardian_name,
        "locale": event.locale,
    }
    specs = [
        TimerSpec(
            id=timer_id(TimerKind.LINK_EXPIRY, event.link_id),
            kind=TimerKind.LINK_EXPIRY,
            account_id=event.account_id,
            subject=event.link_id,
            due_at=expires,
            data={
                "link_id": event.link_id,
                "account_id": event.account_id,
                "requested_at": to_millis(event.requested_at),
                "expired_at": expires,
                "school_id": event.school_id,
                "student_id": event.student_id,
                **recipient,
            },
            armed_by=to_millis(event.requested_at),
        )
    ]
    if policy.reminder_days_before:
        remind = to_millis(reminder_at(expires, policy.reminder_days_before, tz))
        if remind > now:
            specs.append(
                TimerSpec(
                    id=timer_id(TimerKind.LINK_REMINDER, event.link_id),
                    kind=TimerKind.LINK_REMINDER,
                    account_id=event.account_id,
                    subject=event.link_id,
                    due_at=remind,
                    data={
                        "link_id": event.link_id,
                        "account_id": event.account_id,
                        "school_id": event.school_id,
                        "student_id": event.student_id,
                        "expires_at": expires,
                        **recipient,
                    },
                    armed_by=to_millis(event.requested_at),
                )
            )
    return specs


def plan_inactivity_timers(
    account_id: str,
    last_activity_at: datetime,
    policy: InactivityPolicy,
    *,
    now: datetime,
    offset: timedelta,
    tz: ZoneInfo,
) -> list[TimerSpec]:
    """The disable, delete and reminder timers for an account last active at
    ``last_activity_at``: the ends of the local days ``disable_after_months`` and
    ``delete_after_months`` calendar months later, and 09:00 local
    ``reminder_days_before_disable`` days before the disabling day. A reminder whose time
    has passed is planned as cancelled, so that re-arming still records the activity it
    was computed from."""
    activity = to_millis(last_activity_at)
    base = activity + offset
    disable_at = to_millis(inactivity_deadline(base, policy.disable_after_months, tz))
    delete_at = to_millis(inactivity_deadline(base, policy.delete_after_months, tz))
    specs = [
        TimerSpec(
            id=timer_id(kind, account_id),
            kind=kind,
            account_id=account_id,
            subject=account_id,
            due_at=due,
            data={
                "account_id": account_id,
                "stage": stage,
                "last_activity_at": activity,
                "due_at": due,
            },
            armed_by=activity,
        )
        for kind, stage, due in (
            (TimerKind.INACTIVITY_DISABLE, "disable", disable_at),
            (TimerKind.INACTIVITY_DELETE, "delete", delete_at),
        )
    ]
    if policy.reminder_days_before_disable:
        remind = to_millis(reminder_at(disable_at, policy.reminder_days_before_disable, tz))
        late = remind <= now
        specs.append(
            TimerSpec(
                id=timer_id(TimerKind.INACTIVITY_REMINDER, account_id),
                kind=TimerKind.INACTIVITY_REMINDER,
                account_id=account_id,
                subject=account_id,
                due_at=remind,
                data={
                    "account_id": account_id,
                    "last_activity_at": activity,
                    "disable_at": disable_at,
                },
                armed_by=activity,
                state=TimerState.CANCELLED if late else TimerState.SCHEDULED,
                cancel_reason="past_due" if late else None,
            )
        )
    return specs


# --- rules the adapters implement as conditional writes --------------------------------


@dataclass
class Timer:
    """A stored timer, as the rules see it."""

    id: str
    kind: TimerKind
    account_id: str
    due_at: datetime
    state: TimerState
    data: dict[str, Any]
    armed_by: datetime | None = None
    closed: bool = False
    cancel_requested: bool = False
    cancel_reason: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    fired_at: datetime | None = None
    trace: dict[str, str] = field(default_factory=dict)
    #: How many times a firer claimed it (more than once: a firer died holding it).
    claims: int = 0

    @property
    def topic(self) -> Topic:
        """The topic of the event this timer raises."""
        return TOPIC_OF[self.kind]

    @property
    def event_id(self) -> str:
        """The CloudEvents id of the event for the current due time."""
        return fire_event_id(self.id, self.due_at)

    def event(self) -> Event:
        """The event to raise, validated against the contract."""
        return event_class(str(self.topic)).model_validate(self.data)


def may_rearm(existing: Timer | None, armed_by: datetime) -> bool:
    """Whether activity at ``armed_by`` may (re)arm a timer: never after the account was
    deleted, never with activity older than (or as old as) what armed it last."""
    if existing is None:
        return True
    if existing.closed:
        return False
    return existing.armed_by is None or existing.armed_by < armed_by


def cancel_outcome(state: TimerState) -> str | None:
    """What cancelling does in ``state``: ``"cancelled"`` (a scheduled timer never
    fires), ``"cancel_requested"`` (a claimed timer: the firer checks the flag before
    publishing), or None (already fired or cancelled: nothing to do)."""
    if state is TimerState.SCHEDULED:
        return "cancelled"
    if state is TimerState.FIRING:
        return "cancel_requested"
    return None


def is_claimable(timer: Timer, *, now: datetime, wall: datetime) -> bool:
    """A firer may claim a scheduled timer that is due on the scheduler's clock, or one
    whose firer's lease ran out on the wall clock (the firer died)."""
    if timer.state is TimerState.SCHEDULED:
        return timer.due_at <= now
    if timer.state is TimerState.FIRING:
        return timer.lease_until is not None and timer.lease_until < wall
    return False
