"""The catalogue: the tenant's service menu, the stores' overrides of it, staff and their schedule
exceptions, rooms and equipment.

Changing what booked appointments rely on is checked against them. A staff member's row is locked
(`FOR UPDATE`) before their schedule is read, so schedule changes of one staff member run one
after the other. Changes that leave booked appointments uncovered:

- updating a staff member (hours, skills, deactivation) is allowed, and the appointments it leaves
  uncovered are reported;
- an absence overlapping booked appointments, or deleting an extra shift they depend on, fails
  with FAILED_PRECONDITION `CONFLICTS_WITH_APPOINTMENTS` unless conflicts are allowed, and then the
  appointments are reported;
- shrinking a room below the seats booked appointments use always fails.

Callers check permissions; these functions take ids and plain values and raise kit.errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from peony.booking.v1 import events_pb2, resources_pb2
from sqlalchemy.engine import Row

from kit.errors import FailedPrecondition, NotFound
from kit.ids import new_id
from services.booking.adapters.catalog_repository import (
    EXTRA_SHIFT_KIND,
    equipment_name,
    room_name,
    staff_name,
)
from services.booking.domain.availability import local_to_utc, store_zone, working_spans
from services.booking.domain.schedule import MINUTES_PER_DAY, minute_of_day
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

CONFLICTS_WITH_APPOINTMENTS = "CONFLICTS_WITH_APPOINTMENTS"
Span = tuple[datetime, datetime]


def override_name(store_id: str, service_id: str) -> str:
    return f"stores/{store_id}/serviceOverrides/{service_id}"


def exception_name(store_id: str, staff_id: str, exception_id: str) -> str:
    return f"{staff_name(store_id, staff_id)}/scheduleExceptions/{exception_id}"


# --- events: what a consumer needs to know each resource's working time --------------------------


def _weekly(intervals: Iterable[dict]) -> list[resources_pb2.WeeklyInterval]:
    return [
        resources_pb2.WeeklyInterval(day_of_week=int(i["day"]), start_time=i["start"], end_time=i["end"])
        for i in sorted(intervals, key=lambda i: (int(i["day"]), i["start"]))
    ]


def _emit_staff_schedule(uow: BookingUnitOfWork, row: Row, zone_name: str) -> None:
    """`StaffScheduleChanged` with the staff member's whole weekly pattern after the change."""
    uow.emit(
        events_pb2.StaffScheduleChanged(
            staff=staff_name(row.store_id, row.staff_id),
            store=f"stores/{row.store_id}",
            time_zone=zone_name,
            active=row.active,
            weekly_hours=_weekly(row.weekly_hours),
            breaks=_weekly(row.breaks),
        ),
        aggregate_type="staff",
        aggregate_id=staff_name(row.store_id, row.staff_id),
    )


def _emit_exception(uow: BookingUnitOfWork, row: Row, zone_name: str, *, removed: bool) -> None:
    uow.emit(
        events_pb2.ScheduleExceptionChanged(
            schedule_exception=exception_name(row.store_id, row.staff_id, row.exception_id),
            staff=staff_name(row.store_id, row.staff_id),
            store=f"stores/{row.store_id}",
            kind=row.kind,
            start_date=row.start_date.isoformat(),
            end_date=row.end_date.isoformat(),
            start_time=row.start_time or "",
            end_time=row.end_time or "",
            removed=removed,
            time_zone=zone_name,
        ),
        aggregate_type="staff",
        aggregate_id=staff_name(row.store_id, row.staff_id),
    )


def _emit_room(uow: BookingUnitOfWork, row: Row) -> None:
    uow.emit(
        events_pb2.RoomChanged(
            room=room_name(row.store_id, row.room_id),
            store=f"stores/{row.store_id}",
            room_type=row.room_type,
            capacity=row.capacity,
            active=row.active,
        ),
        aggregate_type="room",
        aggregate_id=room_name(row.store_id, row.room_id),
    )


# --- conflicts with booked appointments ----------------------------------------------------------


def appointment_names(ids: Iterable[str]) -> list[str]:
    """Resource names, sorted and without duplicates, as responses and error metadata list them."""
    return [f"appointments/{a}" for a in sorted(set(ids))]


def _conflict(ids: list[str], message: str) -> FailedPrecondition:
    return FailedPrecondition(
        message,
        reason=CONFLICTS_WITH_APPOINTMENTS,
        metadata={"appointments": ",".join(appointment_names(ids))},
    )


