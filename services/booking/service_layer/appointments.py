"""The appointment lifecycle: book, reschedule, cancel, check in, complete, mark a no-show.

Which transition is allowed when, and what it produces, is decided by the domain model
(`domain/appointment.py`); the handlers here load, lock, ask it, and carry out its effects.

Never check-then-insert: the working-hours check uses the domain engine's working spans, but
whether a staff member, room seat or piece of equipment is free is decided by the database's
exclusion constraint when the reservation rows are inserted. A collision (SQLSTATE 23P01) on every
candidate fails the booking with ABORTED `SLOT_TAKEN` and the whole transaction rolls back. The
resources to claim, with their candidates in order, are planned here (`claims_for`); a new booking
has them applied, with its appointment row and reminders, by one database call (`apply_booking`,
migration 0011), a reschedule by one savepoint per candidate seat (`reserve`). A
reschedule releases the old reservations and inserts the new ones in one transaction, so a taken
slot leaves the appointment as it was.

Every change locks the appointment row first (`SELECT ... FOR UPDATE`) and re-checks its state
under the lock, so two concurrent transitions of one appointment run one after the other and the
second sees the first's result (`INVALID_APPOINTMENT_STATE`).

Staff: with explicit `assignments` each service gets the staff member, room and equipment named
(validated against the service); otherwise one staff member does every service of a booking (the
requested one, or the first qualified staff member, by id — the current one first on a
reschedule — who is working then and still free), and one room per room type and one piece of
equipment per kind serve every service that needs them.

Member rules (`policy.member_rules`) run last before anything is written: they hold the member's
row lock to the commit, so the cap on open appointments is race-free. A new booking leaves the cap
to `apply_booking`, which takes that lock and counts under it in the same call that writes the
booking (and, from the BookAppointment RPC, its event and idempotency record: `book_appointment`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from google.protobuf.message import Message
from peony.booking.v1 import appointments_pb2, events_pb2

from kit.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from kit.ids import new_id
from kit.one_call import writes_for_one_call
from kit.proto import ts
from services.booking.adapters.appointment_repository import MemberOverCap, SlotTaken
from services.booking.adapters.catalog_repository import ServiceRecord
from services.booking.domain import appointment as model
from services.booking.domain.availability import LOCAL_FORMAT, MAX_SERVICES, store_zone, working_spans
from services.booking.domain.schedule import Staff
from services.booking.service_layer import holds, plans, policy, waitlist
from services.booking.service_layer.config_cache import ConfigCache, TenantConfig
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

Span = tuple[datetime, datetime]
BOOKED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW = (
    model.State.BOOKED.value,
    model.State.CHECKED_IN.value,
    model.State.COMPLETED.value,
    model.State.CANCELLED.value,
    model.State.NO_SHOW.value,
)
SELF_SERVICE = frozenset(
    {appointments_pb2.BOOKING_CHANNEL_ONLINE, appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM}
)
ACTOR_MEMBER, ACTOR_STAFF, ACTOR_SYSTEM = (
    appointments_pb2.ACTOR_MEMBER,
    appointments_pb2.ACTOR_STAFF,
    appointments_pb2.ACTOR_SYSTEM,
)


@dataclass(frozen=True)
class Assignment:
    """One entry of `assignments`: the service id and the resource names wanted for it (empty
    room / equipment: assigned by the service)."""

    service: str
    staff: str
    room: str = ""
    equipment: str = ""


@dataclass(frozen=True)
class Planned:
    record: ServiceRecord
    start: datetime
    end: datetime
    reserved_start: datetime
    reserved_end: datetime


def plan(records: Sequence[ServiceRecord], start_utc: datetime) -> list[Planned]:
    """Services back to back from `start_utc`; each reserves its buffers around it."""
    out, at = [], start_utc
    for r in records:
        end = at + r.service.duration
        out.append(Planned(r, at, end, at - r.service.buffer_before, end + r.service.buffer_after))
        at = end
    return out


def merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping blocks of one resource merge (a booking never collides with itself)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def covered(spans: list[Span], start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies within one working span (as the availability engine reads it)."""
    i = bisect.bisect_right([s for s, _ in spans], start) - 1
    return i >= 0 and spans[i][1] >= end


def works_through(staff: Staff, zone, blocks: Sequence[Span]) -> bool:
    first = min(s for s, _ in blocks).astimezone(zone).date() - timedelta(days=1)
    last = max(e for _, e in blocks).astimezone(zone).date() + timedelta(days=1)
    spans = working_spans(staff, zone, first, last)
    return all(covered(spans, s, e) for s, e in blocks)


def local(value: datetime, zone) -> str:
    return value.astimezone(zone).strftime(LOCAL_FORMAT)


def reminder_kind(minutes_before: int) -> str:
    return f"{minutes_before}m"


def reminders_for(
    start_utc: datetime, zone, tz: str, now: datetime, minutes_before: Sequence[int] = (1440, 120)
) -> list[dict]:
    """The reminder rows of an appointment starting at `start_utc`, one per offset: each due an
    exact number of minutes before the start, as a UTC instant (across a DST change the reminder
    keeps the exact interval, not the wall time); one already due is `skipped`."""
    start = start_utc.astimezone(UTC)
    out = []
    for minutes in sorted(set(minutes_before), reverse=True):
        due = start - timedelta(minutes=minutes)
        out.append(
            {
                "kind": reminder_kind(minutes),
                "minutes_before": minutes,
                "due_utc": due,
                "start_time": start,
                "local_start": local(start, zone),
                "time_zone": tz,
                "state": "scheduled" if due >= now else "skipped",
            }
        )
    return out


