"""Visit feedback (反馈) and complaints (投诉) with their first-response SLA (快速响应).

Feedback: once per completed appointment (the table's primary key decides, not a prior read),
within `BookingPolicy.feedback_window_days` of the completion. Complaints: opened with a
first-response deadline of `complaint_first_response_minutes`; the first staff reply (or a
resolution) stops the clock. A deadline that passes with no reply is recorded once, with
`ComplaintSlaBreached`, under the complaint's row lock: by the `check_complaint_slas` job step, or
by the late reply itself when it comes before the job saw the complaint.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from peony.booking.v1 import events_pb2
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kit.ids import new_id, parse_path
from kit.proto import ts
from kit.uow import UnitOfWorkFactory
from services.booking.adapters import aftercare_tables as at
from services.booking.service_layer import catalog
from services.booking.service_layer import policy as booking_policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

COMPLETED = "completed"  # the appointment state (lifecycle)
STAFF_NAME = "stores/{id}/staff/{id}"  # a kit.ids.parse_path template
OPEN, IN_PROGRESS, RESOLVED = "open", "in_progress", "resolved"
BATCH = 200


def require_staff_for(caller: Principal, store_id: str | None) -> None:
    """Front-desk work on a record of `store_id` (None: a record of no store, which only callers
    not bound to stores may touch)."""
    caller.require(auth.BOOKING_STAFF)
    if store_id is not None:
        caller.require_store(f"stores/{store_id}")
    elif caller.stores is not None:
        raise PermissionDenied(
            "only head-office staff may handle records of no store", reason="STORE_OUT_OF_SCOPE"
        )


def require_reader(caller: Principal, member_id: str, store_id: str | None) -> None:
    """A member reads their own records; staff those of their stores."""
    if caller.is_member_self_service:
        caller.require_member(f"members/{member_id}")
    else:
        require_staff_for(caller, store_id)


def staff_of(appointment) -> list[str]:
    return sorted({s["staff"] for s in appointment.services if s.get("staff")})


# --- feedback ---------------------------------------------------------------------------------
async def submit_feedback(
    uow: BookingUnitOfWork, caller: Principal, appointment_id: str, rating: int, comment: str, now: datetime
) -> Row:
    # The appointment's row lock orders its outbox events (FeedbackSubmitted is one of them).
    appointment = await uow.appointments.get(appointment_id, for_update=True)
    if appointment is None:
        raise NotFound(f"appointments/{appointment_id} not found", reason="APPOINTMENT_NOT_FOUND")
    require_reader(caller, appointment.member_id, appointment.store_id)
    if appointment.state != COMPLETED:
        raise FailedPrecondition(
            f"the appointment is {appointment.state}, not completed",
            reason="APPOINTMENT_NOT_COMPLETED",
            metadata={"state": appointment.state},
        )
    rules = await booking_policy.load_policy(uow)
    completed_at = getattr(appointment, "complete_time", None) or appointment.update_time
    closes = completed_at + timedelta(days=rules.feedback_window_days)
    if now > closes:
        raise FailedPrecondition(
            f"feedback closed {rules.feedback_window_days} days after the visit",
            reason="FEEDBACK_WINDOW_CLOSED",
            metadata={
                "feedback_window_days": str(rules.feedback_window_days),
                "closed_at": closes.isoformat(),
            },
        )
    staff = staff_of(appointment)
    row = await uow.aftercare.add_feedback(
        appointment_id=appointment_id,
        member_id=appointment.member_id,
        store_id=appointment.store_id,
        staff=staff,
        services=[s["service"] for s in appointment.services],
        rating=rating,
        comment=comment,
        create_time=now,
    )
    if row is None:
        raise AlreadyExists(
            f"appointments/{appointment_id} already has feedback",
            reason="ALREADY_EXISTS",
            metadata={"feedback": f"appointments/{appointment_id}/feedback"},
        )
    uow.emit(
        events_pb2.FeedbackSubmitted(
            feedback=f"appointments/{appointment_id}/feedback",
            appointment=f"appointments/{appointment_id}",
            member=f"members/{appointment.member_id}",
            store=f"stores/{appointment.store_id}",
            staff=staff,
            rating=rating,
            has_comment=bool(comment),
        ),
        aggregate_type="appointment",
        aggregate_id=appointment_id,
    )
    return row


async def get_feedback(uow: BookingUnitOfWork, caller: Principal, appointment_id: str) -> Row:
    row = await uow.aftercare.feedback_of(appointment_id)
    if row is None:
        raise NotFound(f"appointments/{appointment_id}/feedback not found", reason="FEEDBACK_NOT_FOUND")
    require_reader(caller, row.member_id, row.store_id)
    return row


# --- complaints -------------------------------------------------------------------------------
async def open_complaint(
    uow: BookingUnitOfWork,
    caller: Principal,
    *,
    member_id: str,
    store_id: str | None,
    appointment_id: str | None,
    staff: str | None,
    category: int,
    description: str,
    channel: int,
    now: datetime,
) -> Row:
    if appointment_id is not None:
        appointment = await uow.appointments.get(appointment_id)
        if appointment is None:
            raise NotFound(f"appointments/{appointment_id} not found", reason="APPOINTMENT_NOT_FOUND")
        if appointment.member_id != member_id:
            raise InvalidArgument([("complaint.appointment", "is not the member's appointment")])
        if store_id is not None and store_id != appointment.store_id:
            raise InvalidArgument([("complaint.store", "differs from the appointment's store")])
        store_id = appointment.store_id
    if staff is not None:
        staff_store, staff_id = parse_path(staff, STAFF_NAME) or ("", "")  # checked at the edge
        if store_id is not None and staff_store != store_id:
            raise InvalidArgument([("complaint.staff", f"must be a staff member of stores/{store_id}")])
        store_id = staff_store
    if not caller.is_member_self_service:
        require_staff_for(caller, store_id)
    # Every reference resolved before anything is written.
    await uow.members.require(member_id, "complaint.member")
    if staff is not None:
        await catalog.get_staff(uow, store_id, staff_id)
    elif store_id is not None and appointment_id is None:
        await catalog.require_store(uow, store_id)
    rules = await booking_policy.load_policy(uow)
    row = await uow.aftercare.add_complaint(
        complaint_id=new_id(),
        member_id=member_id,
        store_id=store_id,
        appointment_id=appointment_id,
        staff=staff,
        category=category,
        description=description,
        channel=channel,
        state=OPEN,
        first_response_due_time=now + timedelta(minutes=rules.complaint_first_response_minutes),
        opened_by=caller.subject,
        create_time=now,
        update_time=now,
    )
    uow.emit(
        events_pb2.ComplaintOpened(
            complaint=f"complaints/{row.complaint_id}",
            member=f"members/{member_id}",
            store=f"stores/{store_id}" if store_id else "",
            appointment=f"appointments/{appointment_id}" if appointment_id else "",
            staff=staff or "",
            category=category,
            channel=channel,
            first_response_due_time=ts(row.first_response_due_time),
        ),
        aggregate_type="complaint",
        aggregate_id=str(row.complaint_id),
    )
    return row


async def get_complaint(uow: BookingUnitOfWork, complaint_id: str, *, for_update: bool = False) -> Row:
    row = await uow.aftercare.complaint(complaint_id, for_update=for_update)
    if row is None:
        raise NotFound(f"complaints/{complaint_id} not found", reason="COMPLAINT_NOT_FOUND")
    return row


def _breach(uow: BookingUnitOfWork, row: Row) -> None:
    uow.emit(
        events_pb2.ComplaintSlaBreached(
            complaint=f"complaints/{row.complaint_id}",
            member=f"members/{row.member_id}",
            store=f"stores/{row.store_id}" if row.store_id else "",
            category=row.category,
            open_time=ts(row.create_time),
            first_response_due_time=ts(row.first_response_due_time),
        ),
        aggregate_type="complaint",
        aggregate_id=str(row.complaint_id),
    )


def _first_response(uow: BookingUnitOfWork, row: Row, now: datetime) -> dict:
    """The changes of a complaint's first response at `now`: the SLA clock stops; a late one
    records the breach (once: not if the job already did)."""
    changes: dict = {"first_response_time": now}
    if now > row.first_response_due_time and not row.sla_breached:
        changes["sla_breached"] = True
        _breach(uow, row)
    return changes


async def _lock_unresolved(uow: BookingUnitOfWork, caller: Principal, complaint_id: str) -> Row:
    row = await get_complaint(uow, complaint_id, for_update=True)
    require_staff_for(caller, row.store_id)
    if row.state == RESOLVED:
        raise FailedPrecondition("the complaint is resolved", reason="COMPLAINT_RESOLVED")
    return row


async def respond_to_complaint(
    uow: BookingUnitOfWork, caller: Principal, complaint_id: str, message: str, now: datetime
) -> Row:
    row = await _lock_unresolved(uow, caller, complaint_id)
    reply = {"message": message, "author": caller.subject, "create_time": now.isoformat()}
    changes: dict = {"replies": [*row.replies, reply]}
    if row.state == OPEN:
        changes |= _first_response(uow, row, now)
        changes["state"] = IN_PROGRESS
    return await uow.aftercare.update_complaint(complaint_id, now, **changes)


async def resolve_complaint(
    uow: BookingUnitOfWork, caller: Principal, complaint_id: str, resolution: str, now: datetime
) -> Row:
    row = await _lock_unresolved(uow, caller, complaint_id)
    changes: dict = {"state": RESOLVED, "resolution": resolution, "resolve_time": now}
    if row.state == OPEN:  # resolving counts as the first response
        changes |= _first_response(uow, row, now)
    updated = await uow.aftercare.update_complaint(complaint_id, now, **changes)
    uow.emit(
        events_pb2.ComplaintResolved(
            complaint=f"complaints/{complaint_id}",
            member=f"members/{updated.member_id}",
            store=f"stores/{updated.store_id}" if updated.store_id else "",
            open_time=ts(updated.create_time),
            first_response_time=ts(updated.first_response_time),
            resolve_time=ts(now),
            sla_breached=updated.sla_breached,
        ),
        aggregate_type="complaint",
        aggregate_id=complaint_id,
    )
    return updated


async def breach_complaint(uow: BookingUnitOfWork, complaint_id: str, now: datetime) -> bool:
    """Records one complaint's missed first-response deadline: sets `sla_breached` and emits
    `ComplaintSlaBreached` in the same transaction, after re-locking it with `SKIP LOCKED` and
    re-checking it is still open and unbreached past its deadline. False when nothing was done."""
    row = await uow.aftercare.lock_breaching_complaint(complaint_id)
    if row is None or row.first_response_due_time >= now:
        return False
    await uow.aftercare.update_complaint(complaint_id, now, sla_breached=True)
    _breach(uow, row)
    return True


async def check_complaint_slas(
    engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], now: datetime
) -> int:
    """`BookingJobs` step: records the complaints whose first-response deadline passed with no
    reply, one transaction each; returns how many."""
    c = at.complaints
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(c.c.tenant_id, c.c.complaint_id)
                .where(c.c.state == OPEN, ~c.c.sla_breached, c.c.first_response_due_time < now)
                .order_by(c.c.first_response_due_time)
                .limit(BATCH)
            )
        ).all()
    count = 0
    for tenant, complaint_id in due:

        async def one(uow: BookingUnitOfWork, complaint_id=str(complaint_id)) -> bool:
            return await breach_complaint(uow, complaint_id, now)

        count += await uows.run(tenant, one)
    return count
