"""The calendar rules over awkward dates and over generated ones (fixed seed)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.deadlines import (
    add_months,
    days_allowed,
    days_left,
    end_of_day,
    inactivity_deadline,
    last_day,
    link_deadline,
    local_date,
    reminder_at,
    start_of_day,
)

NY = ZoneInfo("America/New_York")
MS = timedelta(milliseconds=1)
#: Zones with odd offsets, southern-hemisphere DST, a midnight DST change (Santiago,
#: Havana) and no DST at all.
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "Pacific/Honolulu",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
]


def ny(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


# --- months ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 29), 1, date(2025, 2, 28)),
        (date(2025, 1, 30), 1, date(2025, 2, 28)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 13, date(2028, 2, 29)),  # the date that turned main red
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 2, 28), 6, date(2025, 8, 28)),
        (date(2025, 3, 31), 6, date(2025, 9, 30)),
        (date(2025, 5, 31), 6, date(2025, 11, 30)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2025, 10, 31), 13, date(2026, 11, 30)),
        (date(2025, 12, 31), 6, date(2026, 6, 30)),
        (date(2025, 12, 31), 13, date(2027, 1, 31)),
        (date(2025, 7, 15), 0, date(2025, 7, 15)),
    ],
)
def test_months_are_calendar_months_clamped_to_the_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


# --- the end of a local day -----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2026, 3, 8), 23),  # spring forward in New York
        (date(2026, 11, 1), 25),  # fall back
        (date(2026, 7, 4), 24),
    ],
)
def test_a_local_day_is_23_24_or_25_hours_and_ends_at_local_midnight(day: date, hours: int) -> None:
    start, end = start_of_day(day, NY), end_of_day(day, NY)
    assert end + MS - start == timedelta(hours=hours)
    assert start.astimezone(NY).time() == time(0)
    assert (end + MS).astimezone(NY).time() == time(0)
    assert local_date(end, NY) == day
    assert local_date(end + MS, NY) == day + timedelta(days=1)


def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_jump() -> None:
    santiago = ZoneInfo("America/Santiago")
    # 2026-09-06: clocks go from 00:00 to 01:00 in Chile.
    start = start_of_day(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).replace(tzinfo=None) == datetime(2026, 9, 6, 1, 0)
    assert local_date(start - MS, santiago) == date(2026, 9, 5)
    assert end_of_day(date(2026, 9, 5), santiago) == start - MS


# --- the link deadline ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "last"),
    [
        (ny(2026, 1, 29), date(2026, 2, 19)),
        (ny(2026, 1, 31), date(2026, 2, 21)),
        (ny(2026, 2, 28), date(2026, 3, 21)),  # across spring forward (8 March)
        (ny(2028, 2, 29), date(2028, 3, 21)),
        (ny(2026, 2, 15), date(2026, 3, 8)),  # the last day is the 23-hour day
        (ny(2026, 10, 11), date(2026, 11, 1)),  # the last day is the 25-hour day
        (ny(2026, 12, 31, 23, 59), date(2027, 1, 21)),
        (ny(2026, 3, 31, 0, 0), date(2026, 4, 21)),
    ],
)
def test_a_request_may_be_approved_through_the_21st_local_day_after_it(
    requested: datetime, last: date
) -> None:
    deadline = link_deadline(requested, 21, NY)
    assert last_day(deadline, NY) == last
    assert deadline == end_of_day(last, NY)
    assert deadline.astimezone(NY).time() == time(23, 59, 59, 999000)
    assert days_allowed(requested, deadline, NY) == 21


def test_the_local_day_not_the_utc_day_counts() -> None:
    # 22:30 in New York on 31 January is already 1 February in UTC.
    late_evening = ny(2026, 1, 31, 22, 30)
    assert late_evening.astimezone(UTC).date() == date(2026, 2, 1)
    assert last_day(link_deadline(late_evening, 21, NY), NY) == date(2026, 2, 21)


@pytest.mark.parametrize(
    ("now", "left"),
    [
        (ny(2026, 1, 31, 9), 21),  # the day of the request
        (ny(2026, 1, 31, 23, 59), 21),
        (ny(2026, 2, 1, 0, 0), 20),
        (ny(2026, 2, 20, 23, 59), 1),
        (ny(2026, 2, 21, 0, 0), 0),  # the last day
        (ny(2026, 2, 21, 23, 59), 0),
        (ny(2026, 2, 22, 0, 0), 0),  # passed
        (ny(2026, 3, 1), 0),
    ],
)
def test_days_left_is_21_on_the_day_of_the_request_and_0_on_the_last_day(
    now: datetime, left: int
) -> None:
    deadline = link_deadline(ny(2026, 1, 31, 9), 21, NY)
    assert days_left(deadline, now, NY) == left


# --- inactivity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "months", "last"),
    [
        (ny(2026, 8, 31), 6, date(2027, 2, 28)),
        (ny(2027, 8, 31), 6, date(2028, 2, 29)),
        (ny(2027, 1, 31), 13, date(2028, 2, 29)),
        (ny(2026, 1, 31), 13, date(2027, 2, 28)),
        (ny(2028, 2, 29), 6, date(2028, 8, 29)),
        (ny(2028, 2, 29), 13, date(2029, 3, 29)),
        (ny(2026, 12, 31), 6, date(2027, 6, 30)),
        (ny(2026, 3, 8, 3, 30), 6, date(2026, 9, 8)),
        (ny(2026, 5, 8), 6, date(2026, 11, 8)),
        (ny(2026, 10, 31), 13, date(2027, 11, 30)),
    ],
)
def test_inactivity_ends_on_the_clamped_calendar_day(
    active: datetime, months: int, last: date
) -> None:
    deadline = inactivity_deadline(active, months, NY)
    assert deadline == end_of_day(last, NY)


def test_a_reminder_is_at_nine_in_the_morning_n_days_before_the_last_day() -> None:
    deadline = link_deadline(ny(2026, 2, 20), 21, NY)  # last day 13 March (EDT)
    remind = reminder_at(deadline, 7, NY)  # 6 March (EST)
    assert remind.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 6, 9, 0)
    assert days_left(deadline, remind, NY) == 7


# --- generated dates ------------------------------------------------------------------


def _generated(n: int, seed: int) -> list[tuple[datetime, ZoneInfo]]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=366 * 6).total_seconds())
    return [
        (start + timedelta(seconds=rng.randrange(span)), ZoneInfo(rng.choice(ZONES)))
        for _ in range(n)
    ]


GENERATED = _generated(1500, seed=20261202)


def test_invariants_hold_on_1500_generated_dates_in_10_zones() -> None:
    for moment, tz in GENERATED:
        today = local_date(moment, tz)
        where = f"{moment.isoformat()} {tz.key}"

        # a day ends at the last millisecond before the next one starts
        end = end_of_day(today, tz)
        assert local_date(end, tz) == today, where
        assert local_date(end + MS, tz) == today + timedelta(days=1), where
        assert start_of_day(today, tz) <= moment <= end, where
        assert timedelta(hours=22) <= end + MS - start_of_day(today, tz) <= timedelta(hours=26)

        # link deadline: 21 local days after, at the end of the day, never before 21 × 24 h
        deadline = link_deadline(moment, 21, tz)
        assert last_day(deadline, tz) == today + timedelta(days=21), where
        assert deadline - moment >= timedelta(days=21) - timedelta(hours=2), where
        assert deadline - moment < timedelta(days=22) + timedelta(hours=2), where
        assert days_left(deadline, moment, tz) == 21, where
        assert days_left(deadline, deadline, tz) == 0, where
        eve = start_of_day(last_day(deadline, tz), tz) - MS
        assert days_left(deadline, eve, tz) == 1, where
        assert days_allowed(moment, deadline, tz) == 21, where

        # months: same day of month unless clamped to the month's end, never earlier
        for months in (6, 13):
            due = inactivity_deadline(moment, months, tz)
            day = last_day(due, tz)
            assert (day.year * 12 + day.month) - (today.year * 12 + today.month) == months
            assert day.day == today.day or (
                day.day < today.day and (day + timedelta(days=1)).day == 1
            ), where
            assert due == end_of_day(day, tz), where
            assert due > moment, where

        # the reminder is at 09:00 local, n days before the last day, always before it
        remind = reminder_at(deadline, 3, tz)
        assert local_date(remind, tz) == today + timedelta(days=18), where
        assert remind < deadline, where
        assert days_left(deadline, remind, tz) == 3, where
