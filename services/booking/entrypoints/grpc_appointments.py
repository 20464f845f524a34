"""BookingService RPCs of appointments: book, get, list, update and the rest of their lifecycle. A
mixin of BookingServicer (grpc_servicer.py), which supplies `_mutate` and `_read`.

Who may do what: a member (self-service token) acts only on their own appointments and may book,
reschedule (until the free-cancellation cut-off), cancel (until the start, never waiving) and edit
notes; staff act within their stores and need `booking.staff` to change an appointment (check-in,
completion and no-shows are staff only)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.booking.v1 import appointments_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import Principal, current_principal
from kit.errors import InvalidArgument, PermissionDenied, Violations
from kit.ids import parse_name, parse_path
from kit.members_client import member_of_card
from kit.pagination import page_size
from services.booking.entrypoints.grpc_common import (
    STATE_OF,
    appointment_id_of,
    appointment_to_proto,
    member_id_of,
    service_ids_of,
    staff_of,
    store_id_of,
)
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

# SlotAssignment fields: name, collection in the resource name, required
_ASSIGNED = (("staff", "staff", True), ("room", "rooms", False), ("equipment", "equipment", False))


def actor_of(caller: Principal) -> int:
    return appts.ACTOR_MEMBER if caller.is_member_self_service else appts.ACTOR_STAFF


def authorize(caller: Principal, row, *, change: bool) -> None:
    """A member only their own; staff only their stores' (and `booking.staff` to change one)."""
    if caller.is_member_self_service:
        caller.require_member(f"members/{row.member_id}")
        return
    caller.require_store(f"stores/{row.store_id}")
    if change:
        caller.require(auth.BOOKING_STAFF)


def assignments_of(items, store_id: str | None) -> list[appts.Assignment]:
    """Parses `assignments`: resource names of `store_id`'s staff, rooms and equipment (any store
    while it is None: a reschedule checks again once the appointment is loaded). That they list
    the services in order is checked where the services are known."""
    v = Violations()
    out = []
    for i, a in enumerate(items):
        at = f"assignments[{i}]"
        service = parse_name(a.service, "services") if a.service else None
        if not service:
            v.add(f"{at}.service", "must be services/{service}")
        names = {}
        for what, plural, required in _ASSIGNED:
            value = getattr(a, what)
            if not value:
                if required:
                    v.add(f"{at}.{what}", "is required")
                continue
            ids = parse_path(value, f"stores/{{id}}/{plural}/{{id}}")
            if ids is None or (store_id is not None and ids[0] != store_id):
                v.add(f"{at}.{what}", f"must be stores/{store_id or '{store}'}/{plural}/{{{what}}}")
            names[what] = value
        out.append(
            appts.Assignment(
                service or "", names.get("staff", ""), names.get("room", ""), names.get("equipment", "")
            )
        )
    v.raise_if_any()
    return out


def override_checked(caller: Principal, staff_override: bool, reason: str) -> str:
    if not staff_override:
        return ""
    if not caller.has(auth.BOOKING_OVERRIDE):
        raise PermissionDenied(
            "only staff allowed to override booking rules may do so",
            reason="OVERRIDE_NOT_ALLOWED",
            metadata={"permission": auth.BOOKING_OVERRIDE},
        )
    if not reason.strip():
        raise InvalidArgument([("override_reason", "is required with staff_override")])
    return reason.strip()


