"""The aftercare repository: service plans, their follow-ups, visit feedback and complaints.
Every query filters by the tenant it was built for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from services.booking.adapters import aftercare_tables as at
from services.booking.adapters import tables as t

UNIQUE_VIOLATION = "23505"


class AftercareRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant

    async def _insert_unique(self, table, **values) -> Row | None:
        """Inserts one row in a savepoint; None (and nothing written) on a unique violation."""
        try:
            async with self.db.begin_nested():
                return (
                    await self.db.execute(
                        insert(table).values(tenant_id=self.tenant, **values).returning(table)
                    )
                ).one()
        except IntegrityError as exc:
            if sqlstate(exc) == UNIQUE_VIOLATION:
                return None
            raise

    # --- service plans ----------------------------------------------------------------------
    async def add_plan(self, **values) -> Row | None:
        """The new plan; None when its id is taken."""
        return await self._insert_unique(at.service_plans, **values)

    async def plan(self, plan_id: str, *, for_update: bool = False) -> Row | None:
        p = at.service_plans
        stmt = select(p).where(p.c.tenant_id == self.tenant, p.c.plan_id == plan_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def plans(
        self, *, limit: int, after: str | None, trigger_service_id: str | None, show_inactive: bool
    ) -> list[Row]:
        p = at.service_plans
        stmt = select(p).where(p.c.tenant_id == self.tenant)
        if after is not None:
            stmt = stmt.where(p.c.plan_id > after)
        if trigger_service_id is not None:
            stmt = stmt.where(p.c.trigger_service_id == trigger_service_id)
        if not show_inactive:
            stmt = stmt.where(p.c.active)
        return list((await self.db.execute(stmt.order_by(p.c.plan_id).limit(limit))).all())

    async def active_plans_triggered_by(self, service_ids: Sequence[str]) -> list[Row]:
        p = at.service_plans
        stmt = (
            select(p)
            .where(p.c.tenant_id == self.tenant, p.c.active, p.c.trigger_service_id.in_(list(service_ids)))
            .order_by(p.c.plan_id)
        )
        return list((await self.db.execute(stmt)).all())

    async def update_plan(self, plan_id: str, changes: dict, now: datetime) -> Row:
        p = at.service_plans
        return (
            await self.db.execute(
                update(p)
                .where(p.c.tenant_id == self.tenant, p.c.plan_id == plan_id)
                .values(update_time=now, **changes)
                .returning(p)
            )
        ).one()

    # --- follow-ups -------------------------------------------------------------------------
    async def schedule_follow_up(self, **values) -> Row | None:
        """Inserts a follow-up; None when the (appointment, plan) already has one."""
        f = at.follow_ups
        stmt = (
            pg_insert(f)
            .values(tenant_id=self.tenant, **values)
            .on_conflict_do_nothing(constraint="uq_follow_ups_appointment_plan")
            .returning(f)
        )
        return (await self.db.execute(stmt)).first()

    async def follow_ups_of_appointment(self, appointment_id: str) -> list[Row]:
        f = at.follow_ups
        stmt = (
            select(f)
            .where(f.c.tenant_id == self.tenant, f.c.appointment_id == appointment_id)
            .order_by(f.c.plan_id)
        )
        return list((await self.db.execute(stmt)).all())

    async def lock_due_follow_up(self, follow_up_id: str) -> Row | None:
        """The follow-up, locked, if it is still scheduled and no other transaction holds it
        (`FOR UPDATE SKIP LOCKED`): None means another replica has it, or it is done."""
        f = at.follow_ups
        return (
            await self.db.execute(
                select(f)
                .where(
                    f.c.tenant_id == self.tenant, f.c.follow_up_id == follow_up_id, f.c.state == "scheduled"
                )
                .with_for_update(skip_locked=True)
            )
        ).first()

    async def resolve_follow_up(self, follow_up_id: str, state: str, now: datetime) -> None:
        f = at.follow_ups
        await self.db.execute(
            update(f)
            .where(f.c.tenant_id == self.tenant, f.c.follow_up_id == follow_up_id)
            .values(state=state, resolve_time=now)
        )

    async def follow_up(self, follow_up_id: str, *, for_update: bool = False) -> Row | None:
        f = at.follow_ups
        stmt = select(f).where(f.c.tenant_id == self.tenant, f.c.follow_up_id == follow_up_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def record_outcome(
        self, follow_up_id: str, *, outcome: str, now: datetime, resolved_by: str, booked_appointment_id
    ) -> Row:
        """fired -> resolved with the call's outcome (the caller holds the row's lock)."""
        f = at.follow_ups
        return (
            await self.db.execute(
                update(f)
                .where(f.c.tenant_id == self.tenant, f.c.follow_up_id == follow_up_id, f.c.state == "fired")
                .values(
                    state="resolved",
                    outcome=outcome,
                    outcome_time=now,
                    resolved_by=resolved_by,
                    booked_appointment_id=booked_appointment_id,
                )
                .returning(f)
            )
        ).one()

    async def due_follow_ups(
        self, store_id: str, *, limit: int, after: tuple[date, datetime, str] | None
    ) -> list[Row]:
        """A store's fired follow-ups without an outcome, by (due date, remind time, id): the
        work list, read along `ix_follow_ups_work_list`."""
        f = at.follow_ups
        stmt = select(f).where(f.c.tenant_id == self.tenant, f.c.store_id == store_id, f.c.state == "fired")
        if after is not None:
            keys = (f.c.due_date, f.c.remind_utc, f.c.follow_up_id)
            stmt = stmt.where(
                tuple_(*keys) > tuple_(*(literal(v, k.type) for v, k in zip(after, keys, strict=True)))
            )
        stmt = stmt.order_by(f.c.due_date, f.c.remind_utc, f.c.follow_up_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    async def skip_scheduled_follow_ups(self, plan_id: str, now: datetime) -> int:
        f = at.follow_ups
        result = await self.db.execute(
            update(f)
            .where(f.c.tenant_id == self.tenant, f.c.plan_id == plan_id, f.c.state == "scheduled")
            .values(state="skipped", resolve_time=now)
        )
        return result.rowcount

    async def booked_since(self, member_id: str, service_id: str, since: datetime, source_id: str) -> bool:
        """Whether the member holds a live (not cancelled, not no-show) appointment of the service,
        other than the source appointment, starting at or after `since`."""
        a = t.appointments
        found = await self.db.scalar(
            select(a.c.appointment_id)
            .where(
                a.c.tenant_id == self.tenant,
                a.c.member_id == member_id,
                a.c.start_time >= since,
                a.c.appointment_id != source_id,
                a.c.state.not_in(["cancelled", "no_show"]),
                a.c.services.contains([{"service": service_id}]),
            )
            .limit(1)
        )
        return found is not None

    async def follow_ups(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        member_id: str | None,
        store_ids: Sequence[str] | None,
        plan_id: str | None,
        state: str | None,
    ) -> list[Row]:
        f = at.follow_ups
        stmt = select(f).where(f.c.tenant_id == self.tenant)
        if after is not None:
            stmt = stmt.where(
                or_(
                    f.c.remind_utc > after[0],
                    and_(f.c.remind_utc == after[0], f.c.follow_up_id > after[1]),
                )
            )
        if member_id is not None:
            stmt = stmt.where(f.c.member_id == member_id)
        if store_ids is not None:
            stmt = stmt.where(f.c.store_id.in_(list(store_ids)))
        if plan_id is not None:
            stmt = stmt.where(f.c.plan_id == plan_id)
        if state is not None:
            stmt = stmt.where(f.c.state == state)
        stmt = stmt.order_by(f.c.remind_utc, f.c.follow_up_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    # --- feedback ---------------------------------------------------------------------------
    async def add_feedback(self, **values) -> Row | None:
        """The new feedback; None when the appointment already has some."""
        return await self._insert_unique(at.feedback, **values)

    async def feedback_of(self, appointment_id: str) -> Row | None:
        fb = at.feedback
        return (
            await self.db.execute(
                select(fb).where(fb.c.tenant_id == self.tenant, fb.c.appointment_id == appointment_id)
            )
        ).first()

    def _feedback_filters(self, store_ids, staff, max_rating, time_from, time_to) -> list:
        fb = at.feedback
        where = [fb.c.tenant_id == self.tenant]
        if store_ids is not None:
            where.append(fb.c.store_id.in_(list(store_ids)))
        if staff is not None:
            where.append(fb.c.staff.contains([staff]))
        if max_rating:
            where.append(fb.c.rating <= max_rating)
        if time_from is not None:
            where.append(fb.c.create_time >= time_from)
        if time_to is not None:
            where.append(fb.c.create_time < time_to)
        return where

    async def list_feedback(
        self,
        *,
        limit: int,
        before: tuple[datetime, str] | None,
        store_ids: Sequence[str] | None,
        staff: str | None,
        max_rating: int,
        time_from: datetime | None,
        time_to: datetime | None,
    ) -> tuple[list[Row], int, float | None]:
        """A page, newest first, plus the count and mean rating of everything matching."""
        fb = at.feedback
        where = self._feedback_filters(store_ids, staff, max_rating, time_from, time_to)
        total, mean = (await self.db.execute(select(func.count(), func.avg(fb.c.rating)).where(*where))).one()
        page = select(fb).where(*where)
        if before is not None:
            page = page.where(
                or_(
                    fb.c.create_time < before[0],
                    and_(fb.c.create_time == before[0], fb.c.appointment_id < before[1]),
                )
            )
        page = page.order_by(fb.c.create_time.desc(), fb.c.appointment_id.desc()).limit(limit)
        return list((await self.db.execute(page)).all()), total, mean

    # --- complaints -------------------------------------------------------------------------
    async def add_complaint(self, **values) -> Row:
        c = at.complaints
        return (await self.db.execute(insert(c).values(tenant_id=self.tenant, **values).returning(c))).one()

    async def complaint(self, complaint_id: str, *, for_update: bool = False) -> Row | None:
        c = at.complaints
        stmt = select(c).where(c.c.tenant_id == self.tenant, c.c.complaint_id == complaint_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def lock_breaching_complaint(self, complaint_id: str) -> Row | None:
        """The complaint, locked, if it is still open without a breach recorded and no other
        transaction holds it (`FOR UPDATE SKIP LOCKED`)."""
        c = at.complaints
        return (
            await self.db.execute(
                select(c)
                .where(
                    c.c.tenant_id == self.tenant,
                    c.c.complaint_id == complaint_id,
                    c.c.state == "open",
                    ~c.c.sla_breached,
                )
                .with_for_update(skip_locked=True)
            )
        ).first()

    async def update_complaint(self, complaint_id: str, now: datetime, **values) -> Row:
        c = at.complaints
        return (
            await self.db.execute(
                update(c)
                .where(c.c.tenant_id == self.tenant, c.c.complaint_id == complaint_id)
                .values(update_time=now, **values)
                .returning(c)
            )
        ).one()

    async def complaints(
        self,
        *,
        limit: int,
        before: tuple[datetime, str] | None,
        store_ids: Sequence[str] | None,
        member_id: str | None,
        states: Sequence[str],
        sla_breached_only: bool,
    ) -> list[Row]:
        c = at.complaints
        stmt = select(c).where(c.c.tenant_id == self.tenant)
        if before is not None:
            stmt = stmt.where(
                or_(
                    c.c.create_time < before[0],
                    and_(c.c.create_time == before[0], c.c.complaint_id < before[1]),
                )
            )
        if store_ids is not None:
            stmt = stmt.where(c.c.store_id.in_(list(store_ids)))
        if member_id is not None:
            stmt = stmt.where(c.c.member_id == member_id)
        if states:
            stmt = stmt.where(c.c.state.in_(list(states)))
        if sla_breached_only:
            stmt = stmt.where(c.c.sla_breached)
        stmt = stmt.order_by(c.c.create_time.desc(), c.c.complaint_id.desc()).limit(limit)
        return list((await self.db.execute(stmt)).all())
