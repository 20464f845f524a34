"""Wallet repositories other than the ledger: settings, PINs, plans, bonus releases, holds, lots.

All of them filter by the tenant they were built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.wallet.adapters import tables as t
from services.wallet.adapters.ledger_repository import PostedTransaction, reversed_by_column
from services.wallet.domain.rules import Lot
from services.wallet.domain.settings import WalletSettings

Db = AsyncSession | AsyncConnection


class SettingsRepository:
    """The tenant's wallet settings, read at most once per transaction (a checkout asks ~5 times)."""

    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant
        self._memo: WalletSettings | None = None

    async def get(self) -> WalletSettings:
        if self._memo is None:
            row = (
                await self.db.execute(
                    select(t.wallet_settings.c.settings).where(t.wallet_settings.c.tenant_id == self.tenant)
                )
            ).first()
            self._memo = WalletSettings.from_json(row.settings) if row else WalletSettings()
        return self._memo

    async def save(self, settings: WalletSettings) -> None:
        self._memo = settings
        stmt = pg_insert(t.wallet_settings).values(tenant_id=self.tenant, settings=settings.to_json())
        await self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.wallet_settings.c.tenant_id],
                set_={"settings": stmt.excluded.settings, "update_time": func.now()},
            )
        )


@dataclass
class PinRecord:
    pin_hash: bytes
    salt: bytes
    failed_attempts: int
    locked_until: datetime | None


class PinRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def get(self, member_id: str, *, for_update: bool = False) -> PinRecord | None:
        stmt = select(t.payment_pins).where(
            t.payment_pins.c.tenant_id == self.tenant, t.payment_pins.c.member_id == member_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        return PinRecord(row.pin_hash, row.salt, row.failed_attempts, row.locked_until) if row else None

    async def set(self, member_id: str, pin_hash: bytes, salt: bytes) -> None:
        stmt = pg_insert(t.payment_pins).values(
            tenant_id=self.tenant, member_id=member_id, pin_hash=pin_hash, salt=salt
        )
        await self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.payment_pins.c.tenant_id, t.payment_pins.c.member_id],
                set_={
                    "pin_hash": pin_hash,
                    "salt": salt,
                    "failed_attempts": 0,
                    "locked_until": None,
                    "update_time": func.now(),
                },
            )
        )

    async def record_attempt(
        self, member_id: str, failed_attempts: int, locked_until: datetime | None
    ) -> None:
        await self.db.execute(
            update(t.payment_pins)
            .where(t.payment_pins.c.tenant_id == self.tenant, t.payment_pins.c.member_id == member_id)
            .values(failed_attempts=failed_attempts, locked_until=locked_until, update_time=func.now())
        )


@dataclass
class TopUpPlan:
    plan_id: str
    display_name: str
    pay_minor: int
    bonus_minor: int
    bonus_release: str  # immediate | monthly
    release_months: int
    active: bool
    stores: list[str]
    create_time: datetime | None = None


class PlanRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    @staticmethod
    def _from_row(r: Row) -> TopUpPlan:
        return TopUpPlan(
            r.plan_id,
            r.display_name,
            r.pay_minor,
            r.bonus_minor,
            r.bonus_release,
            r.release_months,
            r.active,
            list(r.stores),
            r.create_time,
        )

    async def add(self, plan: TopUpPlan) -> bool:
        row = (
            await self.db.execute(
                pg_insert(t.top_up_plans)
                .values(
                    tenant_id=self.tenant,
                    plan_id=plan.plan_id,
                    display_name=plan.display_name,
                    pay_minor=plan.pay_minor,
                    bonus_minor=plan.bonus_minor,
                    bonus_release=plan.bonus_release,
                    release_months=plan.release_months,
                    active=plan.active,
                    stores=plan.stores,
                )
                .on_conflict_do_nothing()
                .returning(t.top_up_plans.c.create_time)
            )
        ).first()
        if row is None:
            return False
        plan.create_time = row.create_time
        return True

    async def get(self, plan_id: str) -> TopUpPlan | None:
        row = (
            await self.db.execute(
                select(t.top_up_plans).where(
                    t.top_up_plans.c.tenant_id == self.tenant, t.top_up_plans.c.plan_id == plan_id
                )
            )
        ).first()
        return self._from_row(row) if row else None

    async def list(self, *, limit: int, after: str | None) -> list[TopUpPlan]:
        clauses = [t.top_up_plans.c.tenant_id == self.tenant]
        if after:
            clauses.append(t.top_up_plans.c.plan_id > after)
        rows = (
            await self.db.execute(
                select(t.top_up_plans).where(*clauses).order_by(t.top_up_plans.c.plan_id).limit(limit)
            )
        ).all()
        return [self._from_row(r) for r in rows]

    async def update(self, plan_id: str, values: dict) -> bool:
        result = await self.db.execute(
            update(t.top_up_plans)
            .where(t.top_up_plans.c.tenant_id == self.tenant, t.top_up_plans.c.plan_id == plan_id)
            .values(**values)
        )
        return bool(result.rowcount)


class BonusReleaseRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def schedule(self, rows: list[dict]) -> None:
        if rows:
            await self.db.execute(insert(t.bonus_releases), [{"tenant_id": self.tenant, **r} for r in rows])

    async def pending_for_member(self, member_id: str, *, for_update: bool = False) -> list[Row]:
        stmt = (
            select(t.bonus_releases)
            .where(
                t.bonus_releases.c.tenant_id == self.tenant,
                t.bonus_releases.c.member_id == member_id,
                t.bonus_releases.c.state == "scheduled",
            )
            .order_by(t.bonus_releases.c.due_time, t.bonus_releases.c.release_id)  # soonest first
        )
        if for_update:
            stmt = stmt.with_for_update()
        return list((await self.db.execute(stmt)).all())

    async def mark(self, release_ids: list[str], state: str, transaction_id: str | None = None) -> None:
        if release_ids:
            await self.db.execute(
                update(t.bonus_releases)
                .where(
                    t.bonus_releases.c.tenant_id == self.tenant,
                    t.bonus_releases.c.release_id.in_(release_ids),
                )
                .values(state=state, transaction_id=transaction_id)
            )


class HoldRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def add(self, **values) -> Row:
        return (
            await self.db.execute(insert(t.holds).values(tenant_id=self.tenant, **values).returning(t.holds))
        ).one()

    async def get(self, hold_id: str, *, for_update: bool = False) -> Row | None:
        stmt = select(t.holds).where(t.holds.c.tenant_id == self.tenant, t.holds.c.hold_id == hold_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def settle(
        self, hold_id: str, state: str, transaction_id: str, *, captured_sessions: int = 0
    ) -> Row:
        return (
            await self.db.execute(
                update(t.holds)
                .where(t.holds.c.tenant_id == self.tenant, t.holds.c.hold_id == hold_id)
                .values(
                    state=state,
                    settle_transaction_id=transaction_id,
                    captured_sessions=captured_sessions,
                    update_time=func.now(),
                )
                .returning(t.holds)
            )
        ).one()

    async def extend(self, hold_id: str, expire_time: datetime) -> Row:
        """Moves an authorised hold's expiry (the caller holds its row lock)."""
        return (
            await self.db.execute(
                update(t.holds)
                .where(t.holds.c.tenant_id == self.tenant, t.holds.c.hold_id == hold_id)
                .values(expire_time=expire_time, update_time=func.now())
                .returning(t.holds)
            )
        ).one()

    async def set_use_time(self, hold_id: str, use_time: datetime) -> Row:
        """Moves a session hold's day of use (the caller holds its row lock)."""
        return (
            await self.db.execute(
                update(t.holds)
                .where(t.holds.c.tenant_id == self.tenant, t.holds.c.hold_id == hold_id)
                .values(use_time=use_time, update_time=func.now())
                .returning(t.holds)
            )
        ).one()

    async def held_total(self, member_id: str) -> int:
        return (
            await self.db.execute(
                select(func.coalesce(func.sum(t.holds.c.amount_minor), 0)).where(
                    t.holds.c.tenant_id == self.tenant,
                    t.holds.c.member_id == member_id,
                    t.holds.c.state == "authorized",
                )
            )
        ).scalar_one()


class LotRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def add(self, **values) -> None:
        await self.db.execute(insert(t.point_lots).values(tenant_id=self.tenant, **values))

    async def for_member(self, member_id: str, *, for_update: bool = False) -> list[Row]:
        stmt = (
            select(t.point_lots)
            .where(t.point_lots.c.tenant_id == self.tenant, t.point_lots.c.member_id == member_id)
            .order_by(t.point_lots.c.lot_id)
        )
        if for_update:
            stmt = stmt.with_for_update()
        return list((await self.db.execute(stmt)).all())

    @staticmethod
    def as_lots(rows: list[Row]) -> list[Lot]:
        return [Lot(r.lot_id, r.remaining, r.expire_time, r.earned_time, r.pending_until) for r in rows]

    async def move(self, transaction_id: str, movements: list[tuple[str, int]]) -> None:
        """Apply (lot_id, delta) to lots and record them against the transaction."""
        if not movements:
            return
        for lot_id, delta in movements:
            await self.db.execute(
                update(t.point_lots)
                .where(t.point_lots.c.tenant_id == self.tenant, t.point_lots.c.lot_id == lot_id)
                .values(remaining=t.point_lots.c.remaining + delta)
            )
        await self.db.execute(
            insert(t.lot_movements),
            [
                {"tenant_id": self.tenant, "transaction_id": transaction_id, "lot_id": lot, "delta": d}
                for lot, d in movements
            ],
        )

    async def movements_of(self, transaction_id: str) -> list[tuple[str, int]]:
        rows = (
            await self.db.execute(
                select(t.lot_movements.c.lot_id, t.lot_movements.c.delta)
                .where(
                    t.lot_movements.c.tenant_id == self.tenant,
                    t.lot_movements.c.transaction_id == transaction_id,
                )
                .order_by(t.lot_movements.c.movement_id)
            )
        ).all()
        return [(r.lot_id, r.delta) for r in rows]


class StatementRepository:
    """A member's ledger transactions, newest first, with their postings (the statement)."""

    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    async def page(
        self,
        member_id: str,
        *,
        limit: int,
        before: tuple[datetime, str] | None,
        store_id: str | None,
        start: datetime | None,
        end: datetime | None,
        kinds: list[str],
    ) -> list[PostedTransaction]:
        from sqlalchemy import DateTime, and_, cast, literal, tuple_
        from sqlalchemy.dialects.postgresql import UUID

        from services.wallet.domain.ledger import KINDS, AccountKey, Posting

        c = t.ledger_transactions.c
        clauses = [c.tenant_id == self.tenant, c.member_id == member_id]
        if before is not None:
            at, transaction_id = before
            clauses.append(
                tuple_(c.create_time, c.transaction_id)
                < tuple_(literal(at, DateTime(timezone=True)), cast(transaction_id, UUID(as_uuid=False)))
            )
        if store_id:
            clauses.append(c.store_id == store_id)
        if start:
            clauses.append(c.create_time >= start)
        if end:
            clauses.append(c.create_time < end)
        if kinds:
            clauses.append(c.kind.in_(kinds))
        rows = (
            await self.db.execute(
                select(t.ledger_transactions, reversed_by_column())
                .where(and_(*clauses))
                .order_by(c.create_time.desc(), c.transaction_id.desc())
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        ids = [r.transaction_id for r in rows]
        posting_rows = (
            await self.db.execute(
                select(
                    t.postings.c.transaction_id,
                    t.postings.c.amount,
                    t.accounts.c.kind,
                    t.accounts.c.owner,
                    t.accounts.c.unit,
                )
                .join(
                    t.accounts,
                    and_(
                        t.accounts.c.tenant_id == t.postings.c.tenant_id,
                        t.accounts.c.account_id == t.postings.c.account_id,
                    ),
                )
                .where(t.postings.c.tenant_id == self.tenant, t.postings.c.transaction_id.in_(ids))
                .order_by(t.postings.c.posting_id)
            )
        ).all()
        by_txn: dict[str, list[Posting]] = {}
        for p in posting_rows:
            by_txn.setdefault(p.transaction_id, []).append(
                Posting(AccountKey(KINDS[p.kind], p.owner, p.unit), p.amount)
            )
        return [
            PostedTransaction(
                transaction_id=r.transaction_id,
                kind=r.kind,
                member_id=r.member_id,
                store_id=r.store_id,
                description=r.description,
                reverses=r.reverses,
                create_time=r.create_time,
                postings=by_txn.get(r.transaction_id, []),
                balances={},
                request_id=r.request_id,
                reference=r.reference,
                reversed_by=r.reversed_by,
            )
            for r in rows
        ]