def instant_of(request, field: str) -> datetime | None:
    return getattr(request, field).ToDatetime(tzinfo=UTC) if request.HasField(field) else None


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
        assignments = assignments_of(request.assignments, store_id)
        if assignments and len(assignments) != len(service_ids):
            raise InvalidArgument(
                [("assignments", "must list one entry per service, in the order of `services`")]
            )
        for i, (a, sid) in enumerate(zip(assignments, service_ids, strict=False)):
            if a.service != sid:
                raise InvalidArgument([(f"assignments[{i}].service", f"must be services/{sid}")])
        staff = None if assignments else staff_of(request.preferred_staff, store_id, "preferred_staff")
        if not request.HasField("start_time"):
            raise InvalidArgument([("start_time", "is required")])
        start_utc = request.start_time.ToDatetime(tzinfo=UTC)
        channel = request.channel or appointments_pb2.BOOKING_CHANNEL_ONLINE
        override_reason = override_checked(caller, request.staff_override, request.override_reason)
        if caller.is_member_self_service and channel not in appts.SELF_SERVICE:
            raise InvalidArgument([("channel", "a member books online or in the mini program")])
        wallet_hold = request.wallet_hold if request.HasField("wallet_hold") else None
        if wallet_hold is not None and wallet_hold.HasField("package_session"):
            held_service = wallet_hold.package_session.service
            if held_service not in request.services:
                raise InvalidArgument(
                    [("wallet_hold.package_session.service", "must be one of the booked `services`")]
                )

        if request.card_number:
            # A card presented at the front desk (staff work): only an active card of the member.
            caller.require(auth.BOOKING_STAFF)
            replay = await self._recorded_response("BookAppointment", request, pb.BookAppointmentResponse)
            if replay is not None:
                return replay
            card_member = await member_of_card(
                self._uows.deps.get("members_client"), caller.tenant, request.card_number
            )
            if card_member != member_id:
                raise InvalidArgument([("card_number", "is not a card of the member")])

        def respond(row: dict) -> pb.BookAppointmentResponse:
            return pb.BookAppointmentResponse(appointment=appointment_to_proto(row))

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
                override_reason=override_reason,
                assignments=assignments,
                wallet_hold=wallet_hold,
                request_key=request.request_id,
                booked_by=caller.subject,
                respond=respond,
            )
            return respond(row)

        return await self._mutate("BookAppointment", request, pb.BookAppointmentResponse, effect)

    async def GetAppointment(self, request: pb.GetAppointmentRequest, context) -> pb.GetAppointmentResponse:
        appointment_id = appointment_id_of(request.name)
        caller = current_principal()

        async def read(uow: BookingUnitOfWork) -> pb.GetAppointmentResponse:
            row = await appts.load(uow, appointment_id)
            authorize(caller, row, change=False)
            (full,) = await appts.with_reminders(uow, [row])
            return pb.GetAppointmentResponse(appointment=appointment_to_proto(full))

        return await self._read(read)

    async def ListAppointments(
        self, request: pb.ListAppointmentsRequest, context
    ) -> pb.ListAppointmentsResponse:
        caller = current_principal()
        size = page_size(request.page_size)
        member_id = member_id_of(request.member) if request.member else None
        if caller.is_member_self_service:
            own = member_id_of(caller.subject, "member")
            if member_id is not None and member_id != own:
                caller.require_member(f"members/{member_id}")
            member_id = own
        store_id = store_id_of(request.store) if request.store else None
        if store_id is not None and not caller.is_member_self_service:
            caller.require_store(f"stores/{store_id}")
        staff = request.staff or None
        if staff is not None and parse_path(staff, "stores/{id}/staff/{id}") is None:
            raise InvalidArgument([("staff", "must be stores/{store}/staff/{staff}")])
        states = []
        for i, state in enumerate(request.states):
            if state not in STATE_OF:
                raise InvalidArgument([(f"states[{i}]", "must be a known appointment state")])
            states.append(STATE_OF[state])
        start_from = instant_of(request, "start_time_from")
        start_to = instant_of(request, "start_time_to")
        if start_from is not None and start_to is not None and start_to < start_from:
            raise InvalidArgument(
                [("start_time_to", "must not be before start_time_from")], reason="END_BEFORE_START"
            )
        if store_id is not None:
            store_ids = [store_id]
        elif caller.stores is not None and not caller.is_member_self_service:
            store_ids = sorted(s.removeprefix("stores/") for s in caller.stores)
        else:
            store_ids = None
        binding = (
            f"{caller.tenant}|appointments|{caller.subject if caller.is_member_self_service else ''}|"
            f"{member_id}|{store_ids}|{staff}|{sorted(states)}|{start_from}|{start_to}"
        )
        cursor = self._tokens.decode(request.page_token, binding=binding)
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow: BookingUnitOfWork) -> pb.ListAppointmentsResponse:
            rows = await appts.list_appointments(
                uow,
                limit=size,
                store_ids=store_ids,
                member_id=member_id,
                staff=staff,
                states=states,
                start_from=start_from,
                start_to=start_to,
                after=after,
            )
            token = ""
            if len(rows) == size:
                last = rows[-1]
                token = self._tokens.encode(
                    {"t": last["start_time"].isoformat(), "id": str(last["appointment_id"])}, binding=binding
                )
            return pb.ListAppointmentsResponse(
                appointments=[appointment_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateAppointment(
        self, request: pb.UpdateAppointmentRequest, context
    ) -> pb.UpdateAppointmentResponse:
        caller = current_principal()
        if not request.HasField("appointment"):
            raise InvalidArgument([("appointment", "is required")])
        appointment_id = appointment_id_of(request.appointment.name)
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
        others = [p for p in paths if p != "notes"]
        if others:
            raise InvalidArgument(
                [("update_mask", f"only `notes` can be updated (use RescheduleAppointment); got {others[0]}")]
            )
        notes = request.appointment.notes

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateAppointmentResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            updated = await appts.update_notes(uow, appointment_id, notes)
            return pb.UpdateAppointmentResponse(appointment=appointment_to_proto(updated))

        return await self._mutate("UpdateAppointment", request, pb.UpdateAppointmentResponse, effect)

    async def RescheduleAppointment(
        self, request: pb.RescheduleAppointmentRequest, context
    ) -> pb.RescheduleAppointmentResponse:
        caller = current_principal()
        appointment_id = appointment_id_of(request.name)
        if not request.HasField("start_time"):
            raise InvalidArgument([("start_time", "is required")])
        start_utc = request.start_time.ToDatetime(tzinfo=UTC)
        assignments = assignments_of(request.assignments, None)
        override_reason = override_checked(caller, request.staff_override, request.override_reason)

        async def effect(uow: BookingUnitOfWork) -> pb.RescheduleAppointmentResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            # the store is known now: the names must be of its staff, rooms and equipment
            assignments_of(request.assignments, row.store_id)
            staff = (
                None if assignments else staff_of(request.preferred_staff, row.store_id, "preferred_staff")
            )
            updated = await appts.reschedule_appointment(
                uow,
                appointment_id,
                start_utc=start_utc,
                actor=actor_of(caller),
                staff=staff,
                assignments=assignments,
                staff_override=request.staff_override,
                override_reason=override_reason,
                request_key=request.request_id,
                payment_pin=request.payment_pin,
            )
            return pb.RescheduleAppointmentResponse(appointment=appointment_to_proto(updated))

        return await self._mutate("RescheduleAppointment", request, pb.RescheduleAppointmentResponse, effect)

    async def CancelAppointment(
        self, request: pb.CancelAppointmentRequest, context
    ) -> pb.CancelAppointmentResponse:
        caller = current_principal()
        appointment_id = appointment_id_of(request.name)
        if request.waive_late_cancel and (
            caller.is_member_self_service or not caller.has(auth.BOOKING_STAFF)
        ):
            raise PermissionDenied(
                "only staff may waive a late cancellation",
                reason="WAIVE_NOT_ALLOWED",
                metadata={"permission": auth.BOOKING_STAFF},
            )

        async def effect(uow: BookingUnitOfWork) -> pb.CancelAppointmentResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            updated = await appts.cancel_appointment(
                uow,
                appointment_id,
                reason=request.reason,
                actor=actor_of(caller),
                waive_late_cancel=request.waive_late_cancel,
            )
            return pb.CancelAppointmentResponse(appointment=appointment_to_proto(updated))

        return await self._mutate("CancelAppointment", request, pb.CancelAppointmentResponse, effect)

    async def CheckInAppointment(
        self, request: pb.CheckInAppointmentRequest, context
    ) -> pb.CheckInAppointmentResponse:
        caller = current_principal()
        appointment_id = appointment_id_of(request.name)
        caller.require(auth.BOOKING_STAFF)

        async def effect(uow: BookingUnitOfWork) -> pb.CheckInAppointmentResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            updated = await appts.check_in_appointment(uow, appointment_id)
            return pb.CheckInAppointmentResponse(appointment=appointment_to_proto(updated))

        return await self._mutate("CheckInAppointment", request, pb.CheckInAppointmentResponse, effect)

    async def CompleteAppointment(
        self, request: pb.CompleteAppointmentRequest, context
    ) -> pb.CompleteAppointmentResponse:
        caller = current_principal()
        appointment_id = appointment_id_of(request.name)
        caller.require(auth.BOOKING_STAFF)
        if request.hold_settlement not in appointments_pb2.HoldSettlement.values():
            raise InvalidArgument([("hold_settlement", "must be a known HoldSettlement")])
        capture = request.hold_settlement == appointments_pb2.HOLD_SETTLEMENT_CAPTURE

        async def effect(uow: BookingUnitOfWork) -> pb.CompleteAppointmentResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            updated, follow_ups = await appts.complete_appointment(uow, appointment_id, capture_hold=capture)
            return pb.CompleteAppointmentResponse(
                appointment=appointment_to_proto(updated), follow_ups=follow_ups
            )

        return await self._mutate("CompleteAppointment", request, pb.CompleteAppointmentResponse, effect)

    async def MarkNoShow(self, request: pb.MarkNoShowRequest, context) -> pb.MarkNoShowResponse:
        caller = current_principal()
        appointment_id = appointment_id_of(request.name)
        caller.require(auth.BOOKING_STAFF)

        async def effect(uow: BookingUnitOfWork) -> pb.MarkNoShowResponse:
            row = await appts.load(uow, appointment_id, for_update=True)
            authorize(caller, row, change=True)
            updated, standing = await appts.mark_no_show(uow, appointment_id)
            response = pb.MarkNoShowResponse(appointment=appointment_to_proto(updated))
            if standing is not None:
                response.booking_standing.CopyFrom(standing)
            return response

        return await self._mutate("MarkNoShow", request, pb.MarkNoShowResponse, effect)
