"""Time values as the scheduler stores them. The calendar rules themselves (months,
local days, reminders) are the district's and live in ``shared/deadlines.py``."""

from __future__ import annotations

from datetime import datetime


def to_millis(moment: datetime) -> datetime:
    """``moment`` truncated to milliseconds: what MongoDB stores, so that ids derived
    from a due time are the same before and after a round trip through the database."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
