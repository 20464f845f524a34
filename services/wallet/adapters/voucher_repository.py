"""Repositories of voucher templates, vouchers, rewards, check-ins and referral rewards.

All of them filter by the tenant they were built for. Lock order (see ledger_repository): these
domain rows are locked before any account.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import case, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.wallet.adapters import voucher_tables as vt
from services.wallet.domain import vouchers as dv

Db = AsyncSession | AsyncConnection

_TERMS = (
    "display_name",
    "kind",
    "amount_off_minor",
    "percent_off_bps",
    "max_discount_minor",
    "free_service",
    "min_spend_minor",
    "stores",
)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def terms_of(row: Row) -> dv.VoucherTerms:
    return dv.VoucherTerms(**{k: getattr(row, k) for k in _TERMS})


def view_of(row: Row) -> dv.VoucherView:
    return dv.VoucherView(
        voucher_id=row.voucher_id,
        member_id=row.member_id,
        state=row.state,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        terms=terms_of(row),
    )


class VoucherRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    # --- templates ----------------------------------------------------------------------------
    async def add_template(self, **values) -> Row | None:
        """Insert a template; None when its id is taken."""
        return (
            await self.db.execute(
                pg_insert(vt.voucher_templates)
                .values(tenant_id=self.tenant, **values)
                .on_conflict_do_nothing()
                .returning(vt.voucher_templates)
            )
        ).first()

    async def get_template(self, template_id: str, *, for_issue: bool = False) -> Row | None:
        """``for_issue``: FOR SHARE, so a concurrent deactivation waits for this issue to commit
        and an issue after it sees ``active`` false (the database orders the two)."""
        c = vt.voucher_templates.c
        stmt = select(vt.voucher_templates).where(c.tenant_id == self.tenant, c.template_id == template_id)
        if for_issue:
            stmt = stmt.with_for_update(read=True)
        return (await self.db.execute(stmt)).first()

    async def deactivate_template(self, template_id: str) -> Row | None:
        """Sets ``active`` false (a row lock: issues in flight finish first); None when unknown."""
        c = vt.voucher_templates.c
        return (
            await self.db.execute(
                vt.voucher_templates.update()
                .where(c.tenant_id == self.tenant, c.template_id == template_id)
                .values(active=False)
                .returning(vt.voucher_templates)
            )
        ).first()

    async def list_templates(self, *, limit: int, after: str | None) -> list[Row]:
        c = vt.voucher_templates.c
        clauses = [c.tenant_id == self.tenant]
        if after:
            clauses.append(c.template_id > after)
        stmt = select(vt.voucher_templates).where(*clauses).order_by(c.template_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    # --- vouchers -----------------------------------------------------------------------------
    async def add_voucher(self, **values) -> Row:
        """Insert a voucher with a fresh human code, drawing again on the (unlikely) collision."""
        for _ in range(8):
            row = (
                await self.db.execute(
                    pg_insert(vt.vouchers)
                    .values(tenant_id=self.tenant, code=dv.new_code(), **values)
                    .on_conflict_do_nothing(index_elements=[vt.vouchers.c.tenant_id, vt.vouchers.c.code])
                    .returning(vt.vouchers)
                )
            ).first()
            if row is not None:
                return row
        raise RuntimeError("could not draw a free voucher code")

    async def get(self, voucher_id: str, *, for_update: bool = False) -> Row | None:
        if not _is_uuid(voucher_id):
            return None
        c = vt.vouchers.c
        stmt = select(vt.vouchers).where(c.tenant_id == self.tenant, c.voucher_id == voucher_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def lock_many(self, voucher_ids: list[str]) -> dict[str, Row]:
        """Lock the vouchers that exist among `voucher_ids`, in id order (no deadlocks)."""
        ids = sorted({v for v in voucher_ids if _is_uuid(v)})
        if not ids:
            return {}
        c = vt.vouchers.c
        rows = (
            await self.db.execute(
                select(vt.vouchers)
                .where(c.tenant_id == self.tenant, c.voucher_id.in_(ids))
                .order_by(c.voucher_id)
                .with_for_update()
            )
        ).all()
        return {r.voucher_id: r for r in rows}

    async def for_member(
        self, member_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Row]:
        """Newest first; `before` is the (create_time, voucher_id) of the last row of a page."""
        c = vt.vouchers.c
        clauses = [c.tenant_id == self.tenant, c.member_id == member_id]
        if before:
            clauses.append(
                tuple_(c.create_time, c.voucher_id)
                < tuple_(literal(before[0], c.create_time.type), literal(before[1], c.voucher_id.type))
            )
        stmt = (
            select(vt.vouchers)
            .where(*clauses)
            .order_by(c.create_time.desc(), c.voucher_id.desc())
            .limit(limit)
        )
        return list((await self.db.execute(stmt)).all())

    async def set_state(self, voucher_id: str, state: str, *, checkout_id: str | None = None) -> Row:
        c = vt.vouchers.c
        return (
            await self.db.execute(
                update(vt.vouchers)
                .where(c.tenant_id == self.tenant, c.voucher_id == voucher_id)
                .values(state=state, redeemed_checkout_id=checkout_id, update_time=func.now())
                .returning(vt.vouchers)
            )
        ).one()

    async def redeemed_by(self, checkout_id: str) -> list[Row]:
        c = vt.vouchers.c
        return list(
            (
                await self.db.execute(
                    select(vt.vouchers)
                    .where(c.tenant_id == self.tenant, c.redeemed_checkout_id == checkout_id)
                    .order_by(c.voucher_id)
                    .with_for_update()
                )
            ).all()
        )

    # --- rewards ------------------------------------------------------------------------------
    async def add_reward(self, **values) -> Row | None:
        return (
            await self.db.execute(
                pg_insert(vt.rewards)
                .values(tenant_id=self.tenant, **values)
                .on_conflict_do_nothing()
                .returning(vt.rewards)
            )
        ).first()

    async def get_reward(self, reward_id: str, *, for_update: bool = False) -> Row | None:
        c = vt.rewards.c
        stmt = select(vt.rewards).where(c.tenant_id == self.tenant, c.reward_id == reward_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def list_rewards(self, *, limit: int, after: str | None) -> list[Row]:
        c = vt.rewards.c
        clauses = [c.tenant_id == self.tenant]
        if after:
            clauses.append(c.reward_id > after)
        stmt = select(vt.rewards).where(*clauses).order_by(c.reward_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    async def update_reward(self, reward_id: str, values: dict) -> Row | None:
        c = vt.rewards.c
        return (
            await self.db.execute(
                update(vt.rewards)
                .where(c.tenant_id == self.tenant, c.reward_id == reward_id)
                .values(**values, update_time=func.now())
                .returning(vt.rewards)
            )
        ).first()

    async def take_stock(self, reward_id: str) -> Row | None:
        """One unit of an active reward in stock (conditional UPDATE: concurrent redemptions queue
        on the row and re-check); None when it is out of stock or inactive."""
        c = vt.rewards.c
        return (
            await self.db.execute(
                update(vt.rewards)
                .where(
                    c.tenant_id == self.tenant,
                    c.reward_id == reward_id,
                    c.active.is_(True),
                    (c.stock > 0) | (c.stock == dv.UNLIMITED),
                )
                .values(
                    stock=case((c.stock == dv.UNLIMITED, dv.UNLIMITED), else_=c.stock - 1),
                    update_time=func.now(),
                )
                .returning(vt.rewards)
            )
        ).first()

    # --- check-ins ----------------------------------------------------------------------------
    async def last_check_in(self, member_id: str, before: date) -> Row | None:
        c = vt.check_ins.c
        return (
            await self.db.execute(
                select(vt.check_ins)
                .where(c.tenant_id == self.tenant, c.member_id == member_id, c.local_date < before)
                .order_by(c.local_date.desc())
                .limit(1)
            )
        ).first()

    async def claim_check_in(self, **values) -> bool:
        """Insert the day's check-in; False when the member checked in that day already."""
        row = (
            await self.db.execute(
                pg_insert(vt.check_ins)
                .values(tenant_id=self.tenant, **values)
                .on_conflict_do_nothing()
                .returning(vt.check_ins.c.member_id)
            )
        ).first()
        return row is not None

    async def set_check_in_transaction(self, member_id: str, local_date: date, transaction_id: str) -> None:
        c = vt.check_ins.c
        await self.db.execute(
            update(vt.check_ins)
            .where(c.tenant_id == self.tenant, c.member_id == member_id, c.local_date == local_date)
            .values(transaction_id=transaction_id)
        )

    # --- referral rewards ---------------------------------------------------------------------
    async def claim_referral(self, *, referee_id: str, referrer_id: str, event_id: str) -> bool:
        row = (
            await self.db.execute(
                pg_insert(vt.referral_rewards)
                .values(
                    tenant_id=self.tenant, referee_id=referee_id, referrer_id=referrer_id, event_id=event_id
                )
                .on_conflict_do_nothing()
                .returning(vt.referral_rewards.c.referee_id)
            )
        ).first()
        return row is not None

    async def set_referral_voucher(self, referee_id: str, voucher_id: str) -> None:
        c = vt.referral_rewards.c
        await self.db.execute(
            update(vt.referral_rewards)
            .where(c.tenant_id == self.tenant, c.referee_id == referee_id)
            .values(voucher_id=voucher_id)
        )
