"""The account aggregate's rules: its states, the transitions between them, and the
pure decisions the use cases take (sign-in outcome, lockout, inactivity, sessions).

Nothing here does I/O; the Mongo adapter turns :func:`allowed_from` into the guard of a
conditional update, so a transition is applied at most once even under concurrency and
redelivery.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.deadlines import local_date
from shared.runtime.policy import SignInPolicy


class Status(StrEnum):
    """Lifecycle states of a guardian account."""

    UNVERIFIED = "unverified"
    ACTIVE = "active"
    DISABLED = "disabled"
    DELETED = "deleted"


class Action(StrEnum):
    """What can happen to an account's status."""

    VERIFY = "verify"  # the guardian proved the email (and password)
    DISABLE = "disable"  # inactivity, first stage
    DELETE = "delete"  # inactivity, second stage: personal data erased
    PURGE = "purge"  # never verified within the policy period


S = Status
#: (action, from) → to. Anything not listed is not allowed.
TRANSITIONS: dict[tuple[Action, Status], Status] = {
    (Action.VERIFY, S.UNVERIFIED): S.ACTIVE,
    (Action.VERIFY, S.DISABLED): S.ACTIVE,
    (Action.DISABLE, S.ACTIVE): S.DISABLED,
    (Action.DELETE, S.ACTIVE): S.DELETED,
    (Action.DELETE, S.DISABLED): S.DELETED,
    (Action.DELETE, S.UNVERIFIED): S.DELETED,
    (Action.PURGE, S.UNVERIFIED): S.DELETED,
}


class EmailTaken(Exception):
    """An account with this email already exists (the unique index said so)."""


class InvalidTransition(ValueError):
    """The action is not allowed from the account's current status."""


def next_status(status: Status | str, action: Action) -> Status:
    """The status after ``action``; :class:`InvalidTransition` if it is not allowed."""
    try:
        return TRANSITIONS[(action, Status(status))]
    except (KeyError, ValueError):
        raise InvalidTransition(f"{action} is not allowed from {status}") from None


def allowed_from(action: Action) -> list[str]:
    """The statuses from which ``action`` may happen (the guard of a conditional update)."""
    return sorted(str(s) for (a, s) in TRANSITIONS if a is action)


class SignInOutcome(StrEnum):
    """What a correct password leads to, by status."""

    SIGNED_IN = "signed_in"
    MUST_VERIFY = "must_verify"  # 403: verify the email first
    REACTIVATE = "reactivate"  # 403: disabled; a new verification email is sent
    REFUSED = "refused"  # deleted: answered like unknown credentials


def sign_in_outcome(status: Status | str) -> SignInOutcome:
    """The result of a sign-in with the right password for an account in ``status``."""
    return {
        S.ACTIVE: SignInOutcome.SIGNED_IN,
        S.UNVERIFIED: SignInOutcome.MUST_VERIFY,
        S.DISABLED: SignInOutcome.REACTIVATE,
    }.get(Status(status), SignInOutcome.REFUSED)


def lockout_until(failures: int, policy: SignInPolicy, now: datetime) -> datetime | None:
    """When an account with ``failures`` consecutive failed sign-ins is unlocked again.

    Nothing below the threshold; at the threshold the policy's lockout, doubling with
    every further failure (exponential backoff), capped at 24 hours.
    """
    if failures < policy.max_failures_per_account:
        return None
    extra = min(failures - policy.max_failures_per_account, 10)
    minutes = min(policy.lockout_minutes * (2**extra), 24 * 60)
    return now + timedelta(minutes=minutes)


def retry_after_seconds(until: datetime, now: datetime) -> int:
    """Whole seconds (at least 1) until ``until``, for a ``Retry-After`` header."""
    return max(1, int((until - now).total_seconds() + 0.999))


def address_window(now: datetime, policy: SignInPolicy) -> tuple[int, datetime]:
    """The fixed window (index, end) that per-address failure counting uses at ``now``."""
    size = policy.address_window_minutes * 60
    index = int(now.timestamp() // size)
    return index, datetime.fromtimestamp((index + 1) * size, tz=UTC)


def day_of(moment: datetime, tz: ZoneInfo) -> str:
    """The district's local day of ``moment`` (``AccountSignedIn`` is emitted once per
    local day: inactivity is counted in the district's days, ``shared/deadlines.py``)."""
    return local_date(moment, tz).isoformat()


def should_emit_signed_in(last_event_day: str | None, now: datetime, tz: ZoneInfo) -> bool:
    """True when no ``AccountSignedIn`` was emitted for the account on ``now``'s local day."""
    return last_event_day != day_of(now, tz)


def truncate_ms(moment: datetime) -> datetime:
    """``moment`` at MongoDB's precision (milliseconds), so stored and published times
    compare equal."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def inactivity_applies(
    account_last_activity: datetime | None, event_last_activity: datetime
) -> bool:
    """An ``InactivityTimeout`` acts only if the account was not active after the activity
    the scheduler based it on (a newer activity makes the timeout stale)."""
    if account_last_activity is None:
        return True
    return truncate_ms(account_last_activity) <= truncate_ms(event_last_activity)


# --- sessions -------------------------------------------------------------------------


def session_id(epoch: int, random_part: str) -> str:
    """A session id that carries the account's session epoch (``<epoch>.<random>``)."""
    return f"{epoch}.{random_part}"


def session_epoch_of(sid: str) -> int | None:
    """The session epoch inside ``sid``; None if it is malformed."""
    head, _, rest = sid.partition(".")
    if not rest or not head.isdigit():
        return None
    return int(head)


def session_is_current(sid: str, account_epoch: int) -> bool:
    """A token's session survives until the account's epoch moves on (password reset,
    disable, delete)."""
    return session_epoch_of(sid) == account_epoch
