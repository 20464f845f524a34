"""Bookable slots: staff shifts, breaks, leave, buffers, existing appointments, rooms and equipment.

Pure and deterministic (no I/O, no clock: the caller passes `now`).

Time rules
- Working hours are local wall time in the store's IANA zone. Each local date's intervals are
  converted to UTC on their own date, so a 09:00 opening is 09:00 on the wall both sides of a
  DST change (America/New_York: 14:00Z in winter, 13:00Z in summer).
- A wall time that does not exist (the spring-forward gap, 02:00-03:00 in New York) used as a
  working-hours boundary moves forward to the instant the clock resumes (03:00 the new offset):
  an interval 02:30-06:00 starts at 03:00; an interval wholly inside the gap vanishes. We do not
  use PEP 495's fold=0 reading of a gap time (02:30 -> 03:30), which would invent working time.
- A wall time that occurs twice (the fall-back hour, 01:00-02:00 in New York) means its first
  occurrence (fold=0, the summer offset), for boundaries and for slot starts alike.
- Slot starts are aligned to `step_minutes` counted from local midnight of each date. A start
  whose wall time falls in a gap is not offered (the later aligned wall times are); a start in
  the repeated hour is offered once, at the first occurrence, so local start times are unique
  and the UTC instants strictly increase. Consequence: in the second (repeated) 01:xx hour no
  slot starts, although it is working time a longer service can run through.
- Everything after conversion is UTC and intervals are half-open [start, end).

Booking rules
- Services are booked back to back: the customer's time for service i+1 starts when service i
  ends. Each service reserves its staff member, room and equipment for
  [start - buffer_before, end + buffer_after) (the reserved block); the whole block must fit in
  one working interval of the staff member and must not collide with busy time. When the same
  resource serves several services of one booking, its blocks merge (one staff member going
  straight from one service to the next absorbs the buffers between them).
- A staff member or a piece of equipment holds one appointment at a time; a room holds
  `capacity` appointments at once (each `Busy` of a room is one appointment; this booking counts
  once however many of its services use the room).
- One slot per start time and per staff member who can take the first service. The other
  services go to the staff member of the previous service when they can, otherwise to the
  lowest staff id that can; rooms and equipment likewise (previous one first, then lowest id).
  With `preferred_staff` every service must be done by that staff member (unknown staff, or one
  lacking a required skill, gives no slots).
- No slot starts before `now + min_lead_minutes`, and no reserved block starts before `now`.
- Slots come ordered by start instant, then staff ids.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.errors import InvalidArgument, Violations
from services.booking.domain.schedule import (
    EXTRA_SHIFT,
    LEAVE,
    MINUTES_PER_DAY,
    Busy,
    Equipment,
    Room,
    Service,
    Staff,
    check_unique,
    minute_of_day,
)

MAX_RANGE_DAYS = 31
MAX_SERVICES = 10
MAX_STEP_MINUTES = 24 * 60
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Assignment:
    """Who and what serves one service of a slot. `start_utc`/`end_utc` is the customer's time;
    `reserved_*` adds the buffers (what the booking must reserve on staff, room and equipment)."""

    service_id: str
    staff_id: str
    room_id: str | None
    equipment_id: str | None
    start_utc: datetime
    end_utc: datetime
    reserved_start_utc: datetime
    reserved_end_utc: datetime


@dataclass(frozen=True)
class Slot:
    start_utc: datetime
    end_utc: datetime
    local_start: str  # "YYYY-MM-DDTHH:MM", wall time in `tz`
    tz: str
    assignments: tuple[Assignment, ...]

    @property
    def staff_id(self) -> str:
        """The staff member of the first service."""
        return self.assignments[0].staff_id

    @property
    def staff_ids(self) -> tuple[str, ...]:
        return tuple(a.staff_id for a in self.assignments)

    @property
    def reserved_start_utc(self) -> datetime:
        return min(a.reserved_start_utc for a in self.assignments)

    @property
    def reserved_end_utc(self) -> datetime:
        return max(a.reserved_end_utc for a in self.assignments)


# --- time zone handling -------------------------------------------------------------------------


def store_zone(name: str) -> ZoneInfo | None:
    """The IANA zone, or None when `name` is not one."""
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def wall_exists(wall: datetime, zone: ZoneInfo) -> bool:
    """False for a naive wall time that the clock skips (a spring-forward gap)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive local wall time as a UTC instant.

    Ambiguous (fall-back) wall times take the first occurrence (fold=0). A wall time inside a gap
    moves forward to the instant the clock resumes after the gap (02:30 -> 03:00 new offset).
    """
    reading = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if reading.astimezone(zone).replace(tzinfo=None) == wall:
        return reading
    # In a gap the two folds read the wall time with the offsets before and after the
    # transition; the transition lies between them. The wall clock is monotonic across it, so
    # search for the first instant whose wall time is past `wall`.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(reading, other), max(reading, other)  # wall(lo) < wall < wall(hi)
    step = timedelta(seconds=1)
    while hi - lo > step:
        mid = lo + (hi - lo) // 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            mid = lo + step
        if mid.astimezone(zone).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return hi


def _wall(day: date, minute: int) -> datetime:
    return datetime.combine(day, time()) + timedelta(minutes=minute)


# --- interval helpers -----------------------------------------------------------------------------


def _union(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _subtract(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        pieces = [(lo, hi)]
        for h_lo, h_hi in holes:
            pieces = [
                piece
                for p_lo, p_hi in pieces
                for piece in ((p_lo, min(p_hi, h_lo)), (max(p_lo, h_hi), p_hi))
                if piece[0] < piece[1]
            ]
        out.extend(pieces)
    return out


def _minutes(intervals: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
    out = []
    for start, end in intervals:
        lo, hi = minute_of_day(start), minute_of_day(end, end=True)
        if lo is not None and hi is not None:
            out.append((lo, hi))
    return out


def local_working_minutes(staff: Staff, day: date) -> list[tuple[int, int]]:
    """The staff member's working time on a local date: (weekly - breaks + extra shifts) - leave,
    in minutes since local midnight, merged and sorted. Breaks cut the weekly hours only: an extra
    shift over the lunch hour is worked."""
    weekday = day.isoweekday()
    ranges = _subtract(
        _union(_minutes(staff.weekly_hours.on(weekday))), _union(_minutes(staff.breaks.on(weekday)))
    )
    todays = [e for e in staff.exceptions if e.day == day]
    ranges.extend(e.minutes() for e in todays if e.kind == EXTRA_SHIFT)
    leave = _union(e.minutes() for e in todays if e.kind == LEAVE)
    return _subtract(_union(ranges), leave)


def working_spans(staff: Staff, zone: ZoneInfo, first_day: date, last_day: date) -> list[Span]:
    """Working time over local dates first_day..last_day as merged UTC spans (a shift ending at
    24:00 joins one starting at 00:00 the next day)."""
    spans: list[Span] = []
    day = first_day
    while day <= last_day:
        for lo, hi in local_working_minutes(staff, day):
            start, end = local_to_utc(_wall(day, lo), zone), local_to_utc(_wall(day, hi), zone)
            if start < end:  # an interval wholly inside a gap vanishes
                spans.append((start, end))
        day += timedelta(days=1)
    spans.sort()
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class _Calendar:
    """Merged working spans of one staff member."""

    def __init__(self, spans: list[Span]):
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def covers(self, start: datetime, end: datetime) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end


class _Load:
    """How many busy intervals of one resource overlap each instant (a step function)."""

    def __init__(self, spans: Iterable[Span]):
        events: dict[datetime, int] = defaultdict(int)
        for start, end in spans:
            events[start] += 1
            events[end] -= 1
        self.times: list[datetime] = []
        self.counts: list[int] = []  # load on [times[i], times[i + 1])
        level = 0
        for moment in sorted(events):
            level += events[moment]
            self.times.append(moment)
            self.counts.append(level)

    def peak(self, start: datetime, end: datetime) -> int:
        i = bisect.bisect_right(self.times, start) - 1
        peak = self.counts[i] if i >= 0 else 0
        i += 1
        while i < len(self.times) and self.times[i] < end:
            peak = max(peak, self.counts[i])
            i += 1
        return peak


_IDLE = _Load(())


# --- validation -----------------------------------------------------------------------------------


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _plain_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _validate(
    *,
    tz: str,
    start_date: date,
    end_date: date,
    services: Sequence[Service],
    staff: Sequence[Staff],
    rooms: Sequence[Room],
    equipment: Sequence[Equipment],
    busy: Sequence[Busy],
    preferred_staff: str | None,
    step_minutes: int,
    now: datetime,
    min_lead_minutes: int,
) -> ZoneInfo:
    v = Violations()
    zone = store_zone(tz)
    if zone is None:
        v.add("tz", "must be an IANA time zone such as Asia/Shanghai")
    dates_ok = True
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if not _plain_date(value):
            v.add(name, "must be a date")
            dates_ok = False
        elif not 1900 <= value.year <= 9000:
            v.add(name, "must be between 1900 and 9000")
            dates_ok = False
    if dates_ok:
        if end_date < start_date:
            v.add("end_date", "must not be before start_date")
        elif (end_date - start_date).days + 1 > MAX_RANGE_DAYS:
            v.add("end_date", f"the range may span at most {MAX_RANGE_DAYS} days")
    if not services:
        v.add("services", "at least one service is required")
    elif len(services) > MAX_SERVICES:
        v.add("services", f"at most {MAX_SERVICES} services back to back")
    for i, service in enumerate(services):
        service.validate(v, f"services[{i}]")
    for i, member in enumerate(staff):
        member.validate(v, f"staff[{i}]")
    check_unique(v, "staff", [m.staff_id for m in staff])
    for i, room in enumerate(rooms):
        room.validate(v, f"rooms[{i}]")
    for i, piece in enumerate(equipment):
        piece.validate(v, f"equipment[{i}]")
    check_unique(
        v,
        "resources",
        [m.staff_id for m in staff] + [r.room_id for r in rooms] + [e.equipment_id for e in equipment],
    )
    for i, item in enumerate(busy):
        item.validate(v, f"busy[{i}]")
    if preferred_staff is not None and not preferred_staff:
        v.add("preferred_staff", "must be a staff id or absent")
    if isinstance(step_minutes, bool) or not isinstance(step_minutes, int):
        v.add("step_minutes", "must be an integer")
    elif not 1 <= step_minutes <= MAX_STEP_MINUTES:
        v.add("step_minutes", f"must be 1 .. {MAX_STEP_MINUTES}")
    if not _aware(now):
        v.add("now", "must be an aware datetime")
    if isinstance(min_lead_minutes, bool) or not isinstance(min_lead_minutes, int) or min_lead_minutes < 0:
        v.add("min_lead_minutes", "must be a non-negative integer")
    v.raise_if_any()
    if zone is None:  # pragma: no cover - raise_if_any raised
        raise InvalidArgument([("tz", "unknown time zone")])
    return zone


# --- the engine -----------------------------------------------------------------------------------


def find_slots(
    *,
    tz: str,
    start_date: date,
    end_date: date,
    services: Sequence[Service],
    staff: Sequence[Staff],
    rooms: Sequence[Room] = (),
    equipment: Sequence[Equipment] = (),
    busy: Sequence[Busy] = (),
    preferred_staff: str | None = None,
    step_minutes: int = 15,
    now: datetime,
    min_lead_minutes: int = 0,
) -> list[Slot]:
    """Bookable slots whose local start date lies in start_date..end_date (inclusive) for
    `services` done back to back, in order. See the module docstring for the rules.

    Raises `kit.errors.InvalidArgument` (one field violation per problem) for bad input.
    """
    zone = _validate(
        tz=tz,
        start_date=start_date,
        end_date=end_date,
        services=services,
        staff=staff,
        rooms=rooms,
        equipment=equipment,
        busy=busy,
        preferred_staff=preferred_staff,
        step_minutes=step_minutes,
        now=now,
        min_lead_minutes=min_lead_minutes,
    )
    services = list(services)
    now = now.astimezone(UTC)
    earliest_start = now + timedelta(minutes=min_lead_minutes)

    # Customer-time offsets of each service from the slot start, and the reserved block around it.
    offsets: list[timedelta] = []
    elapsed = timedelta()
    for service in services:
        offsets.append(elapsed)
        elapsed += service.duration
    total = elapsed
    lead_in = max(s.buffer_before - o for s, o in zip(services, offsets, strict=True))
    tail = max(o + s.duration + s.buffer_after for s, o in zip(services, offsets, strict=True))

    # Working time is needed on every local date a reserved block can touch.
    days_before = math.ceil(lead_in / timedelta(days=1)) + 1
    days_after = math.ceil(tail / timedelta(days=1)) + 1
    first_day = start_date - timedelta(days=days_before)
    last_day = end_date + timedelta(days=days_after)

    by_id = {m.staff_id: m for m in staff}
    if preferred_staff is not None:
        chosen = by_id.get(preferred_staff)
        if chosen is None or not all(chosen.can_do(s) for s in services):
            return []
        pool = [chosen]
    else:
        pool = sorted(staff, key=lambda m: m.staff_id)
    candidates = [[m.staff_id for m in pool if m.can_do(s)] for s in services]
    if not all(candidates):
        return []
    needed = {sid for ids in candidates for sid in ids}
    calendars = {
        sid: _Calendar(working_spans(by_id[sid], zone, first_day, last_day)) for sid in sorted(needed)
    }
    if not any(calendars[sid].starts for sid in needed):
        return []

    busy_by_resource: dict[str, list[Span]] = defaultdict(list)
    for item in busy:
        busy_by_resource[item.resource_id].append((item.start.astimezone(UTC), item.end.astimezone(UTC)))
    loads = {rid: _Load(spans) for rid, spans in busy_by_resource.items()}

    rooms_by_type: dict[str, list[Room]] = defaultdict(list)
    for room in sorted(rooms, key=lambda r: r.room_id):
        rooms_by_type[room.room_type].append(room)
    equipment_by_kind: dict[str, list[str]] = defaultdict(list)
    for piece in sorted(equipment, key=lambda e: e.equipment_id):
        equipment_by_kind[piece.kind].append(piece.equipment_id)

    def free(resource_id: str, block: Span, capacity: int = 1) -> bool:
        return loads.get(resource_id, _IDLE).peak(*block) < capacity

    slots: list[Slot] = []
    day = start_date
    while day <= end_date:
        for minute in range(0, MINUTES_PER_DAY, step_minutes):
            wall = _wall(day, minute)
            if not wall_exists(wall, zone):
                continue  # inside a spring-forward gap: not a time anyone can be booked at
            start = local_to_utc(wall, zone)
            if start < earliest_start or start - lead_in < now:
                continue
            # Independently per service: who and what could serve it. Resources shared between
            # services of this booking never clash with each other (blocks of one booking merge),
            # so the choices do not interact.
            options: list[tuple[Span, Span, list[str], list[str | None], list[str | None]]] = []
            for service, offset, ids in zip(services, offsets, candidates, strict=True):
                served = (start + offset, start + offset + service.duration)
                block = (served[0] - service.buffer_before, served[1] + service.buffer_after)
                who = [sid for sid in ids if calendars[sid].covers(*block) and free(sid, block)]
                rooms_ok: list[str | None] = [None]
                if service.room_type is not None:
                    rooms_ok = [
                        r.room_id
                        for r in rooms_by_type.get(service.room_type, [])
                        if free(r.room_id, block, r.capacity)
                    ]
                kit_ok: list[str | None] = [None]
                if service.equipment_kind is not None:
                    kit_ok = [
                        eid for eid in equipment_by_kind.get(service.equipment_kind, []) if free(eid, block)
                    ]
                if not (who and rooms_ok and kit_ok):
                    break
                options.append((served, block, who, rooms_ok, kit_ok))
            else:
                local_start = wall.strftime(LOCAL_FORMAT)
                for lead in options[0][2]:
                    slots.append(
                        Slot(
                            start_utc=start,
                            end_utc=start + total,
                            local_start=local_start,
                            tz=tz,
                            assignments=_assign(services, options, lead),
                        )
                    )
        day += timedelta(days=1)
    slots.sort(key=lambda s: (s.start_utc, s.staff_ids))
    return slots


def _prefer(previous: str | None, options: list[str | None]) -> str | None:
    return previous if previous in options else options[0]


def _assign(
    services: list[Service],
    options: list[tuple[Span, Span, list[str], list[str | None], list[str | None]]],
    lead: str,
) -> tuple[Assignment, ...]:
    out: list[Assignment] = []
    staff_id: str | None = lead
    room_id: str | None = None
    equipment_id: str | None = None
    for service, (served, block, who, rooms_ok, kit_ok) in zip(services, options, strict=True):
        staff_id = staff_id if staff_id in who else who[0]
        room_id = _prefer(room_id, rooms_ok)
        equipment_id = _prefer(equipment_id, kit_ok)
        out.append(
            Assignment(
                service_id=service.service_id,
                staff_id=staff_id,
                room_id=room_id,
                equipment_id=equipment_id,
                start_utc=served[0],
                end_utc=served[1],
                reserved_start_utc=block[0],
                reserved_end_utc=block[1],
            )
        )
    return tuple(out)