def field_of(a: Any, name: str, default: Any = None) -> Any:
    """A column of an appointment given as a Row or a dict (None / default when absent)."""
    if isinstance(a, Mapping):
        return a.get(name, default)
    return a._mapping.get(name, default)


def hold_of(a: Any) -> appointments_pb2.AppointmentHold | None:
    """The appointment's wallet hold (the `hold` JSONB written by holds.py), if it has one."""
    raw = field_of(a, "hold")
    if not isinstance(raw, dict):
        return None
    return json_format.ParseDict(raw, appointments_pb2.AppointmentHold(), ignore_unknown_fields=True)


def summaries(booked: Sequence[dict]) -> list[events_pb2.AppointmentServiceSummary]:
    return [
        events_pb2.AppointmentServiceSummary(
            service=f"services/{b['service']}",
            display_name=b["display_name"],
            staff=b["staff"],
            room=b["room"],
            equipment=b["equipment"],
            start_time=ts(datetime.fromisoformat(b["start"])),
            end_time=ts(datetime.fromisoformat(b["end"])),
        )
        for b in booked
    ]


# --- reading -------------------------------------------------------------------------------------
async def with_reminders(uow: BookingUnitOfWork, rows: Sequence[Any]) -> list[dict]:
    """Rows as dicts carrying their current reminders (`reminders`: the generation of their last
    reschedule), as `appointment_to_proto` reads them."""
    dicts = [r if isinstance(r, dict) else r._asdict() for r in rows]
    found = await uow.appointments.reminders_of(
        [(str(d["appointment_id"]), d.get("reschedule_count") or 0) for d in dicts]
    )
    out = []
    for d in dicts:
        reminders = [
            {"minutes_before": r.minutes_before, "due_utc": r.due_utc, "state": r.state}
            for r in found.get(str(d["appointment_id"]), [])
        ]
        out.append({**d, "reminders": sorted(reminders, key=lambda r: r["due_utc"])})
    return out


async def load(uow: BookingUnitOfWork, appointment_id: str, *, for_update: bool = False):
    row = await uow.appointments.get(appointment_id, for_update=for_update)
    if row is None:
        raise NotFound(f"appointments/{appointment_id} not found", reason="APPOINTMENT_NOT_FOUND")
    return row


async def list_appointments(
    uow: BookingUnitOfWork,
    *,
    limit: int,
    store_ids: Sequence[str] | None,
    member_id: str | None,
    staff: str | None,
    states: Sequence[str],
    start_from: datetime | None,
    start_to: datetime | None,
    after: tuple[datetime, str] | None,
) -> list[dict]:
    rows = await uow.appointments.list_page(
        limit=limit,
        store_ids=store_ids,
        member_id=member_id,
        staff=staff,
        states=states,
        start_from=start_from,
        start_to=start_to,
        after=after,
    )
    return await with_reminders(uow, rows)


# --- assigning and reserving resources -----------------------------------------------------------
@dataclass
class Reservation:
    """What a booking or reschedule at `start_utc` needs, validated before anything is written."""

    store: str
    zone: ZoneInfo
    tz: str
    records: list[ServiceRecord]
    planned: list[Planned]
    # service index -> staff resource name, from `assignments`
    staff_of: dict[int, str] = field(default_factory=dict)
    # staff who may do every service without an explicit staff member, in preference order
    candidates: list[str] = field(default_factory=list)
    room_of: dict[int, str] = field(default_factory=dict)
    equipment_of: dict[int, str] = field(default_factory=dict)
    rooms: list = field(default_factory=list)
    equipment: list = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.planned[-1].end

    def blocks(self, indexes: Sequence[int]) -> list[Span]:
        return merge([(self.planned[i].reserved_start, self.planned[i].reserved_end) for i in indexes])


