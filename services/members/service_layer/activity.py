"""The ``member_activity`` projection: the facts segments filter on that the wallet owns.

Fed by the ``members-engagement-facts`` consumer (its own durable, so the tier/referral consumer's
subjects stay as they are). Every write is one upsert that only moves forward:

- last visit: the latest ``CheckoutCompleted`` time, or booking's ``AppointmentCompleted`` (the
  ``members-booking-visits`` consumer), whichever is later (a later refund does not un-visit);
- stored value: principal + bonus after the latest ``BalanceChanged`` (by event time);
- points: ``points_available`` after the latest ``PointsEarned`` / ``PointsRedeemed`` /
  ``PointsExpired`` (by event time).

An event older than the value already kept changes nothing, so redelivery and reordering are
harmless (the consumer's inbox dedupes copies as well).

Each resulting value is also copied onto the member's row (``members.last_visit_at``,
``points_available``, ``stored_value_minor``) in the same transaction, so segment criteria on them
are predicates on ``members`` alone. Lock order, always: the ``members`` row first (``FOR NO KEY
UPDATE``, the lock an UPDATE takes), then ``member_activity``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.adapters import segment_tables as sg
from services.members.adapters import tables as t


class MemberActivity:
    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant

    async def lock_member(self, member_id: str) -> None:
        """The member's row lock, taken before any ``member_activity`` lock (fixed order)."""
        m = t.members.c
        await self.session.execute(
            select(m.member_id)
            .where(m.tenant_id == self.tenant, m.member_id == member_id)
            .with_for_update(key_share=True)
        )

    async def _copy_to_member(self, member_id: str, **values) -> None:
        m = t.members.c
        await self.session.execute(
            t.members.update().where(m.tenant_id == self.tenant, m.member_id == member_id).values(**values)
        )

    async def visited(self, member_id: str, at: datetime) -> datetime | None:
        """Records a visit; returns the last visit before it (None: none), read under the row's
        lock so two visits of one member are serialised."""
        a = sg.member_activity
        await self.lock_member(member_id)
        previous = (
            await self.session.execute(
                select(a.c.last_visit_at)
                .where(a.c.tenant_id == self.tenant, a.c.member_id == member_id)
                .with_for_update()
            )
        ).scalar()
        stmt = pg_insert(a).values(tenant_id=self.tenant, member_id=member_id, last_visit_at=at)
        stmt = stmt.on_conflict_do_update(
            constraint="pk_member_activity",
            set_={"last_visit_at": func.greatest(a.c.last_visit_at, stmt.excluded.last_visit_at)},
        ).returning(a.c.last_visit_at)
        latest = (await self.session.execute(stmt)).scalar_one()
        await self._copy_to_member(member_id, last_visit_at=latest)
        return previous

    async def _balance(
        self, member_id: str, column: str, as_of_column: str, value: int, at: datetime
    ) -> None:
        a = sg.member_activity
        await self.lock_member(member_id)
        stmt = pg_insert(a).values(
            {"tenant_id": self.tenant, "member_id": member_id, column: value, as_of_column: at}
        )
        newer = or_(a.c[as_of_column].is_(None), a.c[as_of_column] <= stmt.excluded[as_of_column])
        stmt = stmt.on_conflict_do_update(
            constraint="pk_member_activity",
            set_={
                column: case((newer, stmt.excluded[column]), else_=a.c[column]),
                as_of_column: case((newer, stmt.excluded[as_of_column]), else_=a.c[as_of_column]),
            },
        ).returning(a.c[column])
        latest = (await self.session.execute(stmt)).scalar_one()
        await self._copy_to_member(member_id, **{column: latest})

    async def stored_value(self, member_id: str, minor: int, at: datetime) -> None:
        await self._balance(member_id, "stored_value_minor", "stored_value_as_of", minor, at)

    async def points(self, member_id: str, points: int, at: datetime) -> None:
        await self._balance(member_id, "points_available", "points_as_of", points, at)
