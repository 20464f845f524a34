"""Checkout, refund and commission records. Every statement is scoped to one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, case, cast, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.wallet.adapters import checkout_tables as ct
from services.wallet.adapters import package_tables as pt
from services.wallet.adapters import tables as lt

Db = AsyncSession | AsyncConnection


def _uuid_ok(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


class CheckoutRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    # --- checkouts --------------------------------------------------------------------------
    async def add(self, **values) -> Row:
        return (
            await self.db.execute(
                insert(ct.checkouts).values(tenant_id=self.tenant, **values).returning(ct.checkouts)
            )
        ).one()

    async def get(self, checkout_id: str, *, for_update: bool = False) -> Row | None:
        if not _uuid_ok(checkout_id):
            return None
        stmt = select(ct.checkouts).where(
            ct.checkouts.c.tenant_id == self.tenant, ct.checkouts.c.checkout_id == checkout_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def update(self, checkout_id: str, **values) -> Row:
        return (
            await self.db.execute(
                update(ct.checkouts)
                .where(ct.checkouts.c.tenant_id == self.tenant, ct.checkouts.c.checkout_id == checkout_id)
                .values(update_time=func.now(), **values)
                .returning(ct.checkouts)
            )
        ).one()

    async def has_checkouts(self, member_id: str) -> bool:
        row = (
            await self.db.execute(
                select(ct.checkouts.c.checkout_id)
                .where(ct.checkouts.c.tenant_id == self.tenant, ct.checkouts.c.member_id == member_id)
                .limit(1)
            )
        ).first()
        return row is not None

    async def list(
        self,
        *,
        limit: int,
        member_id: str | None,
        store_id: str | None,
        start: datetime | None,
        end: datetime | None,
        before: tuple[datetime, str] | None,
    ) -> list[Row]:
        c = ct.checkouts.c
        clauses = [c.tenant_id == self.tenant]
        if member_id:
            clauses.append(c.member_id == member_id)
        if store_id:
            clauses.append(c.store_id == store_id)
        if start:
            clauses.append(c.create_time >= start)
        if end:
            clauses.append(c.create_time < end)
        if before:
            clauses.append(tuple_(c.create_time, c.checkout_id) < tuple_(before[0], before[1]))
        stmt = (
            select(ct.checkouts)
            .where(*clauses)
            .order_by(c.create_time.desc(), c.checkout_id.desc())
            .limit(limit)
        )
        return list((await self.db.execute(stmt)).all())

    # --- refunds ----------------------------------------------------------------------------
    async def add_refund(self, **values) -> Row:
        return (
            await self.db.execute(
                insert(ct.checkout_refunds)
                .values(tenant_id=self.tenant, **values)
                .returning(ct.checkout_refunds)
            )
        ).one()

    async def refunds_of(self, checkout_id: str) -> list[Row]:
        return list(
            (
                await self.db.execute(
                    select(ct.checkout_refunds)
                    .where(
                        ct.checkout_refunds.c.tenant_id == self.tenant,
                        ct.checkout_refunds.c.checkout_id == checkout_id,
                    )
                    .order_by(ct.checkout_refunds.c.create_time, ct.checkout_refunds.c.refund_id)
                )
            ).all()
        )

    # --- commission -------------------------------------------------------------------------
    async def add_rule(self, **values) -> Row | None:
        return (
            await self.db.execute(
                pg_insert(ct.commission_rules)
                .values(tenant_id=self.tenant, **values)
                .on_conflict_do_nothing()
                .returning(ct.commission_rules)
            )
        ).first()

    async def rules(self) -> list[Row]:
        return list(
            (
                await self.db.execute(
                    select(ct.commission_rules)
                    .where(ct.commission_rules.c.tenant_id == self.tenant)
                    .order_by(ct.commission_rules.c.create_time, ct.commission_rules.c.rule_id)
                )
            ).all()
        )

    async def list_rules(self, *, limit: int, after: str | None, store_id: str | None) -> list[Row]:
        c = ct.commission_rules.c
        clauses = [c.tenant_id == self.tenant]
        if after:
            clauses.append(c.rule_id > after)
        if store_id:
            clauses.append(c.store_id.in_(["", store_id]))
        stmt = select(ct.commission_rules).where(*clauses).order_by(c.rule_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    async def add_records(self, records: list[dict]) -> list[Row]:
        if not records:
            return []
        rows = (
            await self.db.execute(
                insert(ct.commission_records)
                .values([{"tenant_id": self.tenant, **r} for r in records])
                .returning(ct.commission_records)
            )
        ).all()
        return sorted(rows, key=lambda r: (r.line_index, r.record_id))

    async def records_of(self, checkout_id: str) -> list[Row]:
        return list(
            (
                await self.db.execute(
                    select(ct.commission_records)
                    .where(
                        ct.commission_records.c.tenant_id == self.tenant,
                        ct.commission_records.c.checkout_id == checkout_id,
                    )
                    .order_by(ct.commission_records.c.create_time, ct.commission_records.c.record_id)
                )
            ).all()
        )

    async def records_of_package(self, package_id: str) -> list[Row]:
        c = ct.commission_records.c
        stmt = (
            select(ct.commission_records)
            .where(c.tenant_id == self.tenant, c.package_id == package_id)
            .order_by(c.create_time, c.record_id)
        )
        return list((await self.db.execute(stmt)).all())

    async def records_of_top_ups(self, transaction_ids: list[str]) -> list[Row]:
        """The commission records (earned and clawed back) of these top-up transactions."""
        if not transaction_ids:
            return []
        c = ct.commission_records.c
        stmt = (
            select(ct.commission_records)
            .where(c.tenant_id == self.tenant, c.transaction_id.in_(transaction_ids))
            .order_by(c.create_time, c.record_id)
            .with_for_update()
        )
        return list((await self.db.execute(stmt)).all())

    async def top_ups_newest_first(self, member_id: str, principal_account_id: str) -> list[Row]:
        """The member's top-ups that were not reversed, newest first, each with the principal it
        credited (`transaction_id`, `principal`)."""
        t, p = lt.ledger_transactions.c, lt.postings.c
        reversal = lt.ledger_transactions.alias("reversal")
        stmt = (
            select(t.transaction_id, (-func.sum(p.amount)).label("principal"))
            .join(lt.postings, (p.tenant_id == t.tenant_id) & (p.transaction_id == t.transaction_id))
            .where(
                t.tenant_id == self.tenant,
                t.member_id == member_id,
                t.kind == "top_up",
                p.account_id == principal_account_id,
                ~select(reversal.c.transaction_id)
                .where(reversal.c.tenant_id == t.tenant_id, reversal.c.reverses == t.transaction_id)
                .exists(),
            )
            .group_by(t.transaction_id, t.create_time)
            .order_by(t.create_time.desc(), t.transaction_id.desc())
        )
        return list((await self.db.execute(stmt)).all())

    def _record_clauses(self, staff, store_id, start, end, checkout_id) -> list:
        c = ct.commission_records.c
        clauses = [c.tenant_id == self.tenant]
        if staff:
            clauses.append(c.staff == staff)
        if store_id:
            clauses.append(c.store_id == store_id)
        if start:
            clauses.append(c.create_time >= start)
        if end:
            clauses.append(c.create_time < end)
        if checkout_id:
            clauses.append(c.checkout_id == checkout_id)
        return clauses

    async def list_records(
        self,
        *,
        limit: int,
        staff: str,
        store_id: str | None,
        start: datetime | None,
        end: datetime | None,
        checkout_id: str | None,
        before: tuple[datetime, str] | None,
    ) -> list[Row]:
        c = ct.commission_records.c
        clauses = self._record_clauses(staff, store_id, start, end, checkout_id)
        if before:
            clauses.append(tuple_(c.create_time, c.record_id) < tuple_(before[0], before[1]))
        mp = pt.member_packages.c
        stmt = (
            # a package card's record is named by its card, `members/{member}/packages/{package}`
            select(ct.commission_records, mp.member_id.label("package_member_id"))
            .outerjoin(pt.member_packages, (mp.tenant_id == c.tenant_id) & (mp.package_id == c.package_id))
            .where(*clauses)
            .order_by(c.create_time.desc(), c.record_id.desc())
        )
        return list((await self.db.execute(stmt.limit(limit))).all())

    async def report(
        self,
        *,
        staff: str,
        store_id: str | None,
        start: datetime,
        end: datetime,
        dimensions: list[str] = ["staff"],  # noqa: B006 (never mutated)
        source: str | None = None,
    ) -> list[Row]:
        """Sums of the period's records grouped by ``dimensions`` (see ``report_column``),
        ordered by them."""
        c = ct.commission_records.c
        columns = [self.report_column(d).label(d) for d in dimensions]
        clauses = self._record_clauses(staff, store_id, start, end, None)
        if source is not None:
            clauses.append(self.report_column("source") == source)
        stmt = (
            select(
                *columns,
                cast(func.sum(c.base_minor), BigInteger).label("sales"),
                cast(func.sum(c.amount_minor), BigInteger).label("commission"),
                func.count().label("n"),
            )
            .where(*clauses)
            .group_by(*columns)
            .order_by(*columns)
        )
        return list((await self.db.execute(stmt)).all())

    @staticmethod
    def report_column(dimension: str):
        c = ct.commission_records.c
        if dimension == "store":
            return c.store_id
        if dimension == "source":
            # what the record was earned on: exactly one of the three ids is set (a CHECK)
            return case(
                (c.transaction_id.is_not(None), "top_up"),
                (c.package_id.is_not(None), "package_sale"),
                else_="checkout",
            )
        return {"staff": c.staff, "item": c.item, "staff_position": c.staff_position, "tender": c.tender}[
            dimension
        ]