def exception_spans(exception: dict[str, Any], zone: ZoneInfo) -> list[Span]:
    """The UTC spans an exception covers on each of its local dates (the store's zone decides
    where a local day starts, DST included)."""
    spans = []
    day = exception["start_date"]
    while day <= exception["end_date"]:
        if exception["start_time"] is None:
            lo, hi = 0, MINUTES_PER_DAY
        else:
            lo = minute_of_day(exception["start_time"]) or 0
            hi = minute_of_day(exception["end_time"], end=True) or MINUTES_PER_DAY
        midnight = datetime.combine(day, datetime.min.time())
        start = local_to_utc(midnight + timedelta(minutes=lo), zone)
        end = local_to_utc(midnight + timedelta(minutes=hi), zone)
        if start < end:
            spans.append((start, end))
        day += timedelta(days=1)
    return spans


def _overlaps(during, spans: Sequence[Span]) -> bool:
    return any(during.lower < hi and lo < during.upper for lo, hi in spans)


async def uncovered_appointments(
    uow: BookingUnitOfWork,
    row: Row,
    zone: ZoneInfo,
    now: datetime,
    changes: dict[str, Any] | None = None,
    *,
    within: Sequence[Span] | None = None,
    skip_exception: str | None = None,
) -> list[str]:
    """Ids of the booked appointments of a staff member from `now` on (overlapping the UTC spans
    `within` when given) that the staff member with `changes` (and without the exception
    `skip_exception`) would not cover: inactive, outside working time or lacking a skill. The
    engine's own reading of the schedule decides, so what is reported is what availability
    would no longer offer."""
    changes = changes or {}
    store_id, staff_id = row.store_id, row.staff_id
    name = staff_name(store_id, staff_id)
    reservations = await uow.catalog.reservations(name, now)
    if within is not None:
        reservations = [r for r in reservations if _overlaps(r.during, within)]
    if not reservations:
        return []
    first = min(r.during.lower for r in reservations).astimezone(zone).date() - timedelta(days=1)
    last = max(r.during.upper for r in reservations).astimezone(zone).date() + timedelta(days=1)
    member = await uow.catalog.staff_schedule(row, first, last, skip_exception=skip_exception, **changes)
    spans = working_spans(member, zone, first, last)
    booked = {s["service"] for r in reservations for s in r.services}
    records = await uow.catalog.services_at(store_id, sorted(booked))
    active = changes.get("active", row.active)
    out = []
    for r in reservations:
        # the services of the appointment this staff member does (others may do the rest)
        needs = [
            records[s["service"]].service
            for s in r.services
            if s["staff"] == name and s["service"] in records
        ]
        if (
            not active
            or not appts.covered(spans, r.during.lower, r.during.upper)
            or not all(member.can_do(service) for service in needs)
        ):
            out.append(r.appointment_id)
    return out


# --- lookups -------------------------------------------------------------------------------------


async def require_store(uow: BookingUnitOfWork, store_id: str) -> None:
    """Booking knows a store by its time zone, projected from the members service's events."""
    if await uow.catalog.store_zone(store_id) is None:
        raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")


async def get_service(uow: BookingUnitOfWork, service_id: str) -> Row:
    row = await uow.catalog.get_service(service_id)
    if row is None:
        raise NotFound(f"services/{service_id} not found", reason="SERVICE_NOT_FOUND")
    return row


async def get_override(uow: BookingUnitOfWork, store_id: str, service_id: str) -> Row:
    row = await uow.catalog.get_override(store_id, service_id)
    if row is None:
        raise NotFound(
            f"{override_name(store_id, service_id)} not found", reason="SERVICE_OVERRIDE_NOT_FOUND"
        )
    return row


async def get_staff(uow: BookingUnitOfWork, store_id: str, staff_id: str) -> Row:
    row = await uow.catalog.get_staff(store_id, staff_id)
    if row is None:
        raise NotFound(f"{staff_name(store_id, staff_id)} not found", reason="STAFF_NOT_FOUND")
    return row


async def get_room(uow: BookingUnitOfWork, store_id: str, room_id: str) -> Row:
    row = await uow.catalog.get_room(store_id, room_id)
    if row is None:
        raise NotFound(f"{room_name(store_id, room_id)} not found", reason="ROOM_NOT_FOUND")
    return row


async def get_equipment(uow: BookingUnitOfWork, store_id: str, equipment_id: str) -> Row:
    row = await uow.catalog.get_equipment(store_id, equipment_id)
    if row is None:
        raise NotFound(f"{equipment_name(store_id, equipment_id)} not found", reason="EQUIPMENT_NOT_FOUND")
    return row


async def _locked_staff(
    uow: BookingUnitOfWork, store_id: str, staff_id: str
) -> tuple[Row | None, ZoneInfo | None]:
    """The store's zone and the staff row, locked: the lock orders this against other schedule
    changes of the staff member."""
    zone = store_zone(await uow.catalog.store_zone(store_id) or "")
    row = await uow.catalog.get_staff(store_id, staff_id, for_update=True)
    return row, zone