async def prepare(
    uow: BookingUnitOfWork,
    *,
    store: str,
    service_ids: Sequence[str],
    staff: str | None,
    assignments: Sequence[Assignment],
    start_utc: datetime,
    now: datetime,
    self_service: bool,
    lead_minutes: int = 0,
    prefer: Sequence[str] = (),
    config: TenantConfig | None = None,
) -> Reservation:
    """Validates a booking of `service_ids` back to back from `start_utc` at `store` and picks
    who may serve it; raises the documented errors. `self_service` (online, mini program) allows
    only online-bookable services and staff and enforces the minimum notice `lead_minutes`;
    `prefer` orders the candidate staff (a reschedule keeps the current one). The store's zone and
    the services come from `config` when given (the in-process copy, config_cache.py)."""
    if not service_ids or len(service_ids) > MAX_SERVICES:
        raise InvalidArgument([("services", f"must list 1 .. {MAX_SERVICES} services")])
    if assignments and [a.service for a in assignments] != list(service_ids):
        raise InvalidArgument([("assignments", "must list the services in the order of `services`")])
    tz = await (config.store_zone(uow, store) if config else uow.catalog.store_zone(store))
    zone = store_zone(tz or "")
    if zone is None:
        raise NotFound(f"stores/{store} not found", reason="STORE_NOT_FOUND")
    found = await (
        config.services_at(uow, service_ids, store)
        if config
        else uow.catalog.services(service_ids, store_id=store)
    )
    missing = [s for s in service_ids if s not in found]
    if missing:
        raise NotFound(
            f"services/{missing[0]} not found",
            reason="SERVICE_NOT_FOUND",
            metadata={"service": f"services/{missing[0]}"},
        )
    records = [found[s] for s in service_ids]
    if self_service:
        for sid, rec in zip(service_ids, records, strict=True):
            if not rec.online_bookable:
                raise FailedPrecondition(
                    f"services/{sid} cannot be booked online",
                    reason="SERVICE_NOT_OFFERED",
                    metadata={"service": f"services/{sid}"},
                )
    # Members book only the staff they may pick online (as availability offers them). The rows are
    # locked FOR SHARE before their schedules are read, so a concurrent schedule change (which
    # locks FOR UPDATE) and this booking are judged one after the other; only the named staff
    # when every service names one, else the whole roster the candidates come from.
    named = {a.staff for a in assignments if a.staff} | ({staff} if staff else set())
    everyone_named = staff is not None or (bool(assignments) and all(a.staff for a in assignments))
    roster = {
        s.staff_id: s
        for s in await uow.catalog.staff(
            store,
            online_bookable_only=self_service,
            lock_shared=True,
            only=sorted(named) if everyone_named else None,
        )
    }

    def known(name: str) -> Staff:
        if name not in roster:
            raise NotFound(f"{name} not found", reason="STAFF_NOT_FOUND", metadata={"staff": name})
        return roster[name]

    def qualified(member: Staff, indexes: Sequence[int]) -> bool:
        return all(member.can_do(records[i].service) for i in indexes)

    staff_of = {i: a.staff for i, a in enumerate(assignments)}
    for i, name in staff_of.items():
        if not qualified(known(name), [i]):
            raise FailedPrecondition(
                f"{name} lacks a required skill", reason="STAFF_NOT_QUALIFIED", metadata={"staff": name}
            )
    common = [i for i in range(len(records)) if i not in staff_of]
    if common and staff is not None:
        if not qualified(known(staff), common):
            raise FailedPrecondition(
                f"{staff} lacks a required skill", reason="STAFF_NOT_QUALIFIED", metadata={"staff": staff}
            )
        candidates = [staff]
    elif common:
        rank = {name: k for k, name in enumerate(prefer)}
        candidates = sorted(
            (name for name, s in roster.items() if qualified(s, common)),
            key=lambda name: (rank.get(name, len(rank)), name),
        )
    else:
        candidates = []

    if start_utc < now:
        raise FailedPrecondition("the start is in the past", reason="SLOT_IN_PAST")
    planned = plan(records, start_utc)
    if min(p.reserved_start for p in planned) < now:
        raise FailedPrecondition("the preparation time would start in the past", reason="SLOT_IN_PAST")
    if self_service and lead_minutes > 0 and start_utc < now + timedelta(minutes=lead_minutes):
        raise FailedPrecondition(
            f"self-service bookings need {lead_minutes} minutes' notice",
            reason="LEAD_TIME_TOO_SHORT",
            metadata={"min_lead_minutes": str(lead_minutes)},
        )
    r = Reservation(store, zone, tz or "", records, planned, staff_of=staff_of)
    for name in sorted(set(staff_of.values())):
        mine = [i for i, n in staff_of.items() if n == name]
        if not works_through(roster[name], zone, r.blocks(mine)):
            raise FailedPrecondition(
                f"the slot is outside {name}'s working hours",
                reason="OUTSIDE_WORKING_HOURS",
                metadata={"staff": name},
            )
    if common:
        r.candidates = [c for c in candidates if works_through(roster[c], zone, r.blocks(common))]
        if not r.candidates:
            raise FailedPrecondition(
                "the slot is outside the staff member's working hours", reason="OUTSIDE_WORKING_HOURS"
            )

    # FOR SHARE against a concurrent capacity change, when a room is needed at all. A pool no
    # service needs and no assignment names is not read (a round trip each): only a needed pool
    # is ever consulted below (an unneeded room or equipment is refused before its lookup).
    rooms_needed = any(rec.service.room_type for rec in records)
    equipment_needed = any(rec.service.equipment_kind for rec in records)
    if rooms_needed or any(a.room for a in assignments):
        r.rooms = await uow.catalog.rooms(store, lock_shared=rooms_needed)
    if equipment_needed or any(a.equipment for a in assignments):
        r.equipment = await uow.catalog.equipment(store)
    bad: list[tuple[str, str]] = []
    for i, a in enumerate(assignments):
        service = records[i].service
        for value, needed, pool, kind_of, target, what in (
            (a.room, service.room_type, r.rooms, lambda x: x.room_type, r.room_of, "room"),
            (a.equipment, service.equipment_kind, r.equipment, lambda x: x.kind, r.equipment_of, "equipment"),
        ):
            if not value:
                continue
            if needed is None:
                bad.append((f"assignments[{i}].{what}", f"services/{a.service} needs no {what}"))
                continue
            match = [x for x in pool if (x.room_id if what == "room" else x.equipment_id) == value]
            if not match:
                raise NotFound(
                    f"{value} not found", reason=f"{what.upper()}_NOT_FOUND", metadata={what: value}
                )
            if kind_of(match[0]) != needed:
                bad.append(
                    (f"assignments[{i}].{what}", f"services/{a.service} needs a {what} of type {needed}")
                )
                continue
            target[i] = value
    if bad:
        raise InvalidArgument(bad)
    for needed, pool, what in (("room_type", r.rooms, "room"), ("equipment_kind", r.equipment, "equipment")):
        for requirement in {getattr(rec.service, needed) for rec in records} - {None}:
            if not any((x.room_type if what == "room" else x.kind) == requirement for x in pool):
                raise FailedPrecondition(
                    f"the store has no active {what} of type {requirement}",
                    reason="RESOURCE_UNAVAILABLE",
                    metadata={what: requirement},
                )
    return r


