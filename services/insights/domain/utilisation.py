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
from functools import lru_cache

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


def mask(intervals: Iterable[Interval]) -> int:
    """Intervals of a day as a 1440-bit set of minutes: union is |, removal & ~, length bit_count()."""
    out = 0
    for lo, hi in intervals:
        if lo < hi:
            out |= (1 << hi) - (1 << lo)
    return out


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

    def weekday_mask(self, weekday: int) -> int:
        masks = self.__dict__.get("_masks")
        if masks is None:  # computed once per version: the hot path of every query
            masks = tuple(mask(self.weekday(w)) for w in range(8))
            object.__setattr__(self, "_masks", masks)
        return masks[weekday]


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

    def exception_days(self, first: date = date.min, last: date = date.max) -> set[date]:
        """The days with an exception, within [first, last]."""
        days: set[date] = set()
        for e in self.exceptions.values():
            d = max(e.first, first)
            while d <= min(e.last, last):
                days.add(d)
                d += timedelta(days=1)
        return days

    def working_mask(self, day: date, version: StaffVersion | None) -> int:
        """As `working`, as a set of minutes (see `mask`)."""
        if version is None or not version.active:
            return 0
        extra = off = 0
        for e in self.exceptions.values():
            if e.first <= day <= e.last:
                if e.kind == EXTRA_SHIFT:
                    extra |= mask([e.interval])
                else:
                    off |= mask([e.interval])
        return (version.weekday_mask(day.isoweekday()) | extra) & ~off

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


@lru_cache(maxsize=4096)
def weekday_counts(first: date, last: date) -> dict[int, int]:
    """How many of each ISO weekday lie in [first, last]."""
    n = (last - first).days + 1
    counts = dict.fromkeys(range(1, 8), n // 7) if n > 0 else dict.fromkeys(range(1, 8), 0)
    for i in range(max(0, n) % 7):
        counts[(first + timedelta(days=i)).isoweekday()] += 1
    return counts


@dataclass(frozen=True)
class Availability:
    """Available minutes per local day in closed form: a weekly pattern per stretch of days over
    which no version changes, plus the exact difference on the few days with an exception."""

    segments: tuple[tuple[date, date | None, tuple[int, ...]], ...]  # (first, last or open, by weekday)
    corrections: dict[date, int]

    def minutes(self, first: date, last: date) -> int:
        out = 0
        for s_first, s_last, pattern in self.segments:
            a, b = max(first, s_first), min(last, s_last or last)
            if a <= b:
                out += sum(n * pattern[w - 1] for w, n in weekday_counts(a, b).items() if n)
        return out + sum(delta for day, delta in self.corrections.items() if first <= day <= last)

    def pattern_on(self, day: date) -> tuple[int, ...] | None:
        for s_first, s_last, pattern in self.segments:
            if s_first <= day and (s_last is None or day <= s_last):
                return pattern
        return None


def _or(masks: Iterable[int]) -> int:
    out = 0
    for m in masks:
        out |= m
    return out


def _segments(starts: Iterable[date]) -> list[tuple[date, date | None]]:
    ordered = sorted(set(starts))
    return [
        (d, ordered[i + 1] - timedelta(days=1) if i + 1 < len(ordered) else None)
        for i, d in enumerate(ordered)
    ]


def staff_availability(staff: Staff, first_day: date = date.min, last_day: date = date.max) -> Availability:
    """Exact over [first_day, last_day] (the exception days outside it are not corrected)."""
    segments = []
    for first, last in _segments(v.effective for v in staff.versions):
        version = staff.version_on(first)
        pattern = tuple(version.weekday_mask(w).bit_count() if version else 0 for w in range(1, 8))
        segments.append((first, last, pattern))
    out = Availability(tuple(segments), {})
    for day in staff.exception_days(first_day, last_day):
        base = out.pattern_on(day)
        exact = staff.working_mask(day, staff.version_on(day)).bit_count()
        delta = exact - (base[day.isoweekday() - 1] if base else 0)
        if delta:
            out.corrections[day] = delta
    return out


def staffed_availability(
    staff: Sequence[Staff], first_day: date = date.min, last_day: date = date.max
) -> Availability:
    """A store's staffed time: the union of its staff members' working time, per local day (exact
    over [first_day, last_day])."""
    segments = []
    for first, last in _segments(v.effective for s in staff for v in s.versions):
        versions = [v for v in (s.version_on(first) for s in staff) if v is not None]
        pattern = tuple(_or(v.weekday_mask(w) for v in versions).bit_count() for w in range(1, 8))
        segments.append((first, last, pattern))
    out = Availability(tuple(segments), {})
    days: set[date] = set()
    for s in staff:
        days |= s.exception_days(first_day, last_day)
    for day in days:
        base = out.pattern_on(day)
        exact = _or(s.working_mask(day, s.version_on(day)) for s in staff).bit_count()
        delta = exact - (base[day.isoweekday() - 1] if base else 0)
        if delta:
            out.corrections[day] = delta
    return out


def room_minutes(room: Room, staffed: Availability, first: date, last: date) -> int:
    """A room's available minutes: its capacity x the store's staffed time, stretch by stretch."""
    out = 0
    for s_first, s_last in _segments(v[0] for v in room.versions):
        a, b = max(first, s_first), min(last, s_last or last)
        if a <= b:
            out += room.capacity_on(s_first) * staffed.minutes(a, b)
    return out


def staff_minutes(staff: Staff, first: date, last: date) -> int:
    """Available minutes of a staff member over the local days [first, last]."""
    return staff_availability(staff).minutes(first, last)


def staffed_minutes(staff: Sequence[Staff], room: Room, first: date, last: date) -> int:
    """A room's available minutes over [first, last] (capacity x the store's staffed time)."""
    return room_minutes(room, staffed_availability(staff), first, last)
