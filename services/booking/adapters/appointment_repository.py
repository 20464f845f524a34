"""The appointment repository: appointments, their resource reservations (guarded by the
exclusion constraint) and their reminders. Every query filters by the tenant it was built for."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, insert, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from services.booking.adapters import tables as t
from services.booking.domain.schedule import Busy

EXCLUSION_VIOLATION = "23P01"
DEADLOCK_DETECTED = "40P01"
SLOT_TAKEN = "PB409"  # raised by apply_booking (migration 0011)
MEMBER_OVER_CAP = "PB429"  # raised by apply_booking (migration 0012)
OPEN_STATES = ("booked", "checked_in")

# One statement, compiled once per process: the booking's plan applied by the database function.
# The columns named, in the table object's order: `.columns()` matches them by position.
_APPLY_BOOKING = text(
    f"SELECT {', '.join(c.name for c in t.appointments.c)} FROM apply_booking(CAST(:plan AS jsonb))"  # noqa: S608
).columns(*t.appointments.c)


class SlotTaken(Exception):
    """No candidate of a claim was free; `resource` names it (or its kind)."""

    def __init__(self, resource: str):
        super().__init__(resource)
        self.resource = resource


class MemberOverCap(Exception):
    """The member already holds `open_now` open appointments, the most the policy allows."""

    def __init__(self, open_now: int):
        super().__init__(open_now)
        self.open_now = open_now


class AppointmentRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant
        self._not_counted: str | None = None

    @contextmanager
    def not_counting(self, appointment_id: str) -> Iterator[None]:
        """Leaves `appointment_id` out of `count_open` meanwhile: a reschedule moves an open
        appointment, it does not add one to the member's cap."""
        self._not_counted = appointment_id
        try:
            yield
        finally:
            self._not_counted = None

    async def count_open(self, member_id: str, now: datetime) -> int:
        """The member's open future appointments: booked or checked in, not yet ended at `now`."""
        a = t.appointments
        stmt = select(func.count()).where(
            a.c.tenant_id == self.tenant,
            a.c.member_id == member_id,
            a.c.state.in_(OPEN_STATES),
            a.c.end_time > now,
        )
        if self._not_counted is not None:
            stmt = stmt.where(a.c.appointment_id != self._not_counted)
        return await self.db.scalar(stmt)

    async def get(self, appointment_id: str, *, for_update: bool = False) -> Row | None:
        stmt = select(t.appointments).where(
            t.appointments.c.tenant_id == self.tenant, t.appointments.c.appointment_id == appointment_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def reserve(
        self,
        appointment_id: str,
        resource_id: str,
        kind: str,
        spans: Sequence[tuple[datetime, datetime]],
        seat: int = 1,
    ) -> bool:
        """Reserves `spans` of one resource seat in a savepoint. False (and nothing written) when
        the exclusion constraint finds an overlapping active reservation — or when this insert
        lost a deadlock over the seat: PostgreSQL checks an exclusion constraint after inserting
        the index entry, so two transactions inserting overlapping rows at the same moment each
        wait for the other until the deadlock detector aborts one (after `deadlock_timeout`).
        The other one holds the seat; re-running the whole transaction would only queue up for
        the same deadlock again, so the loser moves on to the next option instead."""
        try:
            async with self.db.begin_nested():
                await self.db.execute(
                    insert(t.appointment_resources),
                    [
                        {
                            "tenant_id": self.tenant,
                            "appointment_id": appointment_id,
                            "resource_id": resource_id,
                            "kind": kind,
                            "seat": seat,
                            "during": Range(start, end, bounds="[)"),
                        }
                        for start, end in spans
                    ],
                )
            return True
        except IntegrityError as exc:
            if sqlstate(exc) == EXCLUSION_VIOLATION:
                return False
            raise
        except DBAPIError as exc:
            if sqlstate(exc) == DEADLOCK_DETECTED:
                return False
            raise

    async def apply_booking(self, plan: str) -> Row:
        """Applies a booking plan (JSON, appointments.booking_plan) in one round trip: the member's
        cap under the member's lock, the appointment, its reservations (each claim's candidates in
        order, the exclusion constraint deciding), its reminders, and the outbox rows and
        idempotency record the plan carries; returns the appointment row. `SlotTaken` when a claim
        has no free candidate, `MemberOverCap` when the member may book no more (the statement
        failed: the transaction must roll back); a plan found stale fails with SQLSTATE 40001,
        which re-runs the transaction."""
        try:
            return (await self.db.execute(_APPLY_BOOKING, {"plan": plan})).one()
        except DBAPIError as exc:
            code = sqlstate(exc)
            if code == SLOT_TAKEN:
                raise SlotTaken(_hint(exc)) from None
            if code == MEMBER_OVER_CAP:
                raise MemberOverCap(int(_hint(exc) or 0)) from None
            raise

    async def release(self, appointment_id: str) -> None:
        await self.db.execute(
            update(t.appointment_resources)
            .where(
                t.appointment_resources.c.tenant_id == self.tenant,
                t.appointment_resources.c.appointment_id == appointment_id,
            )
            .values(active=False)
        )

    async def list_page(
        self,
        *,
        limit: int,
        store_ids: Sequence[str] | None = None,
        member_id: str | None = None,
        staff: str | None = None,
        states: Sequence[str] = (),
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Row]:
        """Appointments by (start_time, appointment_id), after the keyset cursor `after`.
        `store_ids` None means every store; `staff` matches any of the booked services."""
        a = t.appointments
        stmt = select(a).where(a.c.tenant_id == self.tenant)
        if store_ids is not None:
            stmt = stmt.where(a.c.store_id.in_(list(store_ids)))
        if member_id is not None:
            stmt = stmt.where(a.c.member_id == member_id)
        if staff is not None:
            stmt = stmt.where(a.c.services.contains([{"staff": staff}]))
        if states:
            stmt = stmt.where(a.c.state.in_(list(states)))
        if start_from is not None:
            stmt = stmt.where(a.c.start_time >= start_from)
        if start_to is not None:
            stmt = stmt.where(a.c.start_time < start_to)
        if after is not None:
            cursor = tuple_(
                literal(after[0], a.c.start_time.type), literal(after[1], a.c.appointment_id.type)
            )
            stmt = stmt.where(tuple_(a.c.start_time, a.c.appointment_id) > cursor)
        stmt = stmt.order_by(a.c.start_time, a.c.appointment_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    async def update(self, appointment_id: str, **values) -> Row:
        """Changes the given columns (and update_time); returns the row after."""
        return (
            await self.db.execute(
                update(t.appointments)
                .where(
                    t.appointments.c.tenant_id == self.tenant,
                    t.appointments.c.appointment_id == appointment_id,
                )
                .values(update_time=func.now(), **values)
                .returning(t.appointments)
            )
        ).one()

    async def set_state(self, appointment_id: str, state: str, **values) -> Row:
        return (
            await self.db.execute(
                update(t.appointments)
                .where(
                    t.appointments.c.tenant_id == self.tenant,
                    t.appointments.c.appointment_id == appointment_id,
                )
                .values(state=state, update_time=datetime.now().astimezone(), **values)
                .returning(t.appointments)
            )
        ).one()

    # --- reminders --------------------------------------------------------------------------
    async def schedule_reminders(
        self, appointment_id: str, reminders: Sequence[dict], *, generation: int = 0
    ) -> None:
        """Inserts the appointment's reminder rows of one generation; each dict carries kind,
        minutes_before, due_utc, start_time, local_start, time_zone and state (scheduled or
        skipped)."""
        if reminders:
            await self.db.execute(
                insert(t.scheduled_reminders),
                [
                    {
                        "tenant_id": self.tenant,
                        "appointment_id": appointment_id,
                        "generation": generation,
                        **r,
                    }
                    for r in reminders
                ],
            )

    async def reminders_of(self, appointments: Sequence[tuple[str, int]]) -> dict[str, list[Row]]:
        """The reminders of each (appointment_id, generation), by due time."""
        if not appointments:
            return {}
        wanted = {str(a): g for a, g in appointments}
        r = t.scheduled_reminders
        rows = (
            await self.db.execute(
                select(r)
                .where(r.c.tenant_id == self.tenant, r.c.appointment_id.in_(list(wanted)))
                .order_by(r.c.due_utc)
            )
        ).all()
        out: dict[str, list[Row]] = {}
        for row in rows:
            if wanted[str(row.appointment_id)] == row.generation:
                out.setdefault(str(row.appointment_id), []).append(row)
        return out

    async def cancel_reminders(self, appointment_id: str) -> int:
        """Cancels the appointment's reminders not fired yet; returns how many."""
        r = t.scheduled_reminders
        result = await self.db.execute(
            update(r)
            .where(
                r.c.tenant_id == self.tenant,
                r.c.appointment_id == appointment_id,
                r.c.state == "scheduled",
            )
            .values(state="cancelled")
        )
        return result.rowcount

    async def lock_due_reminder(self, appointment_id: str, kind: str) -> Row | None:
        """The reminder, locked, if it is still scheduled and no other transaction holds it
        (`FOR UPDATE SKIP LOCKED`): None means another replica has it, or it is done."""
        r = t.scheduled_reminders
        return (
            await self.db.execute(
                select(r)
                .where(
                    r.c.tenant_id == self.tenant,
                    r.c.appointment_id == appointment_id,
                    r.c.kind == kind,
                    r.c.state == "scheduled",
                )
                .with_for_update(skip_locked=True)
            )
        ).first()

    async def mark_reminder_fired(self, appointment_id: str, kind: str, fired_at: datetime) -> None:
        r = t.scheduled_reminders
        await self.db.execute(
            update(r)
            .where(
                r.c.tenant_id == self.tenant,
                r.c.appointment_id == appointment_id,
                r.c.kind == kind,
                r.c.state == "scheduled",
            )
            .values(state="fired", fired_at=fired_at)
        )

    async def busy(self, resource_ids: Sequence[str], start: datetime, end: datetime) -> list[Busy]:
        """Active reservations of these resources overlapping [start, end) (a read for
        availability only; booking never relies on it)."""
        r = t.appointment_resources
        rows = (
            await self.db.execute(
                select(r.c.resource_id, r.c.during).where(
                    r.c.tenant_id == self.tenant,
                    r.c.active,
                    r.c.resource_id.in_(list(resource_ids)),
                    r.c.during.op("&&")(Range(start, end, bounds="[)")),
                )
            )
        ).all()
        return [Busy(row.resource_id, row.during.lower, row.during.upper) for row in rows]


def _hint(exc: DBAPIError) -> str:
    """The HINT of the PostgreSQL error under a SQLAlchemy one (asyncpg keeps it as `.hint`)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        hint = getattr(candidate, "hint", None)
        if hint:
            return str(hint)
    return ""
