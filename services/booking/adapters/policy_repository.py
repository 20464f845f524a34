"""The policy repository: the tenant's booking policy row and members' no-show standing (counted
no-shows, restriction, lifts). Every query filters by the tenant it was built for."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.booking.adapters import tables as t
from services.booking.adapters.policy_tables import booking_policies as bp
from services.booking.adapters.policy_tables import booking_restriction_lifts as lifts
from services.booking.adapters.policy_tables import member_no_shows as ns
from services.booking.adapters.policy_tables import member_standings as ms

NO_SHOW, LATE_CANCEL = "no_show", "late_cancel"


class PolicyRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        if not tenant:
            raise ValueError("a policy repository needs a tenant")
        self.db, self.tenant = db, tenant

    # ---------------------------------------------------------------- the policy

    async def get_policy(self, *, for_update: bool = False) -> Row | None:
        stmt = select(bp).where(bp.c.tenant_id == self.tenant)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def lock_policy(self, defaults: dict[str, Any]) -> Row:
        """The tenant's policy row locked for the rest of the transaction, created with `defaults`
        first when the tenant has none (so concurrent updates apply one after the other)."""
        await self.db.execute(
            pg_insert(bp)
            .values(tenant_id=self.tenant, **defaults)
            .on_conflict_do_nothing(index_elements=[bp.c.tenant_id])
        )
        row = await self.get_policy(for_update=True)
        assert row is not None
        return row

    async def save_policy(self, values: dict[str, Any], now: datetime) -> Row:
        stmt = (
            bp.update()
            .where(bp.c.tenant_id == self.tenant)
            .values(**values, update_time=now)
            .returning(*bp.c)
        )
        return (await self.db.execute(stmt)).one()

    # ---------------------------------------------------------------- no-shows and late cancels

    async def record(
        self, *, appointment_id: str, kind: str, member_id: str, store_id: str, occurred_at: datetime
    ) -> bool:
        """Counts `kind` for the appointment once; False when it was counted already."""
        stmt = (
            pg_insert(ns)
            .values(
                tenant_id=self.tenant,
                appointment_id=appointment_id,
                kind=kind,
                member_id=member_id,
                store_id=store_id,
                occurred_at=occurred_at,
            )
            .on_conflict_do_nothing(index_elements=[ns.c.tenant_id, ns.c.appointment_id, ns.c.kind])
            .returning(ns.c.appointment_id)
        )
        return (await self.db.execute(stmt)).first() is not None

    async def count(self, member_id: str, kinds: Iterable[str], since: datetime, until: datetime) -> int:
        """The member's counted `kinds` with `since` < occurred_at <= `until`."""
        return await self.db.scalar(
            select(func.count()).where(
                ns.c.tenant_id == self.tenant,
                ns.c.member_id == member_id,
                ns.c.kind.in_(list(kinds)),
                ns.c.occurred_at > since,
                ns.c.occurred_at <= until,
            )
        )

    # ---------------------------------------------------------------- standing

    async def standing(self, member_id: str) -> Row | None:
        return (
            await self.db.execute(
                select(ms).where(ms.c.tenant_id == self.tenant, ms.c.member_id == member_id)
            )
        ).first()

    async def restrict(self, member_id: str, until: datetime, appointment_id: str, now: datetime) -> None:
        stmt = pg_insert(ms).values(
            tenant_id=self.tenant,
            member_id=member_id,
            restricted_until=until,
            restricted_by=appointment_id,
            update_time=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ms.c.tenant_id, ms.c.member_id],
            set_={
                "restricted_until": stmt.excluded.restricted_until,
                "restricted_by": stmt.excluded.restricted_by,
                "update_time": stmt.excluded.update_time,
            },
        )
        await self.db.execute(stmt)

    async def lift(
        self, member_id: str, *, lifted_by: str, reason: str, now: datetime, restricted_until: datetime
    ) -> None:
        """Clears the restriction, remembers the lift on the standing and appends it to the audit trail."""
        await self.db.execute(
            ms.update()
            .where(ms.c.tenant_id == self.tenant, ms.c.member_id == member_id)
            .values(
                restricted_until=None,
                restricted_by=None,
                restriction_lift_time=now,
                restriction_lift_reason=reason,
                restriction_lifted_by=lifted_by,
                update_time=now,
            )
        )
        await self.db.execute(
            insert(lifts).values(
                tenant_id=self.tenant,
                member_id=member_id,
                lifted_by=lifted_by,
                lift_time=now,
                reason=reason,
                restricted_until=restricted_until,
            )
        )

    async def latest_time_zone(self, member_id: str) -> str | None:
        """The zone of the member's most recently booked appointment's store (the projection does
        not carry a home store)."""
        a = t.appointments
        return await self.db.scalar(
            select(a.c.time_zone)
            .where(a.c.tenant_id == self.tenant, a.c.member_id == member_id)
            .order_by(desc(a.c.create_time))
            .limit(1)
        )
