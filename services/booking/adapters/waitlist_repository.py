"""The waitlist repository: entries and the offers made to them. Every query filters by the tenant
it was built for. Locks are taken entry first, then its offer; entries of a queue in queue order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from kit.errors import AlreadyExists
from services.booking.adapters import waitlist_tables as wt

UNIQUE_VIOLATION = "23505"
e, o = wt.waitlist_entries, wt.waitlist_offers


class WaitlistRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant

    # --- entries ----------------------------------------------------------------------------
    async def add_entry(self, **values) -> Row:
        """Inserts a waiting entry; ALREADY_EXISTS (`ALREADY_ON_WAITLIST`) when the member already
        has a waiting or offered entry for the store, service and date (the partial unique index)."""
        try:
            async with self.db.begin_nested():
                return (
                    await self.db.execute(
                        insert(e).values(tenant_id=self.tenant, state="waiting", **values).returning(e)
                    )
                ).one()
        except IntegrityError as exc:
            if sqlstate(exc) == UNIQUE_VIOLATION:
                raise AlreadyExists(
                    "the member is already on the waitlist for this service and day",
                    reason="ALREADY_ON_WAITLIST",
                ) from None
            raise

    async def entry(
        self, entry_id: str, *, for_update: bool = False, skip_locked: bool = False
    ) -> Row | None:
        stmt = select(e).where(e.c.tenant_id == self.tenant, e.c.entry_id == entry_id)
        if for_update:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return (await self.db.execute(stmt)).first()

    async def set_entry(self, entry_id: str, now: datetime, **values) -> Row:
        return (
            await self.db.execute(
                update(e)
                .where(e.c.tenant_id == self.tenant, e.c.entry_id == entry_id)
                .values(update_time=now, **values)
                .returning(e)
            )
        ).one()

    async def candidates(self, store_id: str, days: Sequence[date], staff: str, origin_id: str) -> list[str]:
        """Ids of the waiting entries of a store on `days` that may take `staff`'s freed time and
        were never offered time of this origin (the first release, or any unused rest of it), in
        queue order (a plain read: the caller locks each)."""
        offered = exists().where(
            o.c.tenant_id == e.c.tenant_id, o.c.entry_id == e.c.entry_id, o.c.origin_release_id == origin_id
        )
        rows = await self.db.execute(
            select(e.c.entry_id)
            .where(
                e.c.tenant_id == self.tenant,
                e.c.store_id == store_id,
                e.c.wanted_date.in_(list(days)),
                e.c.state == "waiting",
                or_(e.c.staff.is_(None), e.c.staff == staff),
                ~offered,
            )
            .order_by(e.c.create_time, e.c.entry_id)
        )
        return [r.entry_id for r in rows]

    async def list_entries(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        stores: Sequence[str] | None,
        wanted_date: date | None,
        member_id: str | None,
        states: Sequence[str],
    ) -> list[Row]:
        """Entries in queue order (`create_time`, `entry_id`) after the keyset cursor `after`."""
        stmt = select(e).where(e.c.tenant_id == self.tenant, e.c.state.in_(list(states)))
        if stores is not None:
            stmt = stmt.where(e.c.store_id.in_(list(stores)))
        if wanted_date is not None:
            stmt = stmt.where(e.c.wanted_date == wanted_date)
        if member_id is not None:
            stmt = stmt.where(e.c.member_id == member_id)
        if after is not None:
            t, entry_id = after
            stmt = stmt.where(or_(e.c.create_time > t, and_(e.c.create_time == t, e.c.entry_id > entry_id)))
        return list((await self.db.execute(stmt.order_by(e.c.create_time, e.c.entry_id).limit(limit))).all())

    async def expire_past_entries(self, store_id: str, today: date, now: datetime) -> int:
        """Waiting entries of the store for a date before its local `today` become expired."""
        result = await self.db.execute(
            update(e)
            .where(
                e.c.tenant_id == self.tenant,
                e.c.store_id == store_id,
                e.c.state == "waiting",
                e.c.wanted_date < today,
            )
            .values(state="expired", update_time=now)
        )
        return result.rowcount

    # --- offers -----------------------------------------------------------------------------
    async def add_offer(self, **values) -> Row:
        return (
            await self.db.execute(
                insert(o).values(tenant_id=self.tenant, state="open", **values).returning(o)
            )
        ).one()

    async def open_offer(self, entry_id: str, *, for_update: bool = False) -> Row | None:
        stmt = select(o).where(o.c.tenant_id == self.tenant, o.c.entry_id == entry_id, o.c.state == "open")
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def open_offers(self, entry_ids: Sequence[str]) -> dict[str, Row]:
        if not entry_ids:
            return {}
        rows = await self.db.execute(
            select(o).where(
                o.c.tenant_id == self.tenant, o.c.entry_id.in_(list(entry_ids)), o.c.state == "open"
            )
        )
        return {r.entry_id: r for r in rows}

    async def last_offer(self, entry_id: str) -> Row | None:
        return (
            await self.db.execute(
                select(o)
                .where(o.c.tenant_id == self.tenant, o.c.entry_id == entry_id)
                .order_by(o.c.offer_time.desc(), o.c.offer_id.desc())
                .limit(1)
            )
        ).first()

    async def close_offer(self, offer_id: str, state: str, now: datetime) -> Row:
        return (
            await self.db.execute(
                update(o)
                .where(o.c.tenant_id == self.tenant, o.c.offer_id == offer_id, o.c.state == "open")
                .values(state=state, close_time=now)
                .returning(o)
            )
        ).one()
