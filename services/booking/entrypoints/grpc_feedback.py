"""BookingService RPCs of visit feedback and complaints: a mixin of BookingServicer (grpc_servicer.py), which
supplies `_mutate`, `_read` and `_tokens` (kit.servicer)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.booking.v1 import appointments_pb2, feedback_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import parse_name, parse_path
from kit.pagination import page_size
from kit.proto import ts
from services.booking.entrypoints.grpc_common import member_id_of, store_id_of
from services.booking.service_layer import feedback as fb
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

_COMPLAINT_STATE = {
    fb.OPEN: feedback_pb2.COMPLAINT_STATE_OPEN,
    fb.IN_PROGRESS: feedback_pb2.COMPLAINT_STATE_IN_PROGRESS,
    fb.RESOLVED: feedback_pb2.COMPLAINT_STATE_RESOLVED,
}
_COMPLAINT_STATE_BACK = {v: k for k, v in _COMPLAINT_STATE.items()}
_FEEDBACK_SUFFIX = "/feedback"
MAX_TEXT = 2000
MAX_DESCRIPTION = 4000


def feedback_to_proto(r) -> feedback_pb2.Feedback:
    return feedback_pb2.Feedback(
        name=f"appointments/{r.appointment_id}/feedback",
        rating=r.rating,
        comment=r.comment,
        member=f"members/{r.member_id}",
        store=f"stores/{r.store_id}",
        staff=list(r.staff),
        services=[f"services/{s}" for s in r.services],
        create_time=ts(r.create_time),
    )


def complaint_to_proto(r) -> feedback_pb2.Complaint:
    return feedback_pb2.Complaint(
        name=f"complaints/{r.complaint_id}",
        member=f"members/{r.member_id}",
        store=f"stores/{r.store_id}" if r.store_id else "",
        appointment=f"appointments/{r.appointment_id}" if r.appointment_id else "",
        staff=r.staff or "",
        category=r.category,
        description=r.description,
        channel=r.channel,
        state=_COMPLAINT_STATE[r.state],
        first_response_due_time=ts(r.first_response_due_time),
        first_response_time=ts(r.first_response_time),
        sla_breached=r.sla_breached,
        replies=[
            feedback_pb2.ComplaintReply(
                message=x["message"],
                author=x["author"],
                create_time=ts(datetime.fromisoformat(x["create_time"])),
            )
            for x in r.replies
        ],
        resolution=r.resolution or "",
        resolve_time=ts(r.resolve_time),
        opened_by=r.opened_by,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def _appointment_of(name: str, field: str) -> str:
    appointment_id = parse_name(name, "appointments", uuid=True) if name else None
    if not appointment_id:
        raise InvalidArgument([(field, "must be appointments/{appointment}")])
    return appointment_id


def _feedback_appointment_of(name: str) -> str:
    inner = name.removesuffix(_FEEDBACK_SUFFIX) if name.endswith(_FEEDBACK_SUFFIX) else ""
    appointment_id = parse_name(inner, "appointments", uuid=True) if inner else None
    if not appointment_id:
        raise InvalidArgument([("name", "must be appointments/{appointment}/feedback")])
    return appointment_id


def _complaint_of(name: str) -> str:
    complaint_id = parse_name(name, "complaints", uuid=True) if name else None
    if not complaint_id:
        raise InvalidArgument([("name", "must be complaints/{complaint}")])
    return complaint_id


def _staff_scope(caller, store: str) -> list[str] | None:
    """The stores a staff list query covers: the requested one (in the caller's scope), else the
    caller's own stores (None: every store)."""
    caller.require(auth.BOOKING_STAFF)
    if store:
        store_id = store_id_of(store)
        caller.require_store(f"stores/{store_id}")
        return [store_id]
    if caller.stores is not None:
        return sorted(s.removeprefix("stores/") for s in caller.stores)
    return None


def _check_text(v: Violations, field: str, value: str, limit: int) -> None:
    if not value.strip():
        v.add(field, "is required")
    elif len(value) > limit:
        v.add(field, f"must be at most {limit} characters")


class FeedbackRpcs:
    # --- feedback ---------------------------------------------------------------------------
    async def SubmitFeedback(self, request: pb.SubmitFeedbackRequest, context) -> pb.SubmitFeedbackResponse:
        appointment_id = _appointment_of(request.parent, "parent")
        v = Violations()
        if not 1 <= request.feedback.rating <= 5:
            v.add("feedback.rating", "must be 1 .. 5")
        if len(request.feedback.comment) > MAX_TEXT:
            v.add("feedback.comment", f"must be at most {MAX_TEXT} characters")
        v.raise_if_any()
        caller = current_principal()

        async def effect(uow: BookingUnitOfWork) -> pb.SubmitFeedbackResponse:
            row = await fb.submit_feedback(
                uow,
                caller,
                appointment_id,
                request.feedback.rating,
                request.feedback.comment.strip(),
                datetime.now(UTC),
            )
            return pb.SubmitFeedbackResponse(feedback=feedback_to_proto(row))

        return await self._mutate("SubmitFeedback", request, pb.SubmitFeedbackResponse, effect)

    async def GetFeedback(self, request: pb.GetFeedbackRequest, context) -> pb.GetFeedbackResponse:
        appointment_id = _feedback_appointment_of(request.name)
        caller = current_principal()

        async def read(uow: BookingUnitOfWork) -> pb.GetFeedbackResponse:
            row = await fb.get_feedback(uow, caller, appointment_id)
            return pb.GetFeedbackResponse(feedback=feedback_to_proto(row))

        return await self._read(read)

    async def ListFeedback(self, request: pb.ListFeedbackRequest, context) -> pb.ListFeedbackResponse:
        caller = current_principal()
        store_ids = _staff_scope(caller, request.store)
        staff = None
        if request.staff:
            if parse_path(request.staff, fb.STAFF_NAME) is None:
                raise InvalidArgument([("staff", "must be stores/{store}/staff/{staff}")])
            staff = request.staff
        if not 0 <= request.max_rating <= 5:
            raise InvalidArgument([("max_rating", "must be 0 .. 5")])
        time_from = (
            request.create_time_from.ToDatetime(tzinfo=UTC) if request.HasField("create_time_from") else None
        )
        time_to = (
            request.create_time_to.ToDatetime(tzinfo=UTC) if request.HasField("create_time_to") else None
        )
        if time_from is not None and time_to is not None and time_to <= time_from:
            raise InvalidArgument(
                [("create_time_to", "must be after create_time_from")], reason="END_BEFORE_START"
            )
        size = page_size(request.page_size)
        binding = (
            f"{caller.tenant}|feedback|{store_ids}|{staff}|{request.max_rating}|"
            f"{time_from and time_from.isoformat()}|{time_to and time_to.isoformat()}"
        )
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor.get("id") else None

        async def read(uow: BookingUnitOfWork) -> pb.ListFeedbackResponse:
            rows, total, mean = await uow.aftercare.list_feedback(
                limit=size,
                before=before,
                store_ids=store_ids,
                staff=staff,
                max_rating=request.max_rating,
                time_from=time_from,
                time_to=time_to,
            )
            token = ""
            if len(rows) == size:
                last = rows[-1]
                token = self._tokens.encode(
                    {"t": last.create_time.isoformat(), "id": str(last.appointment_id)}, binding=binding
                )
            return pb.ListFeedbackResponse(
                feedback=[feedback_to_proto(r) for r in rows],
                next_page_token=token,
                average_rating_centi=round(float(mean) * 100) if mean is not None else 0,
                total_size=total,
            )

        return await self._read(read)

    # --- complaints -------------------------------------------------------------------------
    async def OpenComplaint(self, request: pb.OpenComplaintRequest, context) -> pb.OpenComplaintResponse:
        caller = current_principal()
        c = request.complaint
        member = c.member
        if caller.is_member_self_service:
            member = member or caller.subject
            caller.require_member(member)
        v = Violations()
        member_id = parse_name(member, "members") if member else None
        if not member_id:
            v.add("complaint.member", "must be members/{member}")
        _check_text(v, "complaint.description", c.description, MAX_DESCRIPTION)
        store_id = parse_name(c.store, "stores") if c.store else None
        if c.store and not store_id:
            v.add("complaint.store", "must be stores/{store}")
        appointment_id = parse_name(c.appointment, "appointments", uuid=True) if c.appointment else None
        if c.appointment and not appointment_id:
            v.add("complaint.appointment", "must be appointments/{appointment}")
        staff = c.staff or None
        if staff is not None and parse_path(staff, fb.STAFF_NAME) is None:
            v.add("complaint.staff", "must be stores/{store}/staff/{staff}")
        if c.category not in feedback_pb2.ComplaintCategory.values():
            v.add("complaint.category", "is not a complaint category")
        if c.channel not in appointments_pb2.BookingChannel.values():
            v.add("complaint.channel", "is not a booking channel")
        v.raise_if_any()
        default_channel = (
            appointments_pb2.BOOKING_CHANNEL_ONLINE
            if caller.is_member_self_service
            else appointments_pb2.BOOKING_CHANNEL_STORE
        )

        async def effect(uow: BookingUnitOfWork) -> pb.OpenComplaintResponse:
            row = await fb.open_complaint(
                uow,
                caller,
                member_id=member_id,
                store_id=store_id,
                appointment_id=appointment_id,
                staff=staff,
                category=c.category or feedback_pb2.COMPLAINT_CATEGORY_OTHER,
                description=c.description.strip(),
                channel=c.channel or default_channel,
                now=datetime.now(UTC),
            )
            return pb.OpenComplaintResponse(complaint=complaint_to_proto(row))

        return await self._mutate("OpenComplaint", request, pb.OpenComplaintResponse, effect)

    async def GetComplaint(self, request: pb.GetComplaintRequest, context) -> pb.GetComplaintResponse:
        complaint_id = _complaint_of(request.name)
        caller = current_principal()

        async def read(uow: BookingUnitOfWork) -> pb.GetComplaintResponse:
            row = await fb.get_complaint(uow, complaint_id)
            fb.require_reader(caller, row.member_id, row.store_id)
            return pb.GetComplaintResponse(complaint=complaint_to_proto(row))

        return await self._read(read)

    async def ListComplaints(self, request: pb.ListComplaintsRequest, context) -> pb.ListComplaintsResponse:
        caller = current_principal()
        member_id = member_id_of(request.member) if request.member else None
        if caller.is_member_self_service:
            if request.member:
                caller.require_member(request.member)
            member_id = member_id_of(caller.subject)
            store_ids = [store_id_of(request.store)] if request.store else None
        else:
            store_ids = _staff_scope(caller, request.store)
        bad = [s for s in request.states if s not in _COMPLAINT_STATE_BACK]
        if bad:
            raise InvalidArgument([("states", "lists a value that is not a complaint state")])
        states = sorted({_COMPLAINT_STATE_BACK[s] for s in request.states})
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|complaints|{store_ids}|{member_id}|{states}|{request.sla_breached_only}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor.get("id") else None

        async def read(uow: BookingUnitOfWork) -> pb.ListComplaintsResponse:
            rows = await uow.aftercare.complaints(
                limit=size,
                before=before,
                store_ids=store_ids,
                member_id=member_id,
                states=states,
                sla_breached_only=request.sla_breached_only,
            )
            token = ""
            if len(rows) == size:
                last = rows[-1]
                token = self._tokens.encode(
                    {"t": last.create_time.isoformat(), "id": str(last.complaint_id)}, binding=binding
                )
            return pb.ListComplaintsResponse(
                complaints=[complaint_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def RespondToComplaint(
        self, request: pb.RespondToComplaintRequest, context
    ) -> pb.RespondToComplaintResponse:
        complaint_id = _complaint_of(request.name)
        v = Violations()
        _check_text(v, "message", request.message, MAX_TEXT)
        v.raise_if_any()
        caller = current_principal()
        caller.require(auth.BOOKING_STAFF)

        async def effect(uow: BookingUnitOfWork) -> pb.RespondToComplaintResponse:
            row = await fb.respond_to_complaint(
                uow, caller, complaint_id, request.message.strip(), datetime.now(UTC)
            )
            return pb.RespondToComplaintResponse(complaint=complaint_to_proto(row))

        return await self._mutate("RespondToComplaint", request, pb.RespondToComplaintResponse, effect)

    async def ResolveComplaint(
        self, request: pb.ResolveComplaintRequest, context
    ) -> pb.ResolveComplaintResponse:
        complaint_id = _complaint_of(request.name)
        v = Violations()
        _check_text(v, "resolution", request.resolution, MAX_TEXT)
        v.raise_if_any()
        caller = current_principal()
        caller.require(auth.BOOKING_STAFF)

        async def effect(uow: BookingUnitOfWork) -> pb.ResolveComplaintResponse:
            row = await fb.resolve_complaint(
                uow, caller, complaint_id, request.resolution.strip(), datetime.now(UTC)
            )
            return pb.ResolveComplaintResponse(complaint=complaint_to_proto(row))

        return await self._mutate("ResolveComplaint", request, pb.ResolveComplaintResponse, effect)
