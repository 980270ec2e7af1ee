"""Where the next claim looks for due timers: everything at once while little is due, a
moving window of due times during a backlog.

While little is due, a claim asks for the oldest due timers over everything (one
query). When that comes back full (a backlog), claims switch to a **window** of due
times ``[low, high)`` that starts where the last batch ended and is sized to hold about
a batch: a full window halves, a window that held less widens in proportion (at most
four times). When the window reaches the present, claims go back to the single query, which
also picks up any timer armed meanwhile with a due time already behind the window.

Why: the local MongoDB-protocol server answers a range query at a cost that grows with
the number of index entries in range, whatever the limit, so "oldest due" over a
backlog of a million timers takes seconds; a window holding about a batch keeps every
query at a batch's worth of entries. Walking the backlog in due order also touches the
documents roughly in the order they were written (a timer is armed a fixed time before
it is due), which the storage engine's cache rewards. On real MongoDB both forms stop
at the limit: the strategy is correct there, just not needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

MIN_WIDTH = timedelta(milliseconds=1)
MAX_WIDTH = timedelta(days=400)


class DueSweep:
    """One replica's position in a backlog (None: no backlog known)."""

    def __init__(self) -> None:
        self.low: datetime | None = None
        self.width = timedelta(seconds=1)

    @property
    def in_backlog(self) -> bool:
        """True while walking a backlog window by window."""
        return self.low is not None

    def window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The due-time range ``[low, high)`` to query next, or None for everything due."""
        if self.low is None:
            return None
        return self.low, min(self.low + self.width, now + MIN_WIDTH)

    def record(self, due_times: Sequence[datetime], limit: int, now: datetime) -> None:
        """Move on after the query of :meth:`window` found timers due at ``due_times``
        (oldest first)."""
        full = len(due_times) >= limit
        if self.low is None:
            if full:  # a backlog: walk it from the end of this batch
                self.low = due_times[-1]
                self.width = max(due_times[-1] - due_times[0], MIN_WIDTH)
            return
        high = min(self.low + self.width, now + MIN_WIDTH)
        if full:
            # More in this window than a batch: continue after the last one taken, and
            # look at a narrower window next time (a query costs what is in range).
            self.low = due_times[-1]
            self.width = max(self.width / 2, MIN_WIDTH)
        else:
            # Size the next window to hold about 90% of a batch (at most 4 times wider).
            self.low = high
            scale = min(0.9 * limit / max(len(due_times), 1), 4.0)
            if scale > 1.0:
                self.width = min(self.width * scale, MAX_WIDTH)
        if self.low > now:
            self.low = None  # caught up with the present: back to the single query
