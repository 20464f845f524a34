"""Service plans ("after service X, remind for service Y after N days") and their follow-ups.

Completing an appointment (`on_completed`, in the completing transaction) schedules one follow-up
per active plan its services trigger; the unique key (appointment, plan) makes a repeated call a
no-op. The follow-up is due N days after the store-local completion date, and its reminder fires
at the policy's `follow_up_remind_time`, store-local, `remind_days_before` days earlier: a wall
time computed in the store's IANA zone (so it stays 10:00 across a DST change) and stored as a UTC
instant (one already past when the visit is completed fires at the next tick).
`fire_follow_ups` (a `BookingJobs` step) fires each due one exactly once as `FollowUpDue`,
or skips it when the plan was deactivated or the member already booked the follow-up service.
A fired follow-up is on its store's work list until staff record the outcome of the call
(`resolve_follow_up`: fired -> resolved, once, with `FollowUpResolved`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from peony.booking.v1 import appointments_pb2, events_pb2
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, NotFound
from kit.ids import new_id
from kit.proto import ts
from kit.uow import UnitOfWorkFactory
from services.booking.adapters import aftercare_tables as at
from services.booking.domain.availability import local_to_utc, store_zone
from services.booking.service_layer.policy import BookingPolicy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

SCHEDULED, FIRED, SKIPPED, RESOLVED = "scheduled", "fired", "skipped", "resolved"
OUTCOMES = ("reached", "booked", "declined", "unreachable")
DEFAULT_REMIND_TIME = time(10, 0)
BATCH = 200
_FOLLOW_UP_STATE = {
    SCHEDULED: appointments_pb2.FOLLOW_UP_STATE_SCHEDULED,
    FIRED: appointments_pb2.FOLLOW_UP_STATE_FIRED,
    SKIPPED: appointments_pb2.FOLLOW_UP_STATE_SKIPPED,
    RESOLVED: appointments_pb2.FOLLOW_UP_STATE_RESOLVED,
}
# outcome column <-> FollowUpOutcome
OUTCOME_VALUE = {
    name: appointments_pb2.FollowUpOutcome.Value(f"FOLLOW_UP_OUTCOME_{name.upper()}") for name in OUTCOMES
}
OUTCOME_OF = {value: name for name, value in OUTCOME_VALUE.items()}


def follow_up_to_proto(r) -> appointments_pb2.FollowUp:
    """A `follow_ups` row as a FollowUp."""
    return appointments_pb2.FollowUp(
        name=f"followUps/{r.follow_up_id}",
        service_plan=f"servicePlans/{r.plan_id}",
        member=f"members/{r.member_id}",
        store=f"stores/{r.store_id}",
        source_appointment=f"appointments/{r.appointment_id}",
        follow_up_service=f"services/{r.follow_up_service_id}",
        due_date=r.due_date.isoformat(),
        remind_time=ts(r.remind_utc),
        state=_FOLLOW_UP_STATE[r.state],
        resolve_time=ts(r.resolve_time),
        create_time=ts(r.create_time),
        outcome=OUTCOME_VALUE.get(r.outcome or "", 0),
        outcome_time=ts(r.outcome_time),
        resolved_by=r.resolved_by or "",
        booked_appointment=f"appointments/{r.booked_appointment_id}" if r.booked_appointment_id else "",
    )


def remind_time_of(hhmm: str) -> time:
    """The policy's `HH:MM`; the default 10:00 when it is malformed."""
    try:
        hours, minutes = hhmm.split(":")
        return time(int(hours), int(minutes))
    except (AttributeError, ValueError):
        return DEFAULT_REMIND_TIME


def follow_up_schedule(
    complete_utc: datetime, zone, after_days: int, remind_days_before: int, remind_at: time
) -> tuple[date, datetime]:
    """(due date, remind instant): the due date is `after_days` after the store-local completion
    date; the reminder is the wall time `remind_at` on `remind_days_before` days before it, read in
    the store's zone (a wall time in a spring-forward gap moves to when the clock resumes)."""
    due = complete_utc.astimezone(zone).date() + timedelta(days=after_days)
    remind_day = due - timedelta(days=remind_days_before)
    return due, local_to_utc(datetime.combine(remind_day, remind_at), zone)