@dataclass(frozen=True)
class Claim:
    """One resource a booking must reserve: the first free seat among `options` (resource name,
    seats), in order, for `spans`; the chosen resource fills field `kind` (staff, room,
    equipment) of the booked services at `services`."""

    kind: str
    options: tuple[tuple[str, int], ...]
    spans: tuple[Span, ...]
    services: tuple[int, ...]

    @property
    def taken(self) -> str:
        """What SLOT_TAKEN names when no option is free: the resource, or the kind of several."""
        return self.options[-1][0] if len(self.options) == 1 else self.kind


def claims_for(appointment_id: str, r: Reservation) -> list[Claim]:
    """The claims of a reservation, in the order they are taken (both appliers keep it): explicit
    staff by name, then the shared staff member among the candidates, then rooms and equipment."""
    n = len(r.records)
    out: list[Claim] = []

    def add(kind: str, options: list[tuple[str, int]], indexes: Sequence[int]) -> None:
        out.append(Claim(kind, tuple(options), tuple(r.blocks(indexes)), tuple(indexes)))

    for name in sorted(set(r.staff_of.values())):
        add("staff", [(name, 1)], [i for i, s in r.staff_of.items() if s == name])
    common = [i for i in range(n) if i not in r.staff_of]
    if common:
        add("staff", [(c, 1) for c in r.candidates], common)
    for needed, pool, kind, explicit in (
        ("room_type", r.rooms, "room", r.room_of),
        ("equipment_kind", r.equipment, "equipment", r.equipment_of),
    ):
        for resource in sorted(set(explicit.values())):
            capacity = next((x.capacity for x in pool if x.room_id == resource), 1) if kind == "room" else 1
            add(kind, [(resource, capacity)], [i for i, v in explicit.items() if v == resource])
        for requirement in sorted({getattr(rec.service, needed) for rec in r.records} - {None}):
            wanting = [
                i
                for i in range(n)
                if getattr(r.records[i].service, needed) == requirement and i not in explicit
            ]
            if not wanting:
                continue
            if kind == "room":
                options = [(x.room_id, x.capacity) for x in pool if x.room_type == requirement]
            else:
                options = [(x.equipment_id, 1) for x in pool if x.kind == requirement]
            # Interchangeable rooms / equipment: each booking starts its search at its own place
            # (from its id), so concurrent bookings spread out instead of all colliding on the
            # first free one (each collision is a wait, or a deadlock, in the exclusion check).
            start = int(appointment_id.replace("-", "")[-8:], 16) % len(options)
            add(kind, options[start:] + options[:start], wanting)
    return out


def booked_services(r: Reservation, chosen: Mapping[int, Mapping[str, str]]) -> list[dict]:
    """The `services` column: each planned service with the resources `chosen` for it (by kind;
    "" where none was, as the database function starts from)."""
    return [
        {
            "service": p.record.service.service_id,
            "display_name": p.record.display_name,
            "staff": chosen.get(i, {}).get("staff", ""),
            "room": chosen.get(i, {}).get("room", ""),
            "equipment": chosen.get(i, {}).get("equipment", ""),
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "reserved_start": p.reserved_start.isoformat(),
            "reserved_end": p.reserved_end.isoformat(),
            "list_price_minor": p.record.list_price_minor,
        }
        for i, p in enumerate(r.planned)
    ]


def slot_taken(resource: str) -> Aborted:
    return Aborted(
        "the slot was just taken; query availability again",
        reason="SLOT_TAKEN",
        metadata={"resource": resource},
    )


async def reserve(uow: BookingUnitOfWork, appointment_id: str, r: Reservation) -> list[dict]:
    """Inserts the reservation rows claim by claim, one savepoint per candidate seat (the
    exclusion constraint decides); returns the booked services. ABORTED `SLOT_TAKEN` when every
    option of some claim is taken. (A new booking applies the same claims in one database call:
    `book_appointment`.)"""
    chosen: dict[int, dict[str, str]] = {}
    for claim in claims_for(appointment_id, r):
        got = await first_free(uow, appointment_id, claim)
        if got is None:
            raise slot_taken(claim.taken)
        for i in claim.services:
            chosen.setdefault(i, {})[claim.kind] = got
    return booked_services(r, chosen)


async def first_free(uow: BookingUnitOfWork, appointment_id: str, claim: Claim) -> str | None:
    for resource_id, capacity in claim.options:
        for seat in range(1, capacity + 1):
            if await uow.appointments.reserve(appointment_id, resource_id, claim.kind, claim.spans, seat):
                return resource_id
    return None


