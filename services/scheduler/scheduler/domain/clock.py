"""The scheduler's one notion of "now".

Production reads the system clock. Local runs and tests may move time forward
(``SCHEDULER_CLOCK_CONTROL=true``): the clock is then the wall clock plus an offset that
is persisted (adapters/mongo_clock.py) so that restarts and replicas agree.

Leases are never measured on this clock: a replica's lease is real time, whatever the
offset says (an advance of 21 days must not expire every lease at once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    """The wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


class Clock(Protocol):
    """Something that tells the scheduler's time."""

    def now(self) -> datetime:
        """The current time on the scheduler's timeline (aware UTC)."""
        ...

    @property
    def offset(self) -> timedelta:
        """How far this clock is ahead of the wall clock (zero in production)."""
        ...


class SystemClock:
    """The wall clock; the only clock in production."""

    def now(self) -> datetime:
        """The wall-clock time."""
        return utcnow()

    @property
    def offset(self) -> timedelta:
        """Always zero."""
        return timedelta(0)


class OffsetClock:
    """The wall clock moved by an adjustable offset (local runs and tests).

    The offset may start negative (``SCHEDULER_CLOCK_START`` in the past, to test the
    calendar on a chosen day) and afterwards only grows.
    """

    def __init__(
        self, offset: timedelta | None = None, *, wall: Callable[[], datetime] = utcnow
    ) -> None:
        self._offset = offset
        self._wall = wall

    def now(self) -> datetime:
        """Wall clock plus the offset."""
        return self._wall() + self.offset

    @property
    def offset(self) -> timedelta:
        """The current offset (zero until one is adopted)."""
        return timedelta(0) if self._offset is None else self._offset

    def set_offset(self, offset: timedelta) -> None:
        """Adopt an offset (read from the shared store); once adopted, time never moves
        backwards."""
        if self._offset is None or offset > self._offset:
            self._offset = offset


class FixedClock:
    """A clock that moves only when told (unit tests)."""

    def __init__(self, now: datetime, offset: timedelta = timedelta(0)) -> None:
        self._now = now
        self._offset = offset

    def now(self) -> datetime:
        """The fixed time."""
        return self._now

    @property
    def offset(self) -> timedelta:
        """The configured offset."""
        return self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the time forward by ``delta``."""
        self._now += delta