# --- plans ------------------------------------------------------------------------------------
async def _require_services(uow: BookingUnitOfWork, service_ids: list[str]) -> None:
    found = await uow.catalog.services(service_ids)
    for service_id in service_ids:
        if service_id not in found:
            raise NotFound(
                f"services/{service_id} not found",
                reason="SERVICE_NOT_FOUND",
                metadata={"service": f"services/{service_id}"},
            )


async def create_plan(
    uow: BookingUnitOfWork,
    *,
    plan_id: str,
    display_name: str,
    trigger_service_id: str,
    follow_up_service_id: str,
    follow_up_after_days: int,
    remind_days_before: int,
    now: datetime,
) -> Row:
    await _require_services(uow, [trigger_service_id, follow_up_service_id])
    row = await uow.aftercare.add_plan(
        plan_id=plan_id,
        display_name=display_name,
        trigger_service_id=trigger_service_id,
        follow_up_service_id=follow_up_service_id,
        follow_up_after_days=follow_up_after_days,
        remind_days_before=remind_days_before,
        active=True,
        create_time=now,
        update_time=now,
    )
    if row is None:
        raise AlreadyExists(
            f"servicePlans/{plan_id} already exists",
            reason="ALREADY_EXISTS",
            metadata={"service_plan": f"servicePlans/{plan_id}"},
        )
    return row


async def get_plan(uow: BookingUnitOfWork, plan_id: str, *, for_update: bool = False) -> Row:
    row = await uow.aftercare.plan(plan_id, for_update=for_update)
    if row is None:
        raise NotFound(f"servicePlans/{plan_id} not found", reason="SERVICE_PLAN_NOT_FOUND")
    return row


async def update_plan(uow: BookingUnitOfWork, plan_id: str, changes: dict, now: datetime) -> Row:
    """Applies `changes` (column -> value). Scheduled follow-ups keep their dates; deactivating
    the plan skips them."""
    await get_plan(uow, plan_id, for_update=True)
    services = [changes[c] for c in ("trigger_service_id", "follow_up_service_id") if c in changes]
    if services:
        await _require_services(uow, services)
    row = await uow.aftercare.update_plan(plan_id, changes, now)
    if changes.get("active") is False:
        await uow.aftercare.skip_scheduled_follow_ups(plan_id, now)
    return row


# --- follow-ups -------------------------------------------------------------------------------
async def on_completed(
    uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy
) -> list[Row]:
    """Called in the transaction that completes `appointment` (its row): schedules the follow-ups
    of the active service plans its services trigger, and returns the appointment's follow-up rows
    (`follow_up_to_proto` makes `CompleteAppointmentResponse.follow_ups` of them). Calling it again
    schedules nothing new."""
    service_ids = sorted({s["service"] for s in appointment.services})
    plans = await uow.aftercare.active_plans_triggered_by(service_ids) if service_ids else []
    complete_utc = getattr(appointment, "complete_time", None) or now
    zone = store_zone(appointment.time_zone or "")
    if zone is None:  # the zone the appointment was booked in; the store's current one otherwise
        zone = store_zone(await uow.catalog.store_zone(appointment.store_id) or "") or UTC
    remind_at = remind_time_of(policy.follow_up_remind_time)
    for plan in plans:
        due, remind_utc = follow_up_schedule(
            complete_utc, zone, plan.follow_up_after_days, plan.remind_days_before, remind_at
        )
        await uow.aftercare.schedule_follow_up(
            follow_up_id=new_id(),
            plan_id=plan.plan_id,
            member_id=appointment.member_id,
            store_id=appointment.store_id,
            appointment_id=str(appointment.appointment_id),
            follow_up_service_id=plan.follow_up_service_id,
            due_date=due,
            remind_utc=remind_utc,
            time_zone=str(zone),
            complete_time=complete_utc,
            state=SCHEDULED,
            create_time=now,
        )
    return await uow.aftercare.follow_ups_of_appointment(str(appointment.appointment_id))