def booking_plan(
    tenant: str,
    appointment: Mapping[str, Any],
    services: Sequence[dict],
    claims: Sequence[Claim],
    reminders: Sequence[dict],
    *,
    now: datetime | None = None,
    member_cap: Mapping[str, Any] | None = None,
    expect: Sequence[str] | None = None,
    writes: Mapping[str, Any] | None = None,
    config_version: int | None = None,
) -> str:
    """The JSON the database function `apply_booking` (migrations 0011, 0013) applies: the
    appointment row (created and updated at `now`), the booked services with their resources still
    empty, the claims in the order they are taken (each filling its services' field `kind`), the
    reminders; the member's cap to check under the member's lock (`member_cap`); and for a plan
    built for one outcome, the resource each claim `expect`s and the outbox rows and idempotency
    record (`writes`, kit.one_call) written with it, and the version of the tenant's configuration it
    was planned from (`config_version`, config_cache.py) when not read in its transaction."""

    def instant(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    plan: dict[str, Any] = {
        "tenant": tenant,
        "appointment": {k: instant(v) for k, v in appointment.items()},
        "services": list(services),
        "claims": [
            {
                "kind": c.kind,
                "options": [list(o) for o in c.options],
                "spans": [[s.isoformat(), e.isoformat()] for s, e in c.spans],
                "services": list(c.services),
                "taken": c.taken,
                **({"expect": expect[k]} if expect is not None else {}),
            }
            for k, c in enumerate(claims)
        ],
        "reminders": [{k: instant(v) for k, v in m.items()} for m in reminders],
    }
    if now is not None:
        plan["now"] = now.isoformat()
    if member_cap is not None:
        plan["member_cap"] = {k: instant(v) for k, v in member_cap.items()}
    if writes is not None:
        plan.update(writes)
    if config_version is not None:
        plan["config_version"] = config_version
    return json.dumps(plan)


def expected_choice(claims: Sequence[Claim]) -> tuple[list[str], dict[int, dict[str, str]]]:
    """The outcome a one-call plan is built for: every claim gets its first option (what the
    database function takes when nothing collides); per claim, and per service index by kind."""
    expect = [c.options[0][0] for c in claims]
    chosen: dict[int, dict[str, str]] = {}
    for c, resource in zip(claims, expect, strict=True):
        for i in c.services:
            chosen.setdefault(i, {})[c.kind] = resource
    return expect, chosen


def booked_event(
    a: Mapping[str, Any], hold: appointments_pb2.AppointmentHold | None
) -> events_pb2.AppointmentBooked:
    """`AppointmentBooked` of a newly booked appointment (its row, or the row it is planned to be)."""
    return events_pb2.AppointmentBooked(
        appointment=f"appointments/{a['appointment_id']}",
        member=f"members/{a['member_id']}",
        store=f"stores/{a['store_id']}",
        channel=a["channel"],
        services=summaries(a["services"]),
        start_time=ts(a["start_time"]),
        end_time=ts(a["end_time"]),
        local_start=a["local_start"],
        time_zone=a["time_zone"],
        wallet_hold=hold.hold if hold else "",
        waitlist_entry=a.get("waitlist_entry") or "",
        overridden_rules=list(a["overridden_rules"]),
    )


def planned_row(
    appointment: Mapping[str, Any], booked: list[dict], reminders: Sequence[dict], now: datetime
) -> dict:
    """The appointment as `apply_booking` will return it when the plan's outcome holds (with its
    reminders, as `book_appointment` returns it)."""
    return {
        **appointment,
        "state": BOOKED,
        "services": booked,
        "overridden_rules": list(appointment["overridden_rules"]),
        "reschedule_count": 0,
        "hold": None,
        "create_time": now,
        "update_time": now,
        "reminders": reminder_view(reminders),
    }


# --- booking ---------------------------------------------------------------------------------------
async def book_appointment(
    uow: BookingUnitOfWork,
    *,
    member: str,
    store: str,
    service_ids: Sequence[str],
    staff: str | None,
    start_utc: datetime,
    channel: int,
    notes: str = "",
    staff_override: bool = False,
    override_reason: str = "",
    now: datetime | None = None,
    assignments: Sequence[Assignment] = (),
    wallet_hold: appointments_pb2.WalletHoldSpec | None = None,
    request_key: str = "",
    booked_by: str = "",
    waitlist_entry: str | None = None,
    respond: Callable[[dict], Message] | None = None,
) -> dict:
    """Books `service_ids` back to back from `start_utc` at `store`; returns the appointment row
    (as a dict, with its reminders). `member`, `store` are ids; `staff` a resource name or None
    (ignored for the services `assignments` names staff for). `staff_override` (staff only,
    checked by the caller) books past the member rules, recording which. `booked_by` defaults to
    the member; `waitlist_entry` (`waitlistEntries/{entry}`) records the offer it came from.

    With `respond` (the RPC's response of a row) and no wallet hold, the booking is written whole
    by one database call: the plan carries the event and the response it will have when every
    claim gets its first option and the member is within the cap, and `apply_booking` writes them
    with the rows (and the idempotency record) or finds the plan stale, which re-runs the
    transaction (`uow.attempt` > 0): that run applies the rows first and builds the event from
    what the database chose, as a booking with a hold (whose response needs the wallet's answer)
    always does."""
    now = now or datetime.now(UTC)
    whole = respond is not None and wallet_hold is None and uow.attempt == 0
    # The policy, the zone and the services from the in-process copy on the one-call path (its
    # version re-checked by the call); from the database on a re-run, which drops the copy.
    cache: ConfigCache | None = uow.deps.get("config_cache")
    config = await cache.of(uow) if cache is not None and whole else None
    if cache is not None and uow.attempt > 0:
        cache.forget(uow.tenant)
    rules = await (config.load_policy(uow) if config else policy.load_policy(uow))
    r = await prepare(
        uow,
        store=store,
        service_ids=service_ids,
        staff=staff,
        assignments=assignments,
        start_utc=start_utc,
        now=now,
        self_service=channel in SELF_SERVICE,
        lead_minutes=rules.min_lead_minutes,
        config=config,
    )
    # Member rules last before writing; the cap is counted by the database call below, under the
    # member's row lock, which is held to the commit.
    overridden = await policy.member_rules(
        uow,
        member,
        start_utc,
        r.zone,
        now,
        rules,
        channel=channel,
        staff_override=staff_override,
        count_open=False,
    )

    appointment_id = new_id()
    reminders = reminders_for(start_utc, r.zone, r.tz, now, rules.reminder_minutes_before)
    appointment = {
        "appointment_id": appointment_id,
        "member_id": member,
        "store_id": store,
        "channel": channel,
        "start_time": start_utc,
        "end_time": r.end,
        "local_start": local(start_utc, r.zone),
        "local_end": local(r.end, r.zone),
        "time_zone": r.tz,
        "list_price_minor": sum(rec.list_price_minor for rec in r.records),
        "currency_code": r.records[0].currency_code,
        "notes": notes,
        "overridden_rules": overridden,
        "override_reason": (override_reason or None) if staff_override else None,
        "booked_by": booked_by or f"members/{member}",
        "waitlist_entry": waitlist_entry,
    }
    claims = claims_for(appointment_id, r)
    member_cap = {
        "member_id": member,
        "max_open": rules.max_open_appointments,
        "now": now,
        "may_exceed": staff_override,
    }
    try:
        if whole and respond is not None:
            # One round trip for everything: the rows, the event and the idempotency record.
            expect, chosen = expected_choice(claims)
            planned = planned_row(appointment, booked_services(r, chosen), reminders, now)
            event = (booked_event(planned, None), "appointment", appointment_id)
            writes = writes_for_one_call(uow, [event], respond(planned))
            plan_json = booking_plan(
                uow.tenant,
                appointment,
                booked_services(r, {}),
                claims,
                reminders,
                now=now,
                member_cap={**member_cap, "expect_over": False},
                expect=expect,
                writes=writes,
                config_version=config.version if config else None,
            )
            await uow.appointments.apply_booking(plan_json)
            return planned
        # One round trip for the rows (the exclusion constraint deciding, candidates in order).
        plan_json = booking_plan(
            uow.tenant, appointment, booked_services(r, {}), claims, reminders, now=now, member_cap=member_cap
        )
        row = await uow.appointments.apply_booking(plan_json)
    except SlotTaken as taken:
        raise slot_taken(taken.resource) from None
    except MemberOverCap as over:
        message, metadata = policy.too_many_open(over.open_now, rules.max_open_appointments)
        raise FailedPrecondition(
            message, reason=policy.TOO_MANY_OPEN_APPOINTMENTS, metadata=metadata
        ) from None
    # After the slot is secured, so a taken slot never reaches the wallet.
    if wallet_hold is not None:
        await holds.authorize(
            uow,
            appointment_id=appointment_id,
            member_id=member,
            store_id=store,
            spec=wallet_hold,
            start_utc=start_utc,
            end_utc=r.end,
            policy=rules,
            request_key=request_key,
        )
        row = await load(uow, appointment_id)
    uow.emit(
        booked_event(row._asdict(), hold_of(row)), aggregate_type="appointment", aggregate_id=appointment_id
    )
    # The reminders are the ones just planned: no read back.
    return {**row._asdict(), "reminders": reminder_view(reminders)}


def reminder_view(reminders: Sequence[dict]) -> list[dict]:
    """Planned reminder rows as `with_reminders` gives them."""
    view = [
        {"minutes_before": m["minutes_before"], "due_utc": m["due_utc"], "state": m["state"]}
        for m in reminders
    ]
    return sorted(view, key=lambda m: m["due_utc"])


async def reschedule_appointment(
    uow: BookingUnitOfWork,
    appointment_id: str,
    *,
    start_utc: datetime,
    actor: int,
    staff: str | None = None,
    assignments: Sequence[Assignment] = (),
    staff_override: bool = False,
    override_reason: str = "",
    request_key: str = "",
    payment_pin: str = "",
    now: datetime | None = None,
) -> dict:
    """Moves a BOOKED appointment to `start_utc` (same services), atomically: the old
    reservations are released and the new ones inserted in this transaction, so a refusal leaves
    it as it was. A member may do so only until the free-cancellation cut-off; staff until the
    start. Reminders are re-issued (a new generation), the freed time goes to the waitlist, and a
    wallet hold that would expire before the new end (+ grace) is extended in place by the wallet
    (holds.on_reschedule: the same hold, the same value, no PIN)."""
    now = now or datetime.now(UTC)
    before = await load(uow, appointment_id, for_update=True)
    rules = await policy.load_policy(uow)
    change = decided(
        model.decide_reschedule,
        before.state,
        start=before.start_time,
        now=now,
        by_member=actor == ACTOR_MEMBER,
        free_minutes_before=rules.cancel_free_minutes_before,
    )
    channel = before.channel
    if actor == ACTOR_MEMBER and channel not in SELF_SERVICE:
        channel = appointments_pb2.BOOKING_CHANNEL_ONLINE  # the member acts through self-service
    current = [s["staff"] for s in before.services]
    r = await prepare(
        uow,
        store=before.store_id,
        service_ids=[s["service"] for s in before.services],
        staff=staff,
        assignments=assignments,
        start_utc=start_utc,
        now=now,
        self_service=actor == ACTOR_MEMBER,
        lead_minutes=rules.min_lead_minutes,
        prefer=list(dict.fromkeys(current)),
    )
    with uow.appointments.not_counting(appointment_id):
        overridden = await policy.member_rules(
            uow,
            before.member_id,
            start_utc,
            r.zone,
            now,
            rules,
            channel=channel,
            staff_override=staff_override,
        )
    await carry_out(uow, appointment_id, change)
    booked = await reserve(uow, appointment_id, r)
    # After the new slot is secured, so a taken slot never reaches the wallet.
    await holds.on_reschedule(
        uow,
        appointment_id,
        member_id=before.member_id,
        store_id=before.store_id,
        new_end_utc=r.end,
        new_start_utc=start_utc,
        policy=rules,
        request_key=request_key,
        payment_pin=payment_pin,
    )
    generation = before.reschedule_count + 1
    row = await uow.appointments.update(
        appointment_id,
        start_time=start_utc,
        end_time=r.end,
        local_start=local(start_utc, r.zone),
        local_end=local(r.end, r.zone),
        time_zone=r.tz,
        services=booked,
        reschedule_count=generation,
        overridden_rules=sorted(set(before.overridden_rules) | set(overridden)),
        override_reason=(override_reason or None)
        if staff_override and overridden
        else before.override_reason,
    )
    await uow.appointments.schedule_reminders(
        appointment_id,
        reminders_for(start_utc, r.zone, r.tz, now, rules.reminder_minutes_before),
        generation=generation,
    )
    await waitlist.on_time_freed(uow, before, now)
    uow.emit(
        events_pb2.AppointmentRescheduled(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{before.member_id}",
            store=f"stores/{before.store_id}",
            previous_start_time=ts(before.start_time),
            previous_local_start=before.local_start,
            services=summaries(booked),
            start_time=ts(start_utc),
            end_time=ts(r.end),
            local_start=row.local_start,
            time_zone=r.tz,
            actor=actor,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return (await with_reminders(uow, [row]))[0]


# --- the other transitions -----------------------------------------------------------------------
def decided(rule: Callable[..., model.Transition], *args: Any, **kwargs: Any) -> model.Transition:
    """Asks the domain model; its refusal becomes FAILED_PRECONDITION with the same reason."""
    try:
        return rule(*args, **kwargs)
    except model.Refused as refused:
        raise FailedPrecondition(refused.message, reason=refused.reason, metadata=refused.metadata) from None


async def carry_out(uow: BookingUnitOfWork, appointment_id: str, change: model.Transition) -> None:
    """The effects of `change` on the appointment's own rows and its hold, in the order every
    transition takes them (reservations, reminders, hold); the waitlist and the policy counters
    follow once the new state is written."""
    if change.releases_resources:
        await uow.appointments.release(appointment_id)
    if change.cancels_reminders:
        await uow.appointments.cancel_reminders(appointment_id)
    if change.settles_hold:
        await holds.settle(uow, appointment_id, capture=change.capture_hold, reason=change.hold_reason)


async def cancel_appointment(
    uow: BookingUnitOfWork,
    appointment_id: str,
    *,
    reason: str = "",
    actor: int = ACTOR_STAFF,
    waive_late_cancel: bool = False,
    now: datetime | None = None,
) -> dict:
    """Cancels a BOOKED appointment. After start - `cancel_free_minutes_before` it is a late
    cancel unless staff waive it (the caller checks that only staff waive); a member may not
    cancel once it has started (`SLOT_IN_PAST`). The hold is captured on a late cancel as the
    policy says (holds.py decides per kind), else voided."""
    now = now or datetime.now(UTC)
    row = await load(uow, appointment_id, for_update=True)
    rules = await policy.load_policy(uow)
    change = decided(
        model.decide_cancel,
        row.state,
        start=row.start_time,
        now=now,
        by_member=actor == ACTOR_MEMBER,
        free_minutes_before=rules.cancel_free_minutes_before,
        waive_late_cancel=waive_late_cancel,
    )
    counted = change.counts_late_cancel
    await carry_out(uow, appointment_id, change)
    updated = await uow.appointments.set_state(
        appointment_id,
        change.target,
        cancel_reason=reason or None,
        cancel_time=now,
        cancelled_by=actor,
        late_cancel=counted,
        late_cancel_waived=change.waived,
    )
    if counted:
        await policy.on_late_cancel(uow, updated, now, rules)
    if change.frees_time:
        await waitlist.on_time_freed(uow, row, now)
    hold = hold_of(updated)
    uow.emit(
        events_pb2.AppointmentCancelled(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}",
            start_time=ts(row.start_time),
            local_start=row.local_start,
            time_zone=row.time_zone,
            cancelled_by=actor,
            late_cancel=counted,
            staff=sorted({s["staff"] for s in row.services}),
            services=[f"services/{s['service']}" for s in row.services],
            wallet_hold=hold.hold if hold else "",
            hold_state=hold.state if hold else appointments_pb2.APPOINTMENT_HOLD_STATE_UNSPECIFIED,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return (await with_reminders(uow, [updated]))[0]


async def check_in_appointment(
    uow: BookingUnitOfWork, appointment_id: str, *, now: datetime | None = None
) -> dict:
    """BOOKED → CHECKED_IN, from the start of the appointment's store-local day. The reminders
    not fired yet are cancelled: the member is here."""
    now = now or datetime.now(UTC)
    row = await load(uow, appointment_id, for_update=True)
    change = decided(
        model.decide_check_in, row.state, start=row.start_time, zone=store_zone(row.time_zone) or UTC, now=now
    )
    await carry_out(uow, appointment_id, change)
    updated = await uow.appointments.set_state(appointment_id, change.target, check_in_time=now)
    uow.emit(
        events_pb2.AppointmentCheckedIn(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}",
            start_time=ts(row.start_time),
            check_in_time=ts(now),
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return (await with_reminders(uow, [updated]))[0]


async def complete_appointment(
    uow: BookingUnitOfWork, appointment_id: str, *, capture_hold: bool = False, now: datetime | None = None
) -> tuple[dict, list[appointments_pb2.FollowUp]]:
    """CHECKED_IN (or BOOKED, checking in now) → COMPLETED once it has started; settles the hold
    (captured with `capture_hold`, else voided) and schedules the service plans' follow-ups. The
    reservations stay, for the record. Returns the row and the follow-ups plans.py reports."""
    now = now or datetime.now(UTC)
    row = await load(uow, appointment_id, for_update=True)
    change = decided(
        model.decide_complete, row.state, start=row.start_time, now=now, capture_hold=capture_hold
    )
    rules = await policy.load_policy(uow)
    await carry_out(uow, appointment_id, change)
    updated = await uow.appointments.set_state(
        appointment_id, change.target, complete_time=now, check_in_time=row.check_in_time or now
    )
    follow_ups = [
        f if isinstance(f, appointments_pb2.FollowUp) else plans.follow_up_to_proto(f)
        for f in await plans.on_completed(uow, updated, now, rules)
    ]
    hold = hold_of(updated)
    uow.emit(
        events_pb2.AppointmentCompleted(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}",
            services=summaries(row.services),
            start_time=ts(row.start_time),
            complete_time=ts(now),
            wallet_hold=hold.hold if hold else "",
            hold_state=hold.state if hold else appointments_pb2.APPOINTMENT_HOLD_STATE_UNSPECIFIED,
            follow_ups=[f.name for f in follow_ups],
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return (await with_reminders(uow, [updated]))[0], follow_ups


async def mark_no_show(
    uow: BookingUnitOfWork, appointment_id: str, *, now: datetime | None = None
) -> tuple[dict, appointments_pb2.BookingStanding | None]:
    """BOOKED → NO_SHOW from start + `no_show_grace_minutes`: frees the resources (offered to the
    waitlist), captures the hold as the policy says and counts it against the no-show policy.
    Returns the row and the member's standing when policy.py reports it."""
    now = now or datetime.now(UTC)
    row = await load(uow, appointment_id, for_update=True)
    rules = await policy.load_policy(uow)
    change = decided(
        model.decide_no_show,
        row.state,
        start=row.start_time,
        now=now,
        grace_minutes=rules.no_show_grace_minutes,
    )
    await carry_out(uow, appointment_id, change)
    updated = await uow.appointments.set_state(appointment_id, change.target, no_show_time=now)
    result = await policy.on_no_show(uow, updated, now, rules) if change.counts_no_show else None
    standing = result if isinstance(result, appointments_pb2.BookingStanding) else None
    if change.frees_time:
        await waitlist.on_time_freed(uow, row, now)
    hold = hold_of(updated)
    uow.emit(
        events_pb2.AppointmentNoShow(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}",
            start_time=ts(row.start_time),
            no_shows_in_window=standing.no_shows_in_window if standing else 0,
            restricted_until=(
                standing.restricted_until if standing and standing.HasField("restricted_until") else None
            ),
            wallet_hold=hold.hold if hold else "",
            hold_state=hold.state if hold else appointments_pb2.APPOINTMENT_HOLD_STATE_UNSPECIFIED,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return (await with_reminders(uow, [updated]))[0], standing


async def update_notes(uow: BookingUnitOfWork, appointment_id: str, notes: str) -> dict:
    """Changes only the notes (staff-visible, never in events: no event)."""
    await load(uow, appointment_id, for_update=True)
    row = await uow.appointments.update(appointment_id, notes=notes)
    return (await with_reminders(uow, [row]))[0]


async def fire_reminder(uow: BookingUnitOfWork, appointment_id: str, kind: str, now: datetime) -> bool:
    """Fires one due reminder: marks it fired and emits `ReminderDue` in the same transaction, so
    the event is written exactly once. The appointment row is locked first (the order cancelling
    takes, and it serialises the appointment's outbox events); the reminder is then re-locked with
    `SKIP LOCKED` and its state re-checked. False when another runner has it or it is done."""
    appointment = await uow.appointments.get(appointment_id, for_update=True)
    reminder = await uow.appointments.lock_due_reminder(appointment_id, kind)
    if reminder is None or reminder.due_utc > now:
        return False
    if appointment is None or appointment.state != BOOKED:
        await uow.appointments.cancel_reminders(appointment_id)
        return False
    await uow.appointments.mark_reminder_fired(appointment_id, kind, now)
    uow.emit(
        events_pb2.ReminderDue(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{appointment.member_id}",
            store=f"stores/{appointment.store_id}",
            services=summaries(appointment.services),
            start_time=ts(reminder.start_time),
            local_start=reminder.local_start,
            time_zone=reminder.time_zone,
            minutes_before=reminder.minutes_before,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return True
