"""The calendar rules of the district's deadlines, one function per rule.

Every deadline a family or a school sees is a *day* in the district's time zone, and the
moment it passes is the end of that local day, so that the date printed in an email, the
"days left" in the staff queue and the moment the scheduler fires always agree:

- **Link deadline** (``link_deadline``): a request made on local day *D* may be approved
  through local day *D + N* (N = ``links.deadline_days``, 21 by default); it expires at
  the end of that day.
- **Inactivity** (``inactivity_deadline``): an account last active on local day *D* is
  disabled at the end of *D + M months* (M = 6) and deleted at the end of *D + M' months*
  (M' = 13). Months are calendar months, the day clamped to the end of a shorter month
  (31 August + 6 months = 28 or 29 February; 29 February + 12 months = 28 February).
- **Reminders** (``reminder_at``): at 09:00 local time, N days before the last day.
- **Days left** (``days_left``): whole calendar days between today and the last day: 21
  on the day of a request, 0 on its last day ("last day today") and after it.

The end of a local day is the millisecond before the next local day starts (what MongoDB
stores), computed in the zone, so a day that is 23 or 25 hours long because of a daylight
saving change still ends at local midnight; a zone whose midnight is skipped starts its day
at the first instant that exists.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: MongoDB keeps milliseconds: a deadline is the last millisecond of its day.
_TICK = timedelta(milliseconds=1)
#: Local time at which reminders are sent.
REMINDER_TIME = time(9, 0)


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (cached; raises ``ZoneInfoNotFoundError``)."""
    return ZoneInfo(name)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The day ``moment`` falls on in ``tz``."""
    return moment.astimezone(tz).date()


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, the day clamped to the month's end."""
    index = day.month - 1 + months
    year = day.year + index // 12
    month = index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The first instant at or after ``clock`` on local ``day`` that exists in ``tz``: a
    time skipped by a spring-forward change moves to the end of the gap (time zone changes
    happen on whole minutes)."""
    naive = datetime.combine(day, clock)
    while not _exists(naive, tz):
        naive += timedelta(minutes=1)
    return naive.replace(tzinfo=tz)


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The instant local ``day`` begins in ``tz`` (in UTC)."""
    return _at(day, time(0), tz).astimezone(UTC)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last millisecond of local ``day`` in ``tz`` (in UTC)."""
    return start_of_day(day + timedelta(days=1), tz) - _TICK


def last_day(deadline: datetime, tz: ZoneInfo) -> date:
    """The local day a deadline ends (the date to print)."""
    return local_date(deadline, tz)


def link_deadline(requested_at: datetime, days: int, tz: ZoneInfo) -> datetime:
    """When a link request made at ``requested_at`` expires: the end of the local day
    ``days`` days after the day it was made."""
    return end_of_day(local_date(requested_at, tz) + timedelta(days=days), tz)


def inactivity_deadline(last_activity_at: datetime, months: int, tz: ZoneInfo) -> datetime:
    """When an account last active at ``last_activity_at`` reaches ``months`` months of
    inactivity: the end of the local day ``months`` calendar months later (clamped)."""
    return end_of_day(add_months(local_date(last_activity_at, tz), months), tz)


def reminder_at(deadline: datetime, days_before: int, tz: ZoneInfo) -> datetime:
    """When to remind of ``deadline``: 09:00 local, ``days_before`` days before its last
    day."""
    day = last_day(deadline, tz) - timedelta(days=days_before)
    return _at(day, REMINDER_TIME, tz).astimezone(UTC)


def days_left(deadline: datetime, now: datetime, tz: ZoneInfo) -> int:
    """Whole calendar days from ``now``'s local day to the deadline's last day: the
    ``N`` of ``link_deadline`` on the day of the request, 0 on the last day and after."""
    return max(0, (last_day(deadline, tz) - local_date(now, tz)).days)


def days_allowed(requested_at: datetime, deadline: datetime, tz: ZoneInfo) -> int:
    """How many days after the day of the request its last day is (the ``N`` of
    ``link_deadline``), for messages such as "within 21 days"."""
    return (last_day(deadline, tz) - local_date(requested_at, tz)).days