async def fire_follow_up(uow: BookingUnitOfWork, follow_up_id: str, now: datetime) -> bool:
    """Fires one due follow-up: marks it fired and emits `FollowUpDue` in the same transaction, so
    the event is written exactly once. The follow-up is re-locked with `SKIP LOCKED` and its state
    re-checked; a deactivated plan or a booking of the follow-up service made since the completion
    skips it instead. False when nothing was fired."""
    follow_up = await uow.aftercare.lock_due_follow_up(follow_up_id)
    if follow_up is None or follow_up.remind_utc > now:
        return False
    plan = await uow.aftercare.plan(follow_up.plan_id)
    if (
        plan is None
        or not plan.active
        or await uow.aftercare.booked_since(
            follow_up.member_id,
            follow_up.follow_up_service_id,
            follow_up.complete_time,
            str(follow_up.appointment_id),
        )
    ):
        await uow.aftercare.resolve_follow_up(follow_up_id, SKIPPED, now)
        return False
    await uow.aftercare.resolve_follow_up(follow_up_id, FIRED, now)
    service = (await uow.catalog.services([follow_up.follow_up_service_id])).get(
        follow_up.follow_up_service_id
    )
    uow.emit(
        events_pb2.FollowUpDue(
            follow_up=f"followUps/{follow_up_id}",
            service_plan=f"servicePlans/{follow_up.plan_id}",
            member=f"members/{follow_up.member_id}",
            store=f"stores/{follow_up.store_id}",
            source_appointment=f"appointments/{follow_up.appointment_id}",
            follow_up_service=f"services/{follow_up.follow_up_service_id}",
            follow_up_service_display_name=service.display_name if service else "",
            due_date=follow_up.due_date.isoformat(),
            time_zone=follow_up.time_zone,
        ),
        aggregate_type="follow_up",
        aggregate_id=follow_up_id,
    )
    return True


async def resolve_follow_up(
    uow: BookingUnitOfWork,
    caller: Principal,
    follow_up_id: str,
    *,
    outcome: str,
    booked_appointment_id: str | None,
    now: datetime,
) -> Row:
    """Records what came of a fired follow-up's call: locks the row, checks the caller may work
    its store (before anything is written), that it is fired and not yet resolved, and that a named
    appointment is the member's; then fired -> resolved and `FollowUpResolved`, one transaction."""
    row = await uow.aftercare.follow_up(follow_up_id, for_update=True)
    if row is None:
        raise NotFound(f"followUps/{follow_up_id} not found", reason="FOLLOW_UP_NOT_FOUND")
    caller.require(auth.BOOKING_STAFF)
    caller.require_store(f"stores/{row.store_id}")
    if row.state == SCHEDULED:
        raise FailedPrecondition(
            "the follow-up is not due yet",
            reason="FOLLOW_UP_NOT_DUE",
            metadata={"remind_time": row.remind_utc.isoformat()},
        )
    if row.state != FIRED:
        raise FailedPrecondition(
            f"the follow-up is {row.state}", reason="INVALID_FOLLOW_UP_STATE", metadata={"state": row.state}
        )
    if booked_appointment_id is not None:
        booked = await uow.appointments.get(booked_appointment_id)
        if booked is None:
            raise NotFound(f"appointments/{booked_appointment_id} not found", reason="APPOINTMENT_NOT_FOUND")
        if booked.member_id != row.member_id:
            raise FailedPrecondition(
                "the appointment is another member's",
                reason="APPOINTMENT_OF_ANOTHER_MEMBER",
                metadata={"booked_appointment": f"appointments/{booked_appointment_id}"},
            )
    updated = await uow.aftercare.record_outcome(
        follow_up_id,
        outcome=outcome,
        now=now,
        resolved_by=caller.subject,
        booked_appointment_id=booked_appointment_id,
    )
    uow.emit(
        events_pb2.FollowUpResolved(
            follow_up=f"followUps/{follow_up_id}",
            service_plan=f"servicePlans/{updated.plan_id}",
            member=f"members/{updated.member_id}",
            store=f"stores/{updated.store_id}",
            outcome=OUTCOME_VALUE[outcome],
            booked_appointment=f"appointments/{booked_appointment_id}" if booked_appointment_id else "",
            resolved_by=caller.subject,
            resolve_time=ts(now),
        ),
        aggregate_type="follow_up",
        aggregate_id=follow_up_id,
    )
    return updated


async def fire_follow_ups(
    engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], now: datetime
) -> int:
    """`BookingJobs` step: fires the due follow-ups, one transaction each; returns how many."""
    f = at.follow_ups
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(f.c.tenant_id, f.c.follow_up_id)
                .where(f.c.state == SCHEDULED, f.c.remind_utc <= now)
                .order_by(f.c.remind_utc)
                .limit(BATCH)
            )
        ).all()
    count = 0
    for tenant, follow_up_id in due:

        async def one(uow: BookingUnitOfWork, follow_up_id=str(follow_up_id)) -> bool:
            return await fire_follow_up(uow, follow_up_id, now)

        count += await uows.run(tenant, one)
    return count
