"""Available minutes of staff and rooms from booking's schedule events (pure, no I/O).

Booking publishes a staff member's whole weekly pattern on every change (`StaffScheduleChanged`),
each schedule exception as it is recorded or deleted (`ScheduleExceptionChanged`) and each room's
capacity and active flag (`RoomChanged`). From those, for any past or future local day:

- a **staff member's** working time = (weekly hours - breaks + extra shifts) - time off, under the
  weekly pattern in effect that day: the latest change made on or before that local day (a change
  counts for the whole day it was made on; before the first event the staff member did not exist);
  inactive: none. Exceptions count as they stand now (a deleted one not at all).
- a **room's** available time = its capacity x the store's staffed time that day (the union of its
  staff members' working time): booking gives rooms no hours of their own, and a room is only
  bookable while someone works.

Days are summed in closed form per stretch of days over which no version changes (weekday
counts x minutes per weekday), then the few days with an exception are corrected one by one, so a
3-year period over thousands of resources stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

Interval = tuple[int, int]  # [start, end) minutes of a local day
DAY = 24 * 60
TIME_OFF = ("leave", "sick_leave", "training", "blocked")
EXTRA_SHIFT = "extra_shift"


def _minute(value: str) -> int:
    if value == "24:00":
        return DAY
    return int(value[:2]) * 60 + int(value[3:5])


def union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[0] < i[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def subtract(base: Sequence[Interval], cut: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in base:
        pieces = [(lo, hi)]
        for c_lo, c_hi in cut:
            pieces = [p for a, b in pieces for p in ((a, min(b, c_lo)), (max(a, c_hi), b)) if p[0] < p[1]]
        out.extend(pieces)
    return out


def total(intervals: Iterable[Interval]) -> int:
    return sum(hi - lo for lo, hi in intervals)


def weekly_of(label_part: Sequence[Sequence]) -> dict[int, list[Interval]]:
    """[[day_of_week, "HH:MM", "HH:MM"], ...] -> weekday -> merged intervals."""
    days: dict[int, list[Interval]] = {}
    for day, start, end in label_part:
        days.setdefault(int(day), []).append((_minute(start), _minute(end)))
    return {d: union(v) for d, v in days.items()}


@dataclass(frozen=True)
class StaffVersion:
    effective: date  # first local day it applies to
    active: bool
    hours: dict[int, list[Interval]]
    breaks: dict[int, list[Interval]]

    def weekday(self, weekday: int) -> list[Interval]:
        if not self.active:
            return []
        return subtract(self.hours.get(weekday, []), self.breaks.get(weekday, []))


@dataclass(frozen=True)
class Exception_:
    kind: str
    first: date
    last: date
    interval: Interval  # (0, DAY) for a whole day


@dataclass
class Staff:
    store: str
    name: str
    versions: list[StaffVersion] = field(default_factory=list)  # in effect order
    exceptions: dict[str, Exception_] = field(default_factory=dict)  # by exception name

    def version_on(self, day: date) -> StaffVersion | None:
        found = None
        for v in self.versions:
            if v.effective > day:
                break
            found = v
        return found

    def exception_days(self) -> set[date]:
        days: set[date] = set()
        for e in self.exceptions.values():
            d = e.first
            while d <= e.last:
                days.add(d)
                d += timedelta(days=1)
        return days

    def working(self, day: date, version: StaffVersion | None) -> list[Interval]:
        """The staff member's working time on `day` under `version`, exceptions applied."""
        if version is None or not version.active:
            return []
        base = version.weekday(day.isoweekday())
        extra, off = [], []
        for e in self.exceptions.values():
            if e.first <= day <= e.last:
                (extra if e.kind == EXTRA_SHIFT else off).append(e.interval)
        return subtract(union([*base, *extra]), union(off))


@dataclass
class Room:
    store: str
    name: str
    versions: list[tuple[date, bool, int]] = field(default_factory=list)  # (effective, active, capacity)

    def capacity_on(self, day: date) -> int:
        found = 0
        for effective, active, capacity in self.versions:
            if effective > day:
                break
            found = capacity if active else 0
        return found


