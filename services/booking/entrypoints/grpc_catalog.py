"""BookingService RPCs of the service menu, the stores' overrides of it, staff and their schedule
exceptions, rooms, equipment and availability: a mixin of BookingServicer (grpc_servicer.py),
which supplies `_mutate`, `_read` and `_tokens` (kit.servicer).

Permissions: the tenant-wide menu needs BOOKING_ADMIN and a caller not bound to stores (HQ);
store-scoped configuration (overrides, staff, schedule exceptions, rooms, equipment) needs
BOOKING_ADMIN and the store in the caller's scope. Reads need the store in scope; schedule
exceptions (their reasons are staff-only) also need a staff permission."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from peony.booking.v1 import appointments_pb2, availability_pb2, catalog_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.fieldmask import checked_paths
from kit.ids import parse_name, parse_path
from kit.proto import ts
from services.booking.adapters.catalog_repository import EXTRA_SHIFT_KIND, OVERRIDE_FIELDS, weekly_hours_of
from services.booking.domain.availability import MAX_RANGE_DAYS, MAX_SERVICES
from services.booking.domain.schedule import minute_of_day
from services.booking.entrypoints.grpc_common import (
    child_id,
    equipment_to_proto,
    menu_item_to_proto,
    override_to_proto,
    require_hq_admin,
    room_to_proto,
    schedule_exception_to_proto,
    service_to_proto,
    staff_to_proto,
    store_id_of,
)
from services.booking.service_layer import appointments as appts
from services.booking.service_layer import catalog
from services.booking.service_layer.availability import query_availability
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

MAX_MINUTES = 24 * 60
MAX_BUFFER = 12 * 60
MAX_EXCEPTION_DAYS = 366
AVAILABILITY_PAGE, AVAILABILITY_MAX_PAGE = 100, 1000
SELF_SERVICE_CHANNELS = (
    appointments_pb2.BOOKING_CHANNEL_ONLINE,
    appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM,
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")

_SERVICE_FIELDS = (
    "display_name",
    "category",
    "description",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "list_price_minor",
    "requirements",
    "online_bookable",
    "active",
    "display_order",
)
_STAFF_FIELDS = (
    "display_name",
    "position",
    "level",
    "skills",
    "weekly_hours",
    "breaks",
    "online_bookable",
    "active",
    "principal",
)
_ROOM_FIELDS = ("display_name", "room_type", "capacity", "active")
_EQUIPMENT_FIELDS = ("display_name", "kind", "active")
_EXCEPTION_KINDS = {
    resources_pb2.SCHEDULE_EXCEPTION_KIND_LEAVE: "leave",
    resources_pb2.SCHEDULE_EXCEPTION_KIND_SICK_LEAVE: "sick_leave",
    resources_pb2.SCHEDULE_EXCEPTION_KIND_TRAINING: "training",
    resources_pb2.SCHEDULE_EXCEPTION_KIND_BLOCKED: "blocked",
    resources_pb2.SCHEDULE_EXCEPTION_KIND_EXTRA_SHIFT: EXTRA_SHIFT_KIND,
}


# --- permissions ----------------------------------------------------------------------------------


def _require_store_admin(store_id: str) -> None:
    caller = current_principal()
    caller.require(auth.BOOKING_ADMIN)
    caller.require_store(f"stores/{store_id}")


def _require_store_staff(store_id: str) -> None:
    caller = current_principal()
    if not (caller.has(auth.BOOKING_STAFF) or caller.has(auth.BOOKING_ADMIN)):
        caller.require(auth.BOOKING_STAFF)
    caller.require_store(f"stores/{store_id}")


# --- request parsing ------------------------------------------------------------------------------


def _child_of_store(name: str, collection: str, field: str) -> tuple[str, str]:
    """`stores/{store}/{collection}/{id}` -> (store, id)."""
    ids = parse_path(name, f"stores/{{id}}/{collection}/{{id}}")
    if ids is None:
        raise InvalidArgument([(field, f"must be stores/{{store}}/{collection}/{{id}}")])
    return ids[0], ids[1]


def _service_id(name: str, field: str) -> str:
    sid = parse_name(name, "services") if name else None
    if not sid:
        raise InvalidArgument([(field, "must be services/{service}")])
    return sid


def _parse_date(value: str, field: str, v: Violations) -> date | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
            return date.fromisoformat(value)
    except ValueError:
        pass
    v.add(field, "must be a date YYYY-MM-DD")
    return None


def _check_service_values(v: Violations, prefix: str, values: dict[str, Any]) -> None:
    if "display_name" in values and not values["display_name"].strip():
        v.add(f"{prefix}.display_name", "is required")
    duration = values.get("duration_minutes")
    if duration is not None and not 0 < duration <= MAX_MINUTES:
        v.add(f"{prefix}.duration_minutes", f"must be 1 .. {MAX_MINUTES}")
    for f in ("buffer_before_minutes", "buffer_after_minutes"):
        if f in values and values[f] is not None and not 0 <= values[f] <= MAX_BUFFER:
            v.add(f"{prefix}.{f}", f"must be 0 .. {MAX_BUFFER}")
    if (
        "list_price_minor" in values
        and values["list_price_minor"] is not None
        and values["list_price_minor"] < 0
    ):
        v.add(f"{prefix}.list_price_minor", "must not be negative")


def _requirements(req: catalog_pb2.ResourceRequirements) -> dict[str, str | None]:
    return {
        "skill": req.skill or None,
        "room_type": req.room_type or None,
        "equipment_kind": req.equipment_kind or None,
    }


def _service_values(s: catalog_pb2.Service, paths) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in paths:
        if p == "requirements":
            out.update(_requirements(s.requirements))
        elif p == "display_name":
            out[p] = s.display_name.strip()
        else:
            out[p] = getattr(s, p)
    return out


def _override_values(o: catalog_pb2.ServiceOverride, paths) -> dict[str, Any]:
    """Column values of the named override fields; an unset field is NULL (inherit)."""
    out: dict[str, Any] = {}
    for p in paths:
        if p == "requirements":
            out[p] = _requirements(o.requirements) if o.HasField("requirements") else None
        else:
            out[p] = getattr(o, p) if o.HasField(p) else None
    return out


def _weekly(intervals, field: str, v: Violations) -> list[dict]:
    hours = [{"day": w.day_of_week, "start": w.start_time, "end": w.end_time} for w in intervals]
    weekly_hours_of(hours).validate(v, field)
    return hours


def _staff_values(s: resources_pb2.Staff, paths, v: Violations) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in paths:
        if p in ("weekly_hours", "breaks"):
            out[p] = _weekly(getattr(s, p), f"staff.{p}", v)
        elif p == "skills":
            out[p] = sorted({x.strip() for x in s.skills if x.strip()})
        elif p == "display_name":
            out[p] = s.display_name.strip()
            if not out[p]:
                v.add("staff.display_name", "is required")
        elif p == "level":
            out[p] = s.level
            if s.level < 0:
                v.add("staff.level", "must not be negative")
        else:
            out[p] = getattr(s, p)
    return out


class CatalogRpcs:
    # --- the service menu -------------------------------------------------------------------
    async def CreateService(self, request: pb.CreateServiceRequest, context) -> pb.CreateServiceResponse:
        require_hq_admin("the service menu")
        s = request.service
        service_id = child_id(request.service_id, "service_id")
        v = Violations()
        _check_service_values(v, "service", _service_values(s, _SERVICE_FIELDS))
        if s.currency_code and not _CURRENCY.match(s.currency_code):
            v.add("service.currency_code", "must be an ISO 4217 code such as CNY")
        v.raise_if_any()

        values = {
            "display_name": s.display_name.strip(),
            "category": s.category,
            "description": s.description,
            "duration_minutes": s.duration_minutes,
            "buffer_before_minutes": s.buffer_before_minutes,
            "buffer_after_minutes": s.buffer_after_minutes,
            "skill": s.requirements.skill or None,
            "room_type": s.requirements.room_type or None,
            "equipment_kind": s.requirements.equipment_kind or None,
            "list_price_minor": s.list_price_minor,
            "currency_code": s.currency_code or "CNY",
            "online_bookable": s.online_bookable,
            "display_order": s.display_order,
        }

        async def effect(uow: BookingUnitOfWork) -> pb.CreateServiceResponse:
            row = await catalog.create_service(uow, service_id, values)
            return pb.CreateServiceResponse(service=service_to_proto(row))

        return await self._mutate("CreateService", request, pb.CreateServiceResponse, effect)

    async def GetService(self, request: pb.GetServiceRequest, context) -> pb.GetServiceResponse:
        service_id = _service_id(request.name, "name")

        async def read(uow: BookingUnitOfWork) -> pb.GetServiceResponse:
            row = await catalog.get_service(uow, service_id)
            return pb.GetServiceResponse(service=service_to_proto(row))

        return await self._read(read)

    async def ListServices(self, request: pb.ListServicesRequest, context) -> pb.ListServicesResponse:
        caller = current_principal()
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|services|{request.category}|{request.show_inactive}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListServicesResponse:
            rows = await uow.catalog.list_services(
                limit=page.size,
                after=page.after,
                category=request.category or None,
                show_inactive=request.show_inactive,
            )
            token = page.next_token(rows, lambda r: [r.category, r.display_order, r.service_id])
            return pb.ListServicesResponse(
                services=[service_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateService(self, request: pb.UpdateServiceRequest, context) -> pb.UpdateServiceResponse:
        require_hq_admin("the service menu")
        s = request.service
        service_id = _service_id(s.name, "service.name")
        paths = checked_paths(request.update_mask, s, _SERVICE_FIELDS)
        changes = _service_values(s, paths)
        v = Violations()
        _check_service_values(v, "service", changes)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateServiceResponse:
            row = await catalog.update_service(uow, service_id, changes)
            return pb.UpdateServiceResponse(service=service_to_proto(row))

        return await self._mutate("UpdateService", request, pb.UpdateServiceResponse, effect)

    # --- store overrides and menus ----------------------------------------------------------
    async def CreateServiceOverride(
        self, request: pb.CreateServiceOverrideRequest, context
    ) -> pb.CreateServiceOverrideResponse:
        store_id = store_id_of(request.parent, "parent")
        _require_store_admin(store_id)
        o = request.service_override
        service_id = _service_id(o.service, "service_override.service")
        values = _override_values(o, [f for f in OVERRIDE_FIELDS if o.HasField(f)])
        v = Violations()
        _check_service_values(v, "service_override", values)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateServiceOverrideResponse:
            row = await catalog.create_override(uow, store_id, service_id, values)
            return pb.CreateServiceOverrideResponse(service_override=override_to_proto(row))

        return await self._mutate("CreateServiceOverride", request, pb.CreateServiceOverrideResponse, effect)

    async def GetServiceOverride(
        self, request: pb.GetServiceOverrideRequest, context
    ) -> pb.GetServiceOverrideResponse:
        store_id, service_id = _child_of_store(request.name, "serviceOverrides", "name")
        current_principal().require_store(f"stores/{store_id}")

        async def read(uow: BookingUnitOfWork) -> pb.GetServiceOverrideResponse:
            row = await catalog.get_override(uow, store_id, service_id)
            return pb.GetServiceOverrideResponse(service_override=override_to_proto(row))

        return await self._read(read)

    async def ListServiceOverrides(
        self, request: pb.ListServiceOverridesRequest, context
    ) -> pb.ListServiceOverridesResponse:
        store_id = store_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require_store(f"stores/{store_id}")
        binding = f"{caller.tenant}|serviceOverrides|{store_id}"
        page = self._tokens.page(request, binding=binding)

        async def read(uow: BookingUnitOfWork) -> pb.ListServiceOverridesResponse:
            rows = await uow.catalog.list_overrides(store_id, limit=page.size, after=page.after)
            token = page.next_token(rows, lambda r: r.service_id)
            return pb.ListServiceOverridesResponse(
                service_overrides=[override_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateServiceOverride(
        self, request: pb.UpdateServiceOverrideRequest, context
    ) -> pb.UpdateServiceOverrideResponse:
        o = request.service_override
        store_id, service_id = _child_of_store(o.name, "serviceOverrides", "service_override.name")
        _require_store_admin(store_id)
        if "service" in request.update_mask.paths:
            raise InvalidArgument([("update_mask", "'service' cannot be changed")])
        paths = checked_paths(
            request.update_mask,
            o,
            OVERRIDE_FIELDS,
            populated=lambda: [f for f in OVERRIDE_FIELDS if o.HasField(f)],
        )
        changes = _override_values(o, paths)
        v = Violations()
        _check_service_values(v, "service_override", changes)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateServiceOverrideResponse:
            row = await catalog.update_override(uow, store_id, service_id, changes)
            return pb.UpdateServiceOverrideResponse(service_override=override_to_proto(row))

        return await self._mutate("UpdateServiceOverride", request, pb.UpdateServiceOverrideResponse, effect)

    async def DeleteServiceOverride(
        self, request: pb.DeleteServiceOverrideRequest, context
    ) -> pb.DeleteServiceOverrideResponse:
        store_id, service_id = _child_of_store(request.name, "serviceOverrides", "name")
        _require_store_admin(store_id)

        async def effect(uow: BookingUnitOfWork) -> pb.DeleteServiceOverrideResponse:
            service = await catalog.delete_override(uow, store_id, service_id)
            return pb.DeleteServiceOverrideResponse(menu_item=menu_item_to_proto(store_id, service, None))

        return await self._mutate("DeleteServiceOverride", request, pb.DeleteServiceOverrideResponse, effect)

    async def ListMenuItems(self, request: pb.ListMenuItemsRequest, context) -> pb.ListMenuItemsResponse:
        store_id = store_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require_store(f"stores/{store_id}")
        online_only = request.online_bookable_only or caller.is_member_self_service
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|menuItems|{store_id}|{request.category}|{online_only}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListMenuItemsResponse:
            items = await catalog.menu_items(
                uow,
                store_id,
                limit=page.size,
                after=page.after,
                category=request.category or None,
                online_only=online_only,
            )
            token = page.next_token(items, lambda i: [i[0].category, i[0].display_order, i[0].service_id])
            return pb.ListMenuItemsResponse(
                menu_items=[menu_item_to_proto(store_id, s, o) for s, o in items], next_page_token=token
            )

        return await self._read(read)

    # --- staff ------------------------------------------------------------------------------
    async def CreateStaff(self, request: pb.CreateStaffRequest, context) -> pb.CreateStaffResponse:
        store_id = store_id_of(request.parent, "parent")
        _require_store_admin(store_id)
        s = request.staff
        staff_id = child_id(request.staff_id, "staff_id")
        v = Violations()
        values = _staff_values(s, [f for f in _STAFF_FIELDS if f != "active"], v)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateStaffResponse:
            row = await catalog.create_staff(uow, store_id, staff_id, values)
            return pb.CreateStaffResponse(staff=staff_to_proto(row))

        return await self._mutate("CreateStaff", request, pb.CreateStaffResponse, effect)

    async def GetStaff(self, request: pb.GetStaffRequest, context) -> pb.GetStaffResponse:
        store_id, staff_id = _child_of_store(request.name, "staff", "name")
        current_principal().require_store(f"stores/{store_id}")

        async def read(uow: BookingUnitOfWork) -> pb.GetStaffResponse:
            row = await catalog.get_staff(uow, store_id, staff_id)
            return pb.GetStaffResponse(staff=staff_to_proto(row))

        return await self._read(read)

    async def ListStaff(self, request: pb.ListStaffRequest, context) -> pb.ListStaffResponse:
        store_id = store_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require_store(f"stores/{store_id}")
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|staff|{store_id}|{request.skill}|{request.show_inactive}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListStaffResponse:
            rows = await uow.catalog.list_staff(
                store_id,
                limit=page.size,
                after=page.after,
                skill=request.skill or None,
                show_inactive=request.show_inactive,
            )
            token = page.next_token(rows, lambda r: r.staff_id)
            return pb.ListStaffResponse(staff=[staff_to_proto(r) for r in rows], next_page_token=token)

        return await self._read(read)

    async def UpdateStaff(self, request: pb.UpdateStaffRequest, context) -> pb.UpdateStaffResponse:
        s = request.staff
        store_id, staff_id = _child_of_store(s.name, "staff", "staff.name")
        _require_store_admin(store_id)
        paths = checked_paths(request.update_mask, s, _STAFF_FIELDS)
        v = Violations()
        changes = _staff_values(s, paths, v)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateStaffResponse:
            updated, conflicts = await catalog.update_staff(uow, store_id, staff_id, changes)
            return pb.UpdateStaffResponse(staff=staff_to_proto(updated), conflicting_appointments=conflicts)

        return await self._mutate("UpdateStaff", request, pb.UpdateStaffResponse, effect)

    # --- schedule exceptions ----------------------------------------------------------------
    async def CreateScheduleException(
        self, request: pb.CreateScheduleExceptionRequest, context
    ) -> pb.CreateScheduleExceptionResponse:
        store_id, staff_id = _child_of_store(request.parent, "staff", "parent")
        _require_store_admin(store_id)
        caller = current_principal()
        e = request.schedule_exception
        v = Violations()
        kind = _EXCEPTION_KINDS.get(e.kind)
        if kind is None:
            v.add("schedule_exception.kind", "is required")
        start = _parse_date(e.start_date, "schedule_exception.start_date", v)
        end = _parse_date(e.end_date, "schedule_exception.end_date", v) if e.end_date else start
        times = (e.start_time or None, e.end_time or None)
        if (times[0] is None) != (times[1] is None):
            v.add("schedule_exception.end_time", "start_time and end_time go together")
        elif times[0] is None and kind == EXTRA_SHIFT_KIND:
            v.add("schedule_exception.start_time", "an extra shift needs start_time and end_time")
        elif times[0] is not None:
            if minute_of_day(times[0]) is None:
                v.add("schedule_exception.start_time", "must be HH:MM")
            if minute_of_day(times[1], end=True) is None:
                v.add("schedule_exception.end_time", "must be HH:MM or 24:00")
        v.raise_if_any()
        if start and end and end < start:
            raise InvalidArgument(
                [("schedule_exception.end_date", "must not be before start_date")], reason="END_BEFORE_START"
            )
        if times[0] is not None and minute_of_day(times[0]) >= minute_of_day(times[1], end=True):
            raise InvalidArgument(
                [("schedule_exception.end_time", "must be after start_time")], reason="END_BEFORE_START"
            )
        if (end - start).days > MAX_EXCEPTION_DAYS:
            raise InvalidArgument(
                [("schedule_exception.end_date", f"at most {MAX_EXCEPTION_DAYS} days after start_date")],
                reason="RANGE_TOO_LONG",
            )

        async def effect(uow: BookingUnitOfWork) -> pb.CreateScheduleExceptionResponse:
            created, conflicts = await catalog.create_schedule_exception(
                uow,
                store_id,
                staff_id,
                kind=kind,
                start_date=start,
                end_date=end,
                start_time=times[0],
                end_time=times[1],
                reason=e.reason,
                actor=caller.subject,
                allow_conflicts=request.allow_conflicts,
            )
            return pb.CreateScheduleExceptionResponse(
                schedule_exception=schedule_exception_to_proto(created), conflicting_appointments=conflicts
            )

        return await self._mutate(
            "CreateScheduleException", request, pb.CreateScheduleExceptionResponse, effect
        )

    async def ListScheduleExceptions(
        self, request: pb.ListScheduleExceptionsRequest, context
    ) -> pb.ListScheduleExceptionsResponse:
        store_id, staff_id = _child_of_store(request.parent, "staff", "parent")
        _require_store_staff(store_id)
        caller = current_principal()
        v = Violations()
        first = _parse_date(request.from_date, "from_date", v) if request.from_date else None
        last = _parse_date(request.to_date, "to_date", v) if request.to_date else None
        v.raise_if_any()
        if first and last and last < first:
            raise InvalidArgument([("to_date", "must not be before from_date")], reason="END_BEFORE_START")
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|scheduleExceptions|{store_id}|{staff_id}|{first}|{last}"
        )
        who = None if staff_id == "-" else staff_id

        async def read(uow: BookingUnitOfWork) -> pb.ListScheduleExceptionsResponse:
            rows = await catalog.list_schedule_exceptions(
                uow, store_id, who, from_date=first, to_date=last, limit=page.size, after=page.after
            )
            token = page.next_token(rows, lambda r: [r.start_date.isoformat(), r.exception_id])
            return pb.ListScheduleExceptionsResponse(
                schedule_exceptions=[schedule_exception_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def DeleteScheduleException(
        self, request: pb.DeleteScheduleExceptionRequest, context
    ) -> pb.DeleteScheduleExceptionResponse:
        ids = parse_path(request.name, "stores/{id}/staff/{id}/scheduleExceptions/{id}")
        if ids is None:
            raise InvalidArgument([("name", "must be stores/{store}/staff/{staff}/scheduleExceptions/{id}")])
        store_id, staff_id, exception_id = ids
        _require_store_admin(store_id)

        async def effect(uow: BookingUnitOfWork) -> pb.DeleteScheduleExceptionResponse:
            conflicts = await catalog.delete_schedule_exception(
                uow, store_id, staff_id, exception_id, allow_conflicts=request.allow_conflicts
            )
            return pb.DeleteScheduleExceptionResponse(conflicting_appointments=conflicts)

        return await self._mutate(
            "DeleteScheduleException", request, pb.DeleteScheduleExceptionResponse, effect
        )

    # --- rooms ------------------------------------------------------------------------------
    async def CreateRoom(self, request: pb.CreateRoomRequest, context) -> pb.CreateRoomResponse:
        store_id = store_id_of(request.parent, "parent")
        _require_store_admin(store_id)
        r = request.room
        room_id = child_id(request.room_id, "room_id")
        v = Violations()
        v.require("room.display_name", r.display_name.strip())
        v.require("room.room_type", r.room_type)
        if r.capacity < 0:
            v.add("room.capacity", "must be at least 1")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateRoomResponse:
            row = await catalog.create_room(
                uow,
                store_id,
                room_id,
                display_name=r.display_name.strip(),
                room_type=r.room_type,
                capacity=r.capacity or 1,
            )
            return pb.CreateRoomResponse(room=room_to_proto(row))

        return await self._mutate("CreateRoom", request, pb.CreateRoomResponse, effect)

    async def GetRoom(self, request: pb.GetRoomRequest, context) -> pb.GetRoomResponse:
        store_id, room_id = _child_of_store(request.name, "rooms", "name")
        current_principal().require_store(f"stores/{store_id}")

        async def read(uow: BookingUnitOfWork) -> pb.GetRoomResponse:
            row = await catalog.get_room(uow, store_id, room_id)
            return pb.GetRoomResponse(room=room_to_proto(row))

        return await self._read(read)

    async def ListRooms(self, request: pb.ListRoomsRequest, context) -> pb.ListRoomsResponse:
        store_id = store_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require_store(f"stores/{store_id}")
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|rooms|{store_id}|{request.room_type}|{request.show_inactive}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListRoomsResponse:
            rows = await uow.catalog.list_rooms(
                store_id,
                limit=page.size,
                after=page.after,
                room_type=request.room_type or None,
                show_inactive=request.show_inactive,
            )
            token = page.next_token(rows, lambda r: r.room_id)
            return pb.ListRoomsResponse(rooms=[room_to_proto(r) for r in rows], next_page_token=token)

        return await self._read(read)

    async def UpdateRoom(self, request: pb.UpdateRoomRequest, context) -> pb.UpdateRoomResponse:
        r = request.room
        store_id, room_id = _child_of_store(r.name, "rooms", "room.name")
        _require_store_admin(store_id)
        paths = checked_paths(request.update_mask, r, _ROOM_FIELDS)
        changes = {p: getattr(r, p) for p in paths}
        v = Violations()
        if "display_name" in changes:
            changes["display_name"] = changes["display_name"].strip()
            v.require("room.display_name", changes["display_name"])
        if "room_type" in changes:
            v.require("room.room_type", changes["room_type"])
        if "capacity" in changes and changes["capacity"] < 1:
            v.add("room.capacity", "must be at least 1")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateRoomResponse:
            updated = await catalog.update_room(uow, store_id, room_id, changes)
            return pb.UpdateRoomResponse(room=room_to_proto(updated))

        return await self._mutate("UpdateRoom", request, pb.UpdateRoomResponse, effect)

    # --- equipment --------------------------------------------------------------------------
    async def CreateEquipment(
        self, request: pb.CreateEquipmentRequest, context
    ) -> pb.CreateEquipmentResponse:
        store_id = store_id_of(request.parent, "parent")
        _require_store_admin(store_id)
        e = request.equipment
        equipment_id = child_id(request.equipment_id, "equipment_id")
        v = Violations()
        v.require("equipment.display_name", e.display_name.strip())
        v.require("equipment.kind", e.kind)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateEquipmentResponse:
            row = await catalog.create_equipment(
                uow, store_id, equipment_id, display_name=e.display_name.strip(), kind=e.kind
            )
            return pb.CreateEquipmentResponse(equipment=equipment_to_proto(row))

        return await self._mutate("CreateEquipment", request, pb.CreateEquipmentResponse, effect)

    async def GetEquipment(self, request: pb.GetEquipmentRequest, context) -> pb.GetEquipmentResponse:
        store_id, equipment_id = _child_of_store(request.name, "equipment", "name")
        current_principal().require_store(f"stores/{store_id}")

        async def read(uow: BookingUnitOfWork) -> pb.GetEquipmentResponse:
            row = await catalog.get_equipment(uow, store_id, equipment_id)
            return pb.GetEquipmentResponse(equipment=equipment_to_proto(row))

        return await self._read(read)

    async def ListEquipment(self, request: pb.ListEquipmentRequest, context) -> pb.ListEquipmentResponse:
        store_id = store_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require_store(f"stores/{store_id}")
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|equipment|{store_id}|{request.kind}|{request.show_inactive}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListEquipmentResponse:
            rows = await uow.catalog.list_equipment(
                store_id,
                limit=page.size,
                after=page.after,
                kind=request.kind or None,
                show_inactive=request.show_inactive,
            )
            token = page.next_token(rows, lambda r: r.equipment_id)
            return pb.ListEquipmentResponse(
                equipment=[equipment_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateEquipment(
        self, request: pb.UpdateEquipmentRequest, context
    ) -> pb.UpdateEquipmentResponse:
        e = request.equipment
        store_id, equipment_id = _child_of_store(e.name, "equipment", "equipment.name")
        _require_store_admin(store_id)
        paths = checked_paths(request.update_mask, e, _EQUIPMENT_FIELDS)
        changes = {p: getattr(e, p) for p in paths}
        v = Violations()
        if "display_name" in changes:
            changes["display_name"] = changes["display_name"].strip()
            v.require("equipment.display_name", changes["display_name"])
        if "kind" in changes:
            v.require("equipment.kind", changes["kind"])
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateEquipmentResponse:
            updated = await catalog.update_equipment(uow, store_id, equipment_id, changes)
            return pb.UpdateEquipmentResponse(equipment=equipment_to_proto(updated))

        return await self._mutate("UpdateEquipment", request, pb.UpdateEquipmentResponse, effect)

    # --- availability -----------------------------------------------------------------------
    async def QueryAvailability(
        self, request: pb.QueryAvailabilityRequest, context
    ) -> pb.QueryAvailabilityResponse:
        caller = current_principal()
        store_id = store_id_of(request.store)
        caller.require_store(f"stores/{store_id}")
        v = Violations()
        service_ids = []
        for i, name in enumerate(request.services):
            sid = parse_name(name, "services") if name else None
            if not sid:
                v.add(f"services[{i}]", "must be services/{service}")
            service_ids.append(sid)
        if not request.services:
            v.add("services", "is required")
        elif len(request.services) > MAX_SERVICES:
            v.add("services", f"at most {MAX_SERVICES} services back to back")
        preferred = request.preferred_staff or None
        if preferred is not None:
            p_store, _ = _child_of_store(preferred, "staff", "preferred_staff")
            if p_store != store_id:
                v.add("preferred_staff", f"must be a staff member of stores/{store_id}")
        start_date = _parse_date(request.start_date, "start_date", v)
        end_date = _parse_date(request.end_date, "end_date", v)
        if request.page_size < 0:
            v.add("page_size", "must not be negative")
        member = request.member or (caller.subject if caller.is_member_self_service else "")
        member_id = parse_name(member, "members") if member else None
        if member and not member_id:
            v.add("member", "must be members/{member}")
        v.raise_if_any()
        if end_date < start_date:
            raise InvalidArgument([("end_date", "must not be before start_date")], reason="END_BEFORE_START")
        if (end_date - start_date).days + 1 > MAX_RANGE_DAYS:
            raise InvalidArgument(
                [("end_date", f"at most {MAX_RANGE_DAYS - 1} days after start_date")], reason="RANGE_TOO_LONG"
            )
        if member_id:
            caller.require_member(f"members/{member_id}")
        channel = request.channel
        if caller.is_member_self_service and channel not in SELF_SERVICE_CHANNELS:
            channel = appointments_pb2.BOOKING_CHANNEL_ONLINE  # members book themselves
        self_service = channel in SELF_SERVICE_CHANNELS
        size = min(request.page_size or AVAILABILITY_PAGE, AVAILABILITY_MAX_PAGE)
        binding = (
            f"{caller.tenant}|availability|{store_id}|{start_date}|{end_date}|{','.join(service_ids)}"
            f"|{preferred}|{member_id}|{channel}"
        )
        offset = int((self._tokens.decode(request.page_token, binding=binding) or {}).get("offset", 0))

        async def read(uow: BookingUnitOfWork) -> pb.QueryAvailabilityResponse:
            available = await query_availability(
                uow,
                store_id=store_id,
                service_ids=service_ids,
                start_date=start_date,
                end_date=end_date,
                preferred_staff=preferred,
                member_id=member_id,
                self_service=self_service,
            )
            page = available.slots[offset : offset + size]
            token = ""
            if offset + size < len(available.slots):
                token = self._tokens.encode({"offset": offset + size}, binding=binding)
            return pb.QueryAvailabilityResponse(
                time_zone=available.tz,
                next_page_token=token,
                bookable_until=ts(available.bookable_until),
                slots=[
                    availability_pb2.Slot(
                        start_time=ts(slot.start_utc),
                        end_time=ts(slot.end_utc),
                        local_start=slot.local_start,
                        local_end=appts.local(slot.end_utc, available.zone),
                        time_zone=slot.tz,
                        staff=slot.staff_id,
                        assignments=[
                            availability_pb2.SlotAssignment(
                                service=f"services/{a.service_id}",
                                staff=a.staff_id,
                                room=a.room_id or "",
                                equipment=a.equipment_id or "",
                                start_time=ts(a.start_utc),
                                end_time=ts(a.end_utc),
                                reserved_start_time=ts(a.reserved_start_utc),
                                reserved_end_time=ts(a.reserved_end_utc),
                            )
                            for a in slot.assignments
                        ],
                        list_price_minor=available.list_price_minor,
                        currency_code=available.currency_code,
                    )
                    for slot in page
                ],
            )

        return await self._read(read)
