"""The appointment repository: appointments, their resource reservations (guarded by the
exclusion constraint) and their reminders. Every query filters by the tenant it was built for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from services.booking.adapters import tables as t
from services.booking.domain.schedule import Busy

EXCLUSION_VIOLATION = "23P01"


class AppointmentRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant

    async def add(self, **values) -> None:
        await self.db.execute(insert(t.appointments).values(tenant_id=self.tenant, **values))

    async def count_open(self, member_id: str, now: datetime) -> int:
        """The member's open future appointments: booked and not yet ended at `now`."""
        a = t.appointments
        return await self.db.scalar(
            select(func.count()).where(
                a.c.tenant_id == self.tenant,
                a.c.member_id == member_id,
                a.c.state == "booked",
                a.c.end_time > now,
            )
        )

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
        the exclusion constraint finds an overlapping active reservation."""
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

    async def release(self, appointment_id: str) -> None:
        await self.db.execute(
            update(t.appointment_resources)
            .where(
                t.appointment_resources.c.tenant_id == self.tenant,
                t.appointment_resources.c.appointment_id == appointment_id,
            )
            .values(active=False)
        )

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
    async def schedule_reminders(self, appointment_id: str, reminders: Sequence[dict]) -> None:
        """Inserts the appointment's reminder rows (state scheduled); each dict carries kind,
        minutes_before, due_utc, start_time, local_start, time_zone."""
        if reminders:
            await self.db.execute(
                insert(t.scheduled_reminders),
                [
                    {"tenant_id": self.tenant, "appointment_id": appointment_id, "state": "scheduled", **r}
                    for r in reminders
                ],
            )

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
            .where(r.c.tenant_id == self.tenant, r.c.appointment_id == appointment_id, r.c.kind == kind)
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
