"""BookingService RPCs of appointments: book, get, cancel and the rest of their lifecycle. A
mixin of BookingServicer (grpc_servicer.py), which supplies `_mutate` and `_read`."""

from __future__ import annotations

from datetime import UTC

from peony.booking.v1 import appointments_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, NotFound, PermissionDenied
from services.booking.entrypoints.grpc_common import (
    appointment_id_of,
    appointment_to_proto,
    member_id_of,
    service_ids_of,
    staff_of,
    store_id_of,
)
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


class AppointmentRpcs:
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
