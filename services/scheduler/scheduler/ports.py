"""The ports the use cases depend on; adapters/ implements them on MongoDB and Kafka,
the unit tests with in-memory fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.domain.timers import Recipient, Timer, TimerSpec


@dataclass(frozen=True)
class TimerStats:
    """What the gauges show."""

    scheduled: int
    due: int


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: how many claimable timers were found, and those this
    firer now holds (fewer when another replica claimed some first)."""

    found: int
    timers: list[Timer]


class TimerRepository(Protocol):
    """Durable timers (``scheduler.timers``); every method is one or a few conditional
    writes, safe to repeat and safe against concurrent replicas."""

    async def arm_once(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        """Insert the timers that do not exist yet (a cancelled tombstone counts as
        existing); return the ids armed."""
        ...

    async def rearm(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        """Arm or move each timer when its ``armed_by`` is newer than the stored one and
        the account is not closed; return the ids that changed."""
        ...

    async def set_recipient(self, account_id: str, recipient: Recipient) -> None:
        """Remember who to write to for the account's reminder."""
        ...

    async def cancel(self, ids: Sequence[str], *, account_id: str, reason: str) -> int:
        """Cancel timers (leaving a cancelled tombstone for ids not armed yet, so a late
        arming event cannot arm them); return how many scheduled timers were cancelled."""
        ...

    async def close_account(self, account_id: str, *, reason: str) -> int:
        """Cancel every timer of the account for good and erase personal data from
        them; return how many scheduled timers were cancelled."""
        ...

    async def account_closed(self, account_id: str) -> bool:
        """Whether the account was deleted."""
        ...

    async def claim_due(
        self,
        *,
        now: datetime,
        wall: datetime,
        owner: str,
        limit: int,
        fresh: int,
        lease_until: datetime,
    ) -> Claim:
        """Lease up to ``limit`` timers: expired leases first, then the oldest due, plus up
        to ``fresh`` of the most recently due; return those this ``owner`` now holds."""
        ...

    async def finish(
        self,
        *,
        owner: str,
        fired: Sequence[str],
        cancelled: Sequence[str],
        fired_at: datetime,
        wall: datetime,
    ) -> None:
        """Record the outcome of a claimed batch (only for timers ``owner`` still holds)."""
        ...

    async def stats(self, now: datetime) -> TimerStats:
        """How many timers wait and how many of them are due at ``now``."""
        ...


class EventSink(Protocol):
    """Publishes the events of fired timers."""

    async def publish(self, timers: Sequence[Timer]) -> None:
        """Publish each timer's event (id derived from the timer, time = due time) and
        return once the broker acknowledged all of them; raise if any failed."""
        ...
