"""BookingService RPCs of the service menu, staff, rooms, equipment and availability: a mixin
of BookingServicer (grpc_servicer.py), which supplies `_mutate` and `_read` (kit.servicer)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from peony.booking.v1 import availability_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit.auth import current_principal
from kit.errors import InvalidArgument, NotFound, Violations
from kit.proto import ts
from services.booking.adapters.catalog_repository import staff_name, weekly_hours_of
from services.booking.domain.availability import find_slots, store_zone
from services.booking.domain.schedule import Busy
from services.booking.entrypoints.grpc_common import (
    MAX_PAGE,
    child_id,
    service_ids_of,
    service_to_proto,
    staff_of,
    store_id_of,
)
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


class CatalogRpcs:
    # --- catalogue --------------------------------------------------------------------------
    async def CreateService(self, request: pb.CreateServiceRequest, context) -> pb.CreateServiceResponse:
        s = request.service
        service_id = child_id(request.service_id, "service_id")
        v = Violations()
        v.require("service.display_name", s.display_name)
        if not 0 < s.duration_minutes <= 24 * 60:
            v.add("service.duration_minutes", "must be 1 .. 1440")
        for f in ("buffer_before_minutes", "buffer_after_minutes"):
            if not 0 <= getattr(s, f) <= 12 * 60:
                v.add(f"service.{f}", "must be 0 .. 720")
        if s.list_price_minor < 0:
            v.add("service.list_price_minor", "must not be negative")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateServiceResponse:
            row = await uow.catalog.add_service(
                service_id=service_id,
                display_name=s.display_name,
                category=s.category,
                description=s.description,
                duration_minutes=s.duration_minutes,
                buffer_before_minutes=s.buffer_before_minutes,
                buffer_after_minutes=s.buffer_after_minutes,
                skill=s.requirements.skill or None,
                room_type=s.requirements.room_type or None,
                equipment_kind=s.requirements.equipment_kind or None,
                list_price_minor=s.list_price_minor,
                currency_code=s.currency_code or "CNY",
                online_bookable=s.online_bookable,
            )
            return pb.CreateServiceResponse(service=service_to_proto(row))

        return await self._mutate("CreateService", request, pb.CreateServiceResponse, effect)

    async def CreateStaff(self, request: pb.CreateStaffRequest, context) -> pb.CreateStaffResponse:
        store_id = store_id_of(request.parent, "parent")
        current_principal().require_store(f"stores/{store_id}")
        s = request.staff
        staff_id = child_id(request.staff_id, "staff_id")
        v = Violations()
        v.require("staff.display_name", s.display_name)
        hours = [{"day": w.day_of_week, "start": w.start_time, "end": w.end_time} for w in s.weekly_hours]
        weekly_hours_of(hours).validate(v, "staff.weekly_hours")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateStaffResponse:
            if await uow.catalog.store_zone(store_id) is None:
                raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
            row = await uow.catalog.add_staff(
                store_id=store_id,
                staff_id=staff_id,
                display_name=s.display_name,
                skills=sorted(set(s.skills)),
                weekly_hours=hours,
            )
            out = resources_pb2.Staff()
            out.CopyFrom(s)
            out.name = staff_name(store_id, row.staff_id)
            out.active = True
            out.create_time.CopyFrom(ts(row.create_time))
            return pb.CreateStaffResponse(staff=out)

        return await self._mutate("CreateStaff", request, pb.CreateStaffResponse, effect)

    async def CreateRoom(self, request: pb.CreateRoomRequest, context) -> pb.CreateRoomResponse:
        store_id = store_id_of(request.parent, "parent")
        current_principal().require_store(f"stores/{store_id}")
        r = request.room
        room_id = child_id(request.room_id, "room_id")
        v = Violations()
        v.require("room.display_name", r.display_name)
        v.require("room.room_type", r.room_type)
        if r.capacity < 0:
            v.add("room.capacity", "must be at least 1")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateRoomResponse:
            if await uow.catalog.store_zone(store_id) is None:
                raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
            row = await uow.catalog.add_room(
                store_id=store_id,
                room_id=room_id,
                display_name=r.display_name,
                room_type=r.room_type,
                capacity=r.capacity or 1,
            )
            return pb.CreateRoomResponse(
                room=resources_pb2.Room(
                    name=f"stores/{store_id}/rooms/{row.room_id}",
                    display_name=row.display_name,
                    room_type=row.room_type,
                    capacity=row.capacity,
                    active=row.active,
                    create_time=ts(row.create_time),
                )
            )

        return await self._mutate("CreateRoom", request, pb.CreateRoomResponse, effect)

    # --- availability -----------------------------------------------------------------------
    async def QueryAvailability(
        self, request: pb.QueryAvailabilityRequest, context
    ) -> pb.QueryAvailabilityResponse:
        store_id = store_id_of(request.store)
        service_ids = service_ids_of(request.services)
        preferred = staff_of(request.preferred_staff, store_id, "preferred_staff")
        try:
            start_date = date.fromisoformat(request.start_date)
            end_date = date.fromisoformat(request.end_date)
        except ValueError:
            raise InvalidArgument([("start_date", "start_date and end_date must be YYYY-MM-DD")]) from None
        size = min(request.page_size or 100, MAX_PAGE)

        async def read(uow: BookingUnitOfWork) -> pb.QueryAvailabilityResponse:
            tz = await uow.catalog.store_zone(store_id)
            zone = store_zone(tz or "")
            if zone is None:
                raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
            found = await uow.catalog.services(service_ids)
            for sid in service_ids:
                if sid not in found:
                    raise NotFound(f"services/{sid} not found", reason="SERVICE_NOT_FOUND")
            staff = await uow.catalog.staff(store_id)
            rooms = await uow.catalog.rooms(store_id)
            equipment = await uow.catalog.equipment(store_id)
            ids = (
                [s.staff_id for s in staff] + [r.room_id for r in rooms] + [e.equipment_id for e in equipment]
            )
            lo = datetime.combine(start_date, datetime.min.time(), UTC)
            hi = datetime.combine(end_date, datetime.max.time(), UTC)
            busy: list[Busy] = await uow.appointments.busy(
                ids, lo - timedelta(days=2), hi + timedelta(days=3)
            )
            slots = find_slots(
                tz=tz,
                start_date=start_date,
                end_date=end_date,
                services=[found[s].service for s in service_ids],
                staff=staff,
                rooms=rooms,
                equipment=equipment,
                busy=busy,
                preferred_staff=preferred,
                now=datetime.now(UTC),
            )
            price = sum(found[s].list_price_minor for s in service_ids)
            currency = found[service_ids[0]].currency_code
            return pb.QueryAvailabilityResponse(
                time_zone=tz,
                slots=[
                    availability_pb2.Slot(
                        start_time=ts(slot.start_utc),
                        end_time=ts(slot.end_utc),
                        local_start=slot.local_start,
                        local_end=appts.local(slot.end_utc, zone),
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
                        list_price_minor=price,
                        currency_code=currency,
                    )
                    for slot in slots[:size]
                ],
            )

        return await self._read(read)