@dataclass
class Schedules:
    staff: dict[str, Staff] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)

    def apply(
        self, kind: str, store: str, subject: str, flag: int, quantity: int, label: str, day: date
    ) -> None:
        """One schedule fact (in stream order); `day` is its local day in the store's zone."""
        if kind == "StaffScheduleChanged":
            data = json.loads(label or "{}")
            staff = self.staff.setdefault(subject, Staff(store, subject))
            version = StaffVersion(
                day, bool(flag), weekly_of(data.get("h", [])), weekly_of(data.get("b", []))
            )
            # Several changes on one day: the last one holds for the whole day.
            staff.versions = [v for v in staff.versions if v.effective != day] + [version]
            staff.versions.sort(key=lambda v: v.effective)
        elif kind == "ScheduleExceptionChanged":
            data = json.loads(label or "{}")
            staff = self.staff.setdefault(subject, Staff(store, subject))
            name = data.get("id", "")
            if flag:  # removed
                staff.exceptions.pop(name, None)
                return
            start, end = data.get("t") or ["", ""]
            interval = (_minute(start), _minute(end)) if start and end else (0, DAY)
            staff.exceptions[name] = Exception_(
                data.get("k", ""),
                date.fromisoformat(data["d"][0]),
                date.fromisoformat(data["d"][1]),
                interval,
            )
        elif kind == "RoomChanged":
            room = self.rooms.setdefault(subject, Room(store, subject))
            room.versions = [v for v in room.versions if v[0] != day] + [(day, bool(flag), int(quantity))]
            room.versions.sort(key=lambda v: v[0])


def weekday_counts(first: date, last: date) -> dict[int, int]:
    """How many of each ISO weekday lie in [first, last]."""
    n = (last - first).days + 1
    counts = dict.fromkeys(range(1, 8), n // 7) if n > 0 else dict.fromkeys(range(1, 8), 0)
    for i in range(max(0, n) % 7):
        counts[(first + timedelta(days=i)).isoweekday()] += 1
    return counts


def _stretches(first: date, last: date, breaks: Iterable[date]) -> list[tuple[date, date]]:
    """[first, last] cut before each of `breaks` that falls inside it."""
    cuts = sorted({b for b in breaks if first < b <= last})
    out, start = [], first
    for b in cuts:
        out.append((start, b - timedelta(days=1)))
        start = b
    out.append((start, last))
    return out


def _sum(
    first: date,
    last: date,
    breaks: Iterable[date],
    exception_days: set[date],
    per_weekday,  # (stretch start) -> weekday -> minutes, for days without exceptions
    per_day,  # day -> minutes, exact
) -> int:
    minutes = 0
    for s_first, s_last in _stretches(first, last, breaks):
        pattern = per_weekday(s_first)
        minutes += sum(n * pattern(w) for w, n in weekday_counts(s_first, s_last).items() if n)
        for day in exception_days:
            if s_first <= day <= s_last:
                minutes += per_day(day) - pattern(day.isoweekday())
    return minutes


def staff_minutes(staff: Staff, first: date, last: date) -> int:
    """Available minutes of a staff member over the local days [first, last]."""
    exception_days = staff.exception_days()

    def per_weekday(day: date):
        version = staff.version_on(day)
        cache: dict[int, int] = {}

        def pattern(w: int) -> int:
            if w not in cache:
                cache[w] = total(version.weekday(w)) if version is not None else 0
            return cache[w]

        return pattern

    return _sum(
        first,
        last,
        [v.effective for v in staff.versions],
        exception_days,
        per_weekday,
        lambda d: total(staff.working(d, staff.version_on(d))),
    )


def staffed_minutes(staff: Sequence[Staff], room: Room, first: date, last: date) -> int:
    """A room's available minutes: its capacity x the union of the store's staff working time."""
    exception_days: set[date] = set()
    for s in staff:
        exception_days |= s.exception_days()
    breaks = [v.effective for s in staff for v in s.versions] + [v[0] for v in room.versions]

    def per_weekday(day: date):
        versions = [(s, s.version_on(day)) for s in staff]
        capacity = room.capacity_on(day)
        cache: dict[int, int] = {}

        def pattern(w: int) -> int:
            if w not in cache:
                merged = union(i for _, v in versions if v is not None for i in v.weekday(w))
                cache[w] = capacity * total(merged)
            return cache[w]

        return pattern

    def per_day(day: date) -> int:
        merged = union(i for s in staff for i in s.working(day, s.version_on(day)))
        return room.capacity_on(day) * total(merged)

    return _sum(first, last, breaks, exception_days, per_weekday, per_day)