# --- the service menu ----------------------------------------------------------------------------


async def create_service(uow: BookingUnitOfWork, service_id: str, values: dict[str, Any]) -> Row:
    return await uow.catalog.add_service(service_id=service_id, **values)


async def update_service(uow: BookingUnitOfWork, service_id: str, changes: dict[str, Any]) -> Row:
    row = await uow.catalog.update_service(service_id, changes)
    if row is None:
        raise NotFound(f"services/{service_id} not found", reason="SERVICE_NOT_FOUND")
    return row


# --- store overrides and menus -------------------------------------------------------------------


async def create_override(
    uow: BookingUnitOfWork, store_id: str, service_id: str, values: dict[str, Any]
) -> Row:
    await require_store(uow, store_id)
    await get_service(uow, service_id)
    return await uow.catalog.add_override(store_id, service_id, values)


async def update_override(
    uow: BookingUnitOfWork, store_id: str, service_id: str, changes: dict[str, Any]
) -> Row:
    row = await uow.catalog.update_override(store_id, service_id, changes)
    if row is None:
        raise NotFound(
            f"{override_name(store_id, service_id)} not found", reason="SERVICE_OVERRIDE_NOT_FOUND"
        )
    return row


async def delete_override(uow: BookingUnitOfWork, store_id: str, service_id: str) -> Row | None:
    """Deletes the override; returns the tenant's service, which the store now offers as is."""
    if not await uow.catalog.delete_override(store_id, service_id):
        raise NotFound(
            f"{override_name(store_id, service_id)} not found", reason="SERVICE_OVERRIDE_NOT_FOUND"
        )
    return await uow.catalog.get_service(service_id)


async def menu_items(
    uow: BookingUnitOfWork,
    store_id: str,
    *,
    limit: int,
    after: Any,
    category: str | None,
    online_only: bool,
) -> list[tuple[Row, Row | None]]:
    """A page of the store's menu: (service, the store's override or None)."""
    await require_store(uow, store_id)
    return await uow.catalog.menu_items(
        store_id, limit=limit, after=after, category=category, online_only=online_only
    )


# --- staff ---------------------------------------------------------------------------------------


async def create_staff(uow: BookingUnitOfWork, store_id: str, staff_id: str, values: dict[str, Any]) -> Row:
    await require_store(uow, store_id)
    row = await uow.catalog.add_staff(store_id=store_id, staff_id=staff_id, **values)
    _emit_staff_schedule(uow, row, await uow.catalog.store_zone(store_id) or "")
    return row


async def update_staff(
    uow: BookingUnitOfWork, store_id: str, staff_id: str, changes: dict[str, Any]
) -> tuple[Row, list[str]]:
    """Applies `changes`; returns the staff member and the names of the booked appointments they
    would no longer cover. The change is made anyway: the front desk reassigns those."""
    row, zone = await _locked_staff(uow, store_id, staff_id)
    if row is None or zone is None:
        raise NotFound(f"{staff_name(store_id, staff_id)} not found", reason="STAFF_NOT_FOUND")
    conflicts = await uncovered_appointments(uow, row, zone, datetime.now(UTC), changes)
    updated = await uow.catalog.update_staff(store_id, staff_id, changes)
    if {"weekly_hours", "breaks", "active"} & changes.keys():
        _emit_staff_schedule(uow, updated, zone.key)
    return updated, appointment_names(conflicts)


# --- schedule exceptions -------------------------------------------------------------------------


async def create_schedule_exception(
    uow: BookingUnitOfWork,
    store_id: str,
    staff_id: str,
    *,
    kind: str,
    start_date: date,
    end_date: date,
    start_time: str | None,
    end_time: str | None,
    reason: str,
    actor: str,
    allow_conflicts: bool,
) -> tuple[Row, list[str]]:
    """Records an absence or an extra shift; returns it and the names of the booked appointments
    an absence overlaps (refused unless `allow_conflicts`). An extra shift only adds working time,
    so it conflicts with nothing."""
    values = {
        "store_id": store_id,
        "staff_id": staff_id,
        "kind": kind,
        "start_date": start_date,
        "end_date": end_date,
        "start_time": start_time,
        "end_time": end_time,
    }
    row, zone = await _locked_staff(uow, store_id, staff_id)
    if row is None or zone is None:
        raise NotFound(f"{staff_name(store_id, staff_id)} not found", reason="STAFF_NOT_FOUND")
    conflicts: list[str] = []
    if kind != EXTRA_SHIFT_KIND:
        spans = exception_spans(values, zone)
        if spans:
            found = await uow.catalog.reservations(staff_name(store_id, staff_id), spans[0][0], spans[-1][1])
            conflicts = [r.appointment_id for r in found if _overlaps(r.during, spans)]
    if conflicts and not allow_conflicts:
        raise _conflict(conflicts, "booked appointments overlap the absence")
    created = await uow.catalog.add_exception(exception_id=new_id(), reason=reason, actor=actor, **values)
    _emit_exception(uow, created, zone.key, removed=False)
    return created, appointment_names(conflicts)


