"""gRPC entrypoint of booking: translates requests into handler calls and back.

Built so far: CreateService, CreateStaff, CreateRoom, QueryAvailability, BookAppointment,
GetAppointment, CancelAppointment. Every other RPC answers UNIMPLEMENTED from the generated base.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from peony.booking.v1 import appointments_pb2, availability_pb2, catalog_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, NotFound, PermissionDenied, Violations
from kit.ids import is_resource_id, new_id, parse_name
from kit.proto import ts
from kit.servicer import ServicerKit
from services.booking.adapters.repository import staff_name, weekly_hours_of
from services.booking.domain.availability import find_slots, store_zone
from services.booking.domain.schedule import Busy
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

_STATE = {
    appts.BOOKED: appointments_pb2.APPOINTMENT_STATE_BOOKED,
    appts.CANCELLED: appointments_pb2.APPOINTMENT_STATE_CANCELLED,
}
MAX_PAGE = 1000


def store_id_of(name: str, field: str = "store") -> str:
    store_id = parse_name(name, "stores") if name else None
    if not store_id:
        raise InvalidArgument([(field, "must be a resource name of the form stores/{store}")])
    return store_id


def member_id_of(name: str, field: str = "member") -> str:
    member_id = parse_name(name, "members") if name else None
    if not member_id:
        raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
    return member_id


def service_ids_of(names, field: str = "services") -> list[str]:
    out = []
    for i, name in enumerate(names):
        sid = parse_name(name, "services")
        if not sid:
            raise InvalidArgument([(f"{field}[{i}]", "must be services/{service}")])
        out.append(sid)
    if not out:
        raise InvalidArgument([(field, "is required")])
    return out


def staff_of(name: str, store_id: str, field: str) -> str | None:
    if not name:
        return None
    prefix = f"stores/{store_id}/staff/"
    if not name.startswith(prefix) or not name[len(prefix) :]:
        raise InvalidArgument([(field, f"must be {prefix}{{staff}}")])
    return name


def child_id(value: str, field: str) -> str:
    if not value:
        return new_id()
    if not is_resource_id(value):
        raise InvalidArgument([(field, "must match [a-z0-9-]{1,40}")])
    return value


def appointment_id_of(name: str) -> str:
    aid = parse_name(name, "appointments")
    if not aid:
        raise InvalidArgument([("name", "must be appointments/{appointment}")])
    return aid


def service_to_proto(r) -> catalog_pb2.Service:
    return catalog_pb2.Service(
        name=f"services/{r.service_id}",
        display_name=r.display_name,
        category=r.category,
        description=r.description,
        duration_minutes=r.duration_minutes,
        buffer_before_minutes=r.buffer_before_minutes,
        buffer_after_minutes=r.buffer_after_minutes,
        list_price_minor=r.list_price_minor,
        currency_code=r.currency_code,
        requirements=catalog_pb2.ResourceRequirements(
            skill=r.skill or "", room_type=r.room_type or "", equipment_kind=r.equipment_kind or ""
        ),
        online_bookable=r.online_bookable,
        active=r.active,
    )


def appointment_to_proto(a: dict) -> appointments_pb2.Appointment:
    def instant(value: str):
        return ts(datetime.fromisoformat(value))

    return appointments_pb2.Appointment(
        name=f"appointments/{a['appointment_id']}",
        member=f"members/{a['member_id']}",
        store=f"stores/{a['store_id']}",
        channel=a["channel"],
        state=_STATE.get(a["state"], appointments_pb2.APPOINTMENT_STATE_UNSPECIFIED),
        services=[
            appointments_pb2.BookedService(
                service=f"services/{s['service']}",
                display_name=s["display_name"],
                staff=s["staff"],
                room=s["room"],
                equipment=s["equipment"],
                start_time=instant(s["start"]),
                end_time=instant(s["end"]),
                reserved_start_time=instant(s["reserved_start"]),
            )
            for s in a["services"]
        ],
        start_time=ts(a["start_time"]),
        end_time=ts(a["end_time"]),
        local_start=a["local_start"],
        local_end=a["local_end"],
        time_zone=a["time_zone"],
        list_price_minor=a["list_price_minor"],
        currency_code=a["currency_code"],
        notes=a["notes"],
        overridden_rules=a.get("overridden_rules") or [],
        override_reason=a.get("override_reason") or "",
    )


class BookingServicer(ServicerKit[BookingUnitOfWork], pb_grpc.BookingServiceServicer):
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

    # --- appointments -----------------------------------------------------------------------
    async def BookAppointment(
        self, request: pb.BookAppointmentRequest, context
    ) -> pb.BookAppointmentResponse:
        member = request.member
        caller = current_principal()
        if caller.is_member_self_service and not member:
            member = caller.subject
        member_id = member_id_of(member)
        caller.require_member(f"members/{member_id}")
        store_id = store_id_of(request.store)
        caller.require_store(f"stores/{store_id}")
        service_ids = service_ids_of(request.services)
        staff = staff_of(request.preferred_staff, store_id, "preferred_staff")
        if request.assignments:
            staff = staff_of(request.assignments[0].staff, store_id, "assignments[0].staff")
        if not request.HasField("start_time"):
            raise InvalidArgument([("start_time", "is required")])
        start_utc = request.start_time.ToDatetime(tzinfo=UTC)
        channel = request.channel or appointments_pb2.BOOKING_CHANNEL_ONLINE
        if request.staff_override:
            if not caller.has(auth.BOOKING_OVERRIDE):
                raise PermissionDenied(
                    "only staff allowed to override booking rules may do so",
                    reason="OVERRIDE_NOT_ALLOWED",
                    metadata={"permission": auth.BOOKING_OVERRIDE},
                )
            if not request.override_reason.strip():
                raise InvalidArgument([("override_reason", "is required with staff_override")])

        async def effect(uow: BookingUnitOfWork) -> pb.BookAppointmentResponse:
            row = await appts.book_appointment(
                uow,
                member=member_id,
                store=store_id,
                service_ids=service_ids,
                staff=staff,
                start_utc=start_utc,
                channel=channel,
                notes=request.notes,
                staff_override=request.staff_override,
                override_reason=request.override_reason.strip(),
            )
            return pb.BookAppointmentResponse(appointment=appointment_to_proto(row))

        return await self._mutate("BookAppointment", request, pb.BookAppointmentResponse, effect)

    async def GetAppointment(self, request: pb.GetAppointmentRequest, context) -> pb.GetAppointmentResponse:
        appointment_id = appointment_id_of(request.name)
        caller = current_principal()

        async def read(uow: BookingUnitOfWork) -> pb.GetAppointmentResponse:
            row = await uow.appointments.get(appointment_id)
            if row is None:
                raise NotFound(f"{request.name} not found", reason="APPOINTMENT_NOT_FOUND")
            caller.require_member(f"members/{row.member_id}")
            return pb.GetAppointmentResponse(appointment=appointment_to_proto(row._asdict()))

        return await self._read(read)

    async def CancelAppointment(
        self, request: pb.CancelAppointmentRequest, context
    ) -> pb.CancelAppointmentResponse:
        appointment_id = appointment_id_of(request.name)

        async def effect(uow: BookingUnitOfWork) -> pb.CancelAppointmentResponse:
            row = await appts.cancel_appointment(uow, appointment_id, reason=request.reason)
            return pb.CancelAppointmentResponse(appointment=appointment_to_proto(row))

        return await self._mutate("CancelAppointment", request, pb.CancelAppointmentResponse, effect)
