"""Booking and cancelling appointments.

Never check-then-insert: the working-hours check uses the domain engine's working spans, but
whether a staff member, room seat or piece of equipment is free is decided by the database's
exclusion constraint when the reservation rows are inserted. A collision (SQLSTATE 23P01) on every
candidate fails the booking with ABORTED `SLOT_TAKEN` and the whole transaction rolls back.

Scope today: one staff member does every service of a booking (the requested one, or the first
qualified staff member, by id, who is working then and still free); one room per room type and one
piece of equipment per kind serve every service that needs them.

Member rules: the tier booking window (the start must fall before the end of the store-local day
`booking_window_days` after today; the window comes from the members projection, the policy's
default when the member or their tier sets none) and the cap on open future appointments. The cap
is race-free: the member's projection row is locked (`SELECT ... FOR UPDATE`, a placeholder row
inserted when missing) before counting, so concurrent bookings of one member count one after the
other. Staff may override both (`staff_override`); the appointment records which rules were
overridden. Not applied yet: no-show restriction, lead time, wallet holds, explicit `assignments`;
there is no BookingPolicy table yet, so the policy defaults below apply to every tenant.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peony.booking.v1 import appointments_pb2, events_pb2

from kit.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from kit.ids import new_id
from kit.proto import ts
from services.booking.adapters.catalog_repository import ServiceRecord
from services.booking.domain.availability import LOCAL_FORMAT, MAX_SERVICES, store_zone, working_spans
from services.booking.domain.schedule import Staff
from services.booking.service_layer import policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

Span = tuple[datetime, datetime]
BOOKED, CANCELLED = "booked", "cancelled"

# Appointment reminders (ReminderDue): kind -> minutes before the start.
REMINDERS = (("24h", 24 * 60), ("2h", 2 * 60))


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


def reminders_for(start_utc: datetime, zone, tz: str, now: datetime) -> list[dict]:
    """The reminder rows of an appointment starting at `start_utc`: each due an exact number of
    minutes before the start, as a UTC instant (across a DST change the reminder keeps the exact
    interval, not the wall time); reminders already in the past are skipped."""
    start = start_utc.astimezone(UTC)
    out = []
    for kind, minutes in REMINDERS:
        due = start - timedelta(minutes=minutes)
        if due < now:
            continue
        out.append(
            {
                "kind": kind,
                "minutes_before": minutes,
                "due_utc": due,
                "start_time": start,
                "local_start": local(start, zone),
                "time_zone": tz,
            }
        )
    return out


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
) -> dict:
    """Books `service_ids` back to back from `start_utc` at `store`; returns the appointment row
    (as a dict). `member`, `store` are ids; `staff` a resource name or None. `staff_override`
    (staff only, checked by the caller) books past the member rules, recording which."""
    now = now or datetime.now(UTC)
    if not service_ids or len(service_ids) > MAX_SERVICES:
        raise InvalidArgument([("services", f"must list 1 .. {MAX_SERVICES} services")])
    tz = await uow.catalog.store_zone(store)
    zone = store_zone(tz or "")
    if zone is None:
        raise NotFound(f"stores/{store} not found", reason="STORE_NOT_FOUND")
    found = await uow.catalog.services(service_ids)
    missing = [s for s in service_ids if s not in found]
    if missing:
        raise NotFound(
            f"services/{missing[0]} not found",
            reason="SERVICE_NOT_FOUND",
            metadata={"service": f"services/{missing[0]}"},
        )
    records = [found[s] for s in service_ids]
    roster = await uow.catalog.staff(store)
    if staff is not None:
        chosen = [s for s in roster if s.staff_id == staff]
        if not chosen:
            raise NotFound(f"{staff} not found", reason="STAFF_NOT_FOUND", metadata={"staff": staff})
        if not all(chosen[0].can_do(r.service) for r in records):
            raise FailedPrecondition(
                f"{staff} lacks a required skill", reason="STAFF_NOT_QUALIFIED", metadata={"staff": staff}
            )
        candidates = chosen
    else:
        candidates = [s for s in roster if all(s.can_do(r.service) for r in records)]
    if start_utc < now:
        raise FailedPrecondition("the start is in the past", reason="SLOT_IN_PAST")
    planned = plan(records, start_utc)
    if min(p.reserved_start for p in planned) < now:
        raise FailedPrecondition("the preparation time would start in the past", reason="SLOT_IN_PAST")
    blocks = merge([(p.reserved_start, p.reserved_end) for p in planned])
    working = [s for s in candidates if works_through(s, zone, blocks)]
    if not working:
        raise FailedPrecondition(
            "the slot is outside the staff member's working hours", reason="OUTSIDE_WORKING_HOURS"
        )

    # Member rules last before writing: the member's row lock is held to the commit.
    rules = await policy.load_policy(uow)
    overridden = await policy.member_rules(
        uow, member, start_utc, zone, now, rules, channel=channel, staff_override=staff_override
    )

    appointment_id = new_id()
    end_utc = planned[-1].end
    # The appointment row first (the reservations are its children); a failed booking rolls back both.
    rooms = await uow.catalog.rooms(store)
    equipment = await uow.catalog.equipment(store)
    room_of: dict[str, str] = {}
    equipment_of: dict[str, str] = {}

    async def claim(kind: str, options: list[tuple[str, int]], spans: list[Span]) -> str:
        for resource_id, capacity in options:
            for seat in range(1, capacity + 1):
                if await uow.appointments.reserve(appointment_id, resource_id, kind, spans, seat):
                    return resource_id
        raise Aborted(
            "the slot was just taken; query availability again",
            reason="SLOT_TAKEN",
            metadata={"resource": options[-1][0] if len(options) == 1 else kind},
        )

    total = sum(r.list_price_minor for r in records)
    await uow.appointments.add(
        appointment_id=appointment_id,
        member_id=member,
        store_id=store,
        state=BOOKED,
        channel=channel,
        start_time=start_utc,
        end_time=end_utc,
        local_start=local(start_utc, zone),
        local_end=local(end_utc, zone),
        time_zone=tz,
        services=[],
        list_price_minor=total,
        currency_code=records[0].currency_code,
        notes=notes,
        overridden_rules=overridden,
        override_reason=(override_reason or None) if staff_override else None,
    )
    staff_id = await claim("staff", [(s.staff_id, 1) for s in working], blocks)
    for needed, pool, kind, chosen_map in (
        ("room_type", rooms, "room", room_of),
        ("equipment_kind", equipment, "equipment", equipment_of),
    ):
        for requirement in sorted({getattr(r.service, needed) for r in records} - {None}):
            if kind == "room":
                options = [(x.room_id, x.capacity) for x in pool if x.room_type == requirement]
            else:
                options = [(x.equipment_id, 1) for x in pool if x.kind == requirement]
            if not options:
                raise FailedPrecondition(
                    f"the store has no active {kind} of type {requirement}",
                    reason="RESOURCE_UNAVAILABLE",
                    metadata={kind: requirement},
                )
            spans = merge(
                [
                    (p.reserved_start, p.reserved_end)
                    for p in planned
                    if getattr(p.record.service, needed) == requirement
                ]
            )
            chosen_map[requirement] = await claim(kind, options, spans)

    booked = [
        {
            "service": p.record.service.service_id,
            "display_name": p.record.display_name,
            "staff": staff_id,
            "room": room_of.get(p.record.service.room_type or "", ""),
            "equipment": equipment_of.get(p.record.service.equipment_kind or "", ""),
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "reserved_start": p.reserved_start.isoformat(),
            "reserved_end": p.reserved_end.isoformat(),
        }
        for p in planned
    ]
    row = await uow.appointments.set_state(appointment_id, BOOKED, services=booked)
    await uow.appointments.schedule_reminders(appointment_id, reminders_for(start_utc, zone, tz, now))
    uow.emit(
        events_pb2.AppointmentBooked(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{member}",
            store=f"stores/{store}",
            channel=channel,
            services=[
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
            ],
            start_time=ts(start_utc),
            end_time=ts(end_utc),
            local_start=row.local_start,
            time_zone=tz,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return row._asdict()


async def cancel_appointment(uow: BookingUnitOfWork, appointment_id: str, *, reason: str = "") -> dict:
    row = await uow.appointments.get(appointment_id, for_update=True)
    if row is None:
        raise NotFound(f"appointments/{appointment_id} not found", reason="APPOINTMENT_NOT_FOUND")
    if row.state != BOOKED:
        raise FailedPrecondition(
            f"the appointment is {row.state}",
            reason="INVALID_APPOINTMENT_STATE",
            metadata={"state": row.state},
        )
    await uow.appointments.release(appointment_id)
    await uow.appointments.cancel_reminders(appointment_id)
    updated = await uow.appointments.set_state(appointment_id, CANCELLED, cancel_reason=reason or None)
    uow.emit(
        events_pb2.AppointmentCancelled(
            appointment=f"appointments/{appointment_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}",
            start_time=ts(row.start_time),
            local_start=row.local_start,
            time_zone=row.time_zone,
            cancelled_by=appointments_pb2.ACTOR_STAFF,
            staff=sorted({s["staff"] for s in row.services}),
            services=[f"services/{s['service']}" for s in row.services],
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return updated._asdict()


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
            services=[
                events_pb2.AppointmentServiceSummary(
                    service=f"services/{b['service']}",
                    display_name=b["display_name"],
                    staff=b["staff"],
                    room=b["room"],
                    equipment=b["equipment"],
                    start_time=ts(datetime.fromisoformat(b["start"])),
                    end_time=ts(datetime.fromisoformat(b["end"])),
                )
                for b in appointment.services
            ],
            start_time=ts(reminder.start_time),
            local_start=reminder.local_start,
            time_zone=reminder.time_zone,
            minutes_before=reminder.minutes_before,
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return True