async def list_schedule_exceptions(
    uow: BookingUnitOfWork,
    store_id: str,
    staff_id: str | None,
    *,
    from_date: date | None,
    to_date: date | None,
    limit: int,
    after: Any,
) -> list[Row]:
    """A page of the exceptions of one staff member, or of the whole store (`staff_id` None)."""
    if staff_id is not None and await uow.catalog.get_staff(store_id, staff_id) is None:
        raise NotFound(f"{staff_name(store_id, staff_id)} not found", reason="STAFF_NOT_FOUND")
    return await uow.catalog.list_exceptions(
        store_id, staff_id, from_date=from_date, to_date=to_date, limit=limit, after=after
    )


async def delete_schedule_exception(
    uow: BookingUnitOfWork, store_id: str, staff_id: str, exception_id: str, *, allow_conflicts: bool
) -> list[str]:
    """Deletes the exception; returns the names of the booked appointments that depended on it
    (only an extra shift's removal can leave any uncovered; refused unless `allow_conflicts`)."""
    row, zone = await _locked_staff(uow, store_id, staff_id)
    found = await uow.catalog.get_exception(store_id, staff_id, exception_id)
    if row is None or found is None or zone is None:
        raise NotFound(
            f"{exception_name(store_id, staff_id, exception_id)} not found",
            reason="SCHEDULE_EXCEPTION_NOT_FOUND",
        )
    conflicts: list[str] = []
    if found.kind == EXTRA_SHIFT_KIND:
        shift = exception_spans(found._asdict(), zone)
        conflicts = await uncovered_appointments(
            uow, row, zone, datetime.now(UTC), within=shift, skip_exception=exception_id
        )
        if conflicts and not allow_conflicts:
            raise _conflict(conflicts, "booked appointments depend on the extra shift")
    await uow.catalog.delete_exception(exception_id)
    _emit_exception(uow, found, zone.key, removed=True)
    return appointment_names(conflicts)


# --- rooms ---------------------------------------------------------------------------------------


async def create_room(
    uow: BookingUnitOfWork, store_id: str, room_id: str, *, display_name: str, room_type: str, capacity: int
) -> Row:
    await require_store(uow, store_id)
    row = await uow.catalog.add_room(
        store_id=store_id, room_id=room_id, display_name=display_name, room_type=room_type, capacity=capacity
    )
    _emit_room(uow, row)
    return row


async def update_room(uow: BookingUnitOfWork, store_id: str, room_id: str, changes: dict[str, Any]) -> Row:
    """Applies `changes`; a smaller capacity is refused while booked appointments use the seats
    it would remove."""
    row = await uow.catalog.get_room(store_id, room_id, for_update=True)
    if row is None:
        raise NotFound(f"{room_name(store_id, room_id)} not found", reason="ROOM_NOT_FOUND")
    if changes.get("capacity", row.capacity) < row.capacity:
        # A room of capacity N has seats 1..N; a reservation of a seat the room would no longer
        # have is an appointment that no longer fits.
        taken = await uow.catalog.reservations(
            room_name(store_id, room_id), datetime.now(UTC), min_seat=changes["capacity"] + 1
        )
        if taken:
            raise _conflict(
                [t.appointment_id for t in taken], "appointments already use the room beyond that capacity"
            )
    updated = await uow.catalog.update_room(store_id, room_id, changes)
    if {"capacity", "active", "room_type"} & changes.keys():
        _emit_room(uow, updated)
    return updated


# --- equipment -----------------------------------------------------------------------------------


async def create_equipment(
    uow: BookingUnitOfWork, store_id: str, equipment_id: str, *, display_name: str, kind: str
) -> Row:
    await require_store(uow, store_id)
    return await uow.catalog.add_equipment(
        store_id=store_id, equipment_id=equipment_id, display_name=display_name, kind=kind
    )


async def update_equipment(
    uow: BookingUnitOfWork, store_id: str, equipment_id: str, changes: dict[str, Any]
) -> Row:
    updated = await uow.catalog.update_equipment(store_id, equipment_id, changes)
    if updated is None:
        raise NotFound(f"{equipment_name(store_id, equipment_id)} not found", reason="EQUIPMENT_NOT_FOUND")
    return updated
