"""Calendar arithmetic for deadlines expressed in months (no third-party dependency)."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months, keeping the time of day and zone.

    The day is clamped to the end of a shorter month, as districts count months
    (31 August + 6 months = 28 or 29 February; 29 February + 12 months = 28 February).
    """
    index = moment.month - 1 + months
    year = moment.year + index // 12
    month = index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def to_millis(moment: datetime) -> datetime:
    """``moment`` truncated to milliseconds: what MongoDB stores, so that ids derived
    from a due time are the same before and after a round trip through the database."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
