"""Booking resources and their calendars: weekly hours, dated overrides, services, staff, rooms,
equipment and busy time.

Pure value types. Local working hours are wall-clock "HH:MM" strings in the store's time zone
(interpreted by `availability`); busy time is always aware UTC. Every interval is half-open
[start, end): an appointment ending at 10:00 does not clash with one starting at 10:00.

Resource ids (staff, room, equipment) share one name space: a `Busy` names its resource by id only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kit.errors import Violations

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
END_OF_DAY = "24:00"
MINUTES_PER_DAY = 24 * 60

LEAVE = "leave"  # time off: the whole day, or one interval of it
EXTRA_SHIFT = "extra_shift"  # working time on top of the weekly hours
EXCEPTION_KINDS = (LEAVE, EXTRA_SHIFT)

MAX_SERVICE_MINUTES = 24 * 60
MAX_BUFFER_MINUTES = 12 * 60


def minute_of_day(value: str, *, end: bool = False) -> int | None:
    """ "HH:MM" -> minutes since local midnight; "24:00" only as an interval end. None when invalid."""
    if end and value == END_OF_DAY:
        return MINUTES_PER_DAY
    if not isinstance(value, str) or not _HHMM.match(value):
        return None
    return int(value[:2]) * 60 + int(value[3:])


def _check_range(v: Violations, prefix: str, start: str, end: str) -> None:
    lo, hi = minute_of_day(start), minute_of_day(end, end=True)
    if lo is None:
        v.add(f"{prefix}.start", "must be HH:MM")
    if hi is None:
        v.add(f"{prefix}.end", "must be HH:MM (or 24:00)")
    if lo is not None and hi is not None and lo >= hi:
        v.add(prefix, "must start before it ends")


@dataclass(frozen=True)
class WeeklyHours:
    """Working intervals per ISO weekday (1 = Monday .. 7 = Sunday), local wall time.

    Breaks are the gaps between intervals: {1: (("09:00", "12:00"), ("13:00", "18:00"))} is a
    Monday with a lunch break. A missing weekday is a day off. Overlapping or touching intervals
    are merged. An interval never crosses midnight; a night shift is "22:00"-"24:00" plus
    "00:00"-"02:00" of the next weekday (the engine joins them).
    """

    days: Mapping[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @classmethod
    def uniform(
        cls, intervals: Iterable[tuple[str, str]], weekdays: Iterable[int] = range(1, 8)
    ) -> WeeklyHours:
        """The same intervals on each of `weekdays` (every day by default)."""
        ranges = tuple((s, e) for s, e in intervals)
        return cls({day: ranges for day in weekdays})

    def on(self, weekday: int) -> tuple[tuple[str, str], ...]:
        return tuple(self.days.get(weekday, ()))

    def validate(self, v: Violations, prefix: str) -> None:
        for day, ranges in self.days.items():
            if not isinstance(day, int) or not 1 <= day <= 7:
                v.add(f"{prefix}[{day}]", "weekday must be 1 (Monday) .. 7 (Sunday)")
                continue
            for i, (start, end) in enumerate(ranges):
                _check_range(v, f"{prefix}[{day}][{i}]", start, end)


@dataclass(frozen=True)
class ScheduleException:
    """A dated override of the weekly hours, in local wall time.

    LEAVE without start/end is the whole day off; with them, that interval off. EXTRA_SHIFT adds
    the interval as working time. Leave wins: the day's working time is
    (weekly hours + extra shifts) - leave.
    """

    day: date
    kind: str
    start: str | None = None
    end: str | None = None

    @classmethod
    def leave(cls, day: date, start: str | None = None, end: str | None = None) -> ScheduleException:
        return cls(day=day, kind=LEAVE, start=start, end=end)

    @classmethod
    def extra_shift(cls, day: date, start: str, end: str) -> ScheduleException:
        return cls(day=day, kind=EXTRA_SHIFT, start=start, end=end)

    @property
    def whole_day(self) -> bool:
        return self.start is None and self.end is None

    def minutes(self) -> tuple[int, int]:
        """The local [start, end) of the override in minutes of its day (the whole day for a day off)."""
        if self.whole_day:
            return 0, MINUTES_PER_DAY
        lo, hi = minute_of_day(self.start or ""), minute_of_day(self.end or "", end=True)
        if lo is None or hi is None:
            raise ValueError("invalid exception interval; validate() first")
        return lo, hi

    def validate(self, v: Violations, prefix: str) -> None:
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            v.add(f"{prefix}.day", "must be a date")
        if self.kind not in EXCEPTION_KINDS:
            v.add(f"{prefix}.kind", f"must be one of {', '.join(EXCEPTION_KINDS)}")
        if self.kind == EXTRA_SHIFT and self.whole_day:
            v.add(prefix, "an extra shift needs start and end")
        elif not self.whole_day:
            if self.start is None or self.end is None:
                v.add(prefix, "start and end go together")
            else:
                _check_range(v, prefix, self.start, self.end)


@dataclass(frozen=True)
class Service:
    """One bookable service. Buffers are the staff/room/equipment time around the customer's time
    (preparation before, cleaning after); the customer sees only `duration_minutes`.
    A requirement of None means the service does not need that kind of resource (any staff member
    can do a service without a required skill)."""

    service_id: str
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    skill: str | None = None
    room_type: str | None = None
    equipment_kind: str | None = None

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)

    def validate(self, v: Violations, prefix: str) -> None:
        v.require(f"{prefix}.service_id", self.service_id)
        if not isinstance(self.duration_minutes, int) or not 0 < self.duration_minutes <= MAX_SERVICE_MINUTES:
            v.add(f"{prefix}.duration_minutes", f"must be 1 .. {MAX_SERVICE_MINUTES}")
        for name in ("buffer_before_minutes", "buffer_after_minutes"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= MAX_BUFFER_MINUTES:
                v.add(f"{prefix}.{name}", f"must be 0 .. {MAX_BUFFER_MINUTES}")


@dataclass(frozen=True)
class Staff:
    """A bookable staff member. Working time on a local date is
    (weekly_hours - breaks) + extra shifts - leave (`ScheduleException`s of that date)."""

    staff_id: str
    skills: frozenset[str] = frozenset()
    weekly_hours: WeeklyHours = field(default_factory=WeeklyHours)
    exceptions: tuple[ScheduleException, ...] = ()
    breaks: WeeklyHours = field(default_factory=WeeklyHours)

    def can_do(self, service: Service) -> bool:
        return service.skill is None or service.skill in self.skills

    def validate(self, v: Violations, prefix: str) -> None:
        v.require(f"{prefix}.staff_id", self.staff_id)
        self.weekly_hours.validate(v, f"{prefix}.weekly_hours")
        self.breaks.validate(v, f"{prefix}.breaks")
        for i, exception in enumerate(self.exceptions):
            exception.validate(v, f"{prefix}.exceptions[{i}]")


@dataclass(frozen=True)
class Room:
    """A room or bed; `capacity` is how many appointments it holds at once."""

    room_id: str
    room_type: str
    capacity: int = 1

    def validate(self, v: Violations, prefix: str) -> None:
        v.require(f"{prefix}.room_id", self.room_id)
        v.require(f"{prefix}.room_type", self.room_type)
        if not isinstance(self.capacity, int) or self.capacity < 1:
            v.add(f"{prefix}.capacity", "must be at least 1")


@dataclass(frozen=True)
class Equipment:
    """One piece of equipment; it serves one appointment at a time."""

    equipment_id: str
    kind: str

    def validate(self, v: Violations, prefix: str) -> None:
        v.require(f"{prefix}.equipment_id", self.equipment_id)
        v.require(f"{prefix}.kind", self.kind)


@dataclass(frozen=True)
class Busy:
    """Time a resource is already taken (an existing appointment, its buffers included), UTC.

    For a room each `Busy` is one appointment counted against its capacity."""

    resource_id: str
    start: datetime
    end: datetime

    def validate(self, v: Violations, prefix: str) -> None:
        v.require(f"{prefix}.resource_id", self.resource_id)
        aware = True
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                v.add(f"{prefix}.{name}", "must be an aware (UTC) datetime")
                aware = False
        if aware and self.end <= self.start:
            v.add(prefix, "must start before it ends")


def check_unique(v: Violations, field_name: str, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            v.add(f"{field_name}[{i}]", f"duplicate id {value!r}")
        seen.add(value)
