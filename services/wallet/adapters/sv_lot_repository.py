"""Stored-value lots per selling store and their movements (services/wallet/domain/sv_lots.py).

A member's lots are locked together (`FOR UPDATE`, in store order) by a spend, after the ledger
has locked the member's accounts; every writer takes them in that order (accounts, then lots).
Additions are single conditional upserts; the CHECK on the table is the backstop that a lot
never goes below zero.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.wallet.adapters import tables as t
from services.wallet.domain.sv_lots import Share, StoreLot

Db = AsyncSession | AsyncConnection
_lots = t.stored_value_lots
_moves = t.stored_value_lot_movements


class StoredValueLotRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def lock(self, member_id: str) -> list[StoreLot]:
        return await self.of_member(member_id, for_update=True)

    async def of_member(self, member_id: str, *, for_update: bool = False) -> list[StoreLot]:
        """The member's lots in store order (without a lock: for a plan `wallet_apply` re-checks)."""
        c = _lots.c
        stmt = (
            select(c.store_id, c.principal_minor, c.bonus_minor, c.create_time)
            .where(c.tenant_id == self.tenant, c.member_id == member_id)
            .order_by(c.store_id)
        )
        if for_update:
            stmt = stmt.with_for_update()
        rows = (await self.db.execute(stmt)).all()
        return [StoreLot(r.store_id, r.principal_minor, r.bonus_minor, r.create_time) for r in rows]

    async def change(self, member_id: str, store_id: str, principal: int, bonus: int) -> None:
        """Adds (or with negative amounts takes) principal and bonus to the store's lot."""
        if principal < 0 or bonus < 0:  # taking: the lot exists (an insert would trip the CHECK)
            c = _lots.c
            await self.db.execute(
                update(_lots)
                .where(c.tenant_id == self.tenant, c.member_id == member_id, c.store_id == store_id)
                .values(principal_minor=c.principal_minor + principal, bonus_minor=c.bonus_minor + bonus)
            )
            return
        stmt = pg_insert(_lots).values(
            tenant_id=self.tenant,
            member_id=member_id,
            store_id=store_id,
            principal_minor=principal,
            bonus_minor=bonus,
        )
        await self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=[_lots.c.tenant_id, _lots.c.member_id, _lots.c.store_id],
                set_={
                    "principal_minor": _lots.c.principal_minor + stmt.excluded.principal_minor,
                    "bonus_minor": _lots.c.bonus_minor + stmt.excluded.bonus_minor,
                },
            )
        )

    async def record(self, rows: list[dict]) -> None:
        if rows:
            await self.db.execute(insert(_moves), [{"tenant_id": self.tenant, **r} for r in rows])

    async def _shares(self, *clauses) -> list[Share]:
        """Movements summed per lot store, in the order the lots were first moved."""
        c = _moves.c
        rows = (
            await self.db.execute(
                select(
                    c.store_id,
                    func.sum(c.principal_minor).label("principal"),
                    func.sum(c.bonus_minor).label("bonus"),
                )
                .where(c.tenant_id == self.tenant, *clauses)
                .group_by(c.store_id)
                .order_by(func.min(c.movement_id))
            )
        ).all()
        return [Share(r.store_id, int(r.principal), int(r.bonus)) for r in rows]

    async def moved_by(self, transaction_id: str, kind: str) -> list[Share]:
        """What one transaction's `kind` movements changed per lot (signed)."""
        c = _moves.c
        return await self._shares(c.transaction_id == transaction_id, c.kind == kind)

    async def restored_for(self, transaction_id: str) -> list[Share]:
        """What later transactions gave back (or took back) for `transaction_id`, per lot (signed)."""
        return await self._shares(_moves.c.restores_transaction_id == transaction_id)
