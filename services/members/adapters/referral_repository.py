"""The tenant's referral terms (``referral_settings``; no row: the defaults)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.members.adapters.spend_tables import referral_settings
from services.members.domain.referral import DEFAULT_TERMS, ReferralTerms


class ReferralSettingsRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def get(self, *, for_update: bool = False) -> tuple[ReferralTerms, datetime | None]:
        c = referral_settings.c
        stmt = select(referral_settings).where(c.tenant_id == self.tenant)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        if row is None:
            return DEFAULT_TERMS, None
        return (
            ReferralTerms(
                threshold_minor=int(row.referral_threshold_minor),
                referrer_voucher_minor=int(row.referrer_voucher_minor),
                voucher_valid_days=int(row.voucher_valid_days),
                referrer_points=int(row.referrer_points),
                referee_points=int(row.referee_points),
            ),
            row.update_time,
        )

    async def save(self, terms: ReferralTerms) -> datetime:
        values = {
            "referral_threshold_minor": terms.threshold_minor,
            "referrer_voucher_minor": terms.referrer_voucher_minor,
            "voucher_valid_days": terms.voucher_valid_days,
            "referrer_points": terms.referrer_points,
            "referee_points": terms.referee_points,
        }
        stmt = pg_insert(referral_settings).values(tenant_id=self.tenant, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[referral_settings.c.tenant_id], set_={**values, "update_time": func.now()}
        ).returning(referral_settings.c.update_time)
        return (await self.db.execute(stmt)).scalar_one()
