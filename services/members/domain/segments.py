"""Segment rules that need no I/O: which birthdays (as "MM-DD") a birthday criterion selects.

The 29 February rule (domain.md §5a): a member born on 29 February has their birthday on
28 February in a year without one. So in a non-leap year a window that contains 28 February also
selects "02-29", and a birthday-month criterion for February always does.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

LEAP_DAY = "02-29"
MAX_BIRTHDAY_WINDOW_DAYS = 366


def month_day(d: date) -> str:
    return f"{d.month:02d}-{d.day:02d}"


def birthday_days_in_window(today: date, days: int) -> set[str]:
    """The birthdays ("MM-DD") that fall within ``days`` days from ``today`` (today included)."""
    out: set[str] = set()
    for offset in range(days):
        d = today + timedelta(days=offset)
        out.add(month_day(d))
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            out.add(LEAP_DAY)
    return out


def birthday_days_in_months(months: list[int]) -> set[str]:
    """Every "MM-DD" of the given months (February with its 29th)."""
    out: set[str] = set()
    for m in set(months):
        last = 29 if m == 2 else calendar.monthrange(2001, m)[1]
        out.update(f"{m:02d}-{d:02d}" for d in range(1, last + 1))
    return out
