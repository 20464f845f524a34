"""Queries of the wallet's scheduled work (entrypoints/jobs.py, service_layer/scheduled.py).

`DueWork` finds due rows across tenants (a plain connection, no tenant unit of work);
`ScheduledWorkRepository` re-locks one of them inside its tenant's transaction with
`FOR UPDATE SKIP LOCKED`, re-checking its state, so replicas running the jobs at once act on
every row exactly once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import DateTime, cast, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.wallet.adapters import package_tables as pt
from services.wallet.adapters import tables as t
from services.wallet.domain.settings import WalletSettings

DEFAULT_ZONE = "Asia/Shanghai"  # domain.md §1: a store's default time zone


# Members due for this month's free care (service_layer/benefits.py): the tenant has a
# `free_care_service`, the member's tier grants sessions (the tenant's ladder projection, else the
# default ladder), and no grant row exists for the month in their home store's calendar.
_FREE_CARE_DUE = text(
    """
    SELECT d.tenant_id, d.member_id::text AS member_id, d.home_store_id, d.tier_id, n.sessions,
           z.zone AS time_zone, z.month
    FROM member_directory d
    JOIN wallet_settings w ON w.tenant_id = d.tenant_id
         AND coalesce(w.settings ->> 'free_care_service', '') <> ''
    LEFT JOIN tier_ladders l ON l.tenant_id = d.tenant_id
    LEFT JOIN store_directory s ON s.tenant_id = d.tenant_id AND s.store_id = d.home_store_id
    CROSS JOIN LATERAL (
        SELECT coalesce(s.time_zone, :default_zone) AS zone,
               date_trunc('month', :now AT TIME ZONE coalesce(s.time_zone, :default_zone))::date AS month
    ) z
    CROSS JOIN LATERAL (
        SELECT CASE WHEN l.tenant_id IS NULL
                    THEN coalesce((CAST(:defaults AS jsonb) ->> d.tier_id)::int, 0)
                    ELSE coalesce((SELECT (e ->> 'free_care_per_month')::int
                                   FROM jsonb_array_elements(l.tiers) e
                                   WHERE e ->> 'tier_id' = d.tier_id LIMIT 1), 0)
               END AS sessions
    ) n
    WHERE n.sessions > 0
      AND NOT EXISTS (SELECT 1 FROM free_care_grants g
                      WHERE g.tenant_id = d.tenant_id AND g.member_id = d.member_id
                        AND g.month = z.month)
    ORDER BY d.tenant_id, d.member_id
    LIMIT :limit
    """
)


class DueWork:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def _all(self, stmt) -> list:
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    async def free_care(self, now: datetime, limit: int, defaults: dict[str, int]) -> list[Row]:
        """Members due for this month's free care, across tenants (see ``_FREE_CARE_DUE``)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                _FREE_CARE_DUE,
                {
                    "now": now,
                    "limit": limit,
                    "default_zone": DEFAULT_ZONE,
                    "defaults": json.dumps(defaults),
                },
            )
            return list(rows.all())

    async def bonus_releases(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, release id) of scheduled bonus instalments due by `now`."""
        c = t.bonus_releases.c
        return await self._all(
            select(c.tenant_id, c.release_id).where(c.state == "scheduled", c.due_time <= now).limit(limit)
        )

    async def holds(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, hold id) of authorized holds past their expiry."""
        c = t.holds.c
        return await self._all(
            select(c.tenant_id, c.hold_id).where(c.state == "authorized", c.expire_time <= now).limit(limit)
        )

    async def expired_package_cards(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, package id) of cards with an item past its expiry that still has deferred
        revenue or unused counted sessions and no sessions held (the partial index
        ix_member_package_items_expiring finds them)."""
        i, p = pt.member_package_items.c, pt.member_packages.c
        return await self._all(
            select(i.tenant_id, i.package_id)
            .join(
                pt.member_packages,
                (p.tenant_id == i.tenant_id) & (p.package_id == i.package_id),
            )
            .where(
                i.expire_time <= now,
                (i.deferred_minor > 0) | ((i.sessions_remaining > 0) & ~i.unlimited),
                i.sessions_held == 0,
                # a frozen card waits (a freeze may extend it) until its freeze has run out
                p.state.in_(("active", "exhausted")) | ((p.state == "frozen") & (p.frozen_until <= now)),
            )
            .group_by(i.tenant_id, i.package_id)
            .limit(limit)
        )

    async def members_with_expired_points(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, member id) of members holding points past their expiry."""
        c = t.point_lots.c
        return await self._all(
            select(c.tenant_id, c.member_id)
            .where(c.remaining > 0, c.expire_time <= now)
            .group_by(c.tenant_id, c.member_id)
            .limit(limit)
        )

    async def expiring_lots(
        self, now: datetime, after: tuple[datetime, str, str] | None, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """(tenant, lot id, expire time) of lots not yet noticed that expire within their tenant's
        `expiring_notice_days`, soonest first, after the keyset `after` (expiry, tenant, lot):
        lots not due yet never fill a page and starve due ones."""
        c = t.point_lots.c
        notice_days = func.coalesce(
            t.wallet_settings.c.settings["expiring_notice_days"].as_integer(),
            WalletSettings().expiring_notice_days,
        )
        stmt = (
            select(c.tenant_id, c.lot_id, c.expire_time)
            .outerjoin(t.wallet_settings, t.wallet_settings.c.tenant_id == c.tenant_id)
            .where(
                c.remaining > 0,
                c.expiring_notified.is_(False),
                c.expire_time <= now + timedelta(days=366),  # the setting's maximum: uses the index
                c.expire_time <= literal(now) + func.make_interval(0, 0, 0, notice_days),
            )
            .order_by(c.expire_time, c.tenant_id, c.lot_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(
                tuple_(c.expire_time, c.tenant_id, c.lot_id)
                > tuple_(literal(after[0], DateTime(timezone=True)), literal(after[1]), cast(after[2], UUID))
            )
        return await self._all(stmt)


class ScheduledWorkRepository:
    def __init__(self, session: AsyncSession, tenant: str):
        self._s = session
        self._tenant = tenant

    async def lock_scheduled_release(self, release_id: str) -> Row | None:
        """The release row if still scheduled and no other replica holds it."""
        c = t.bonus_releases.c
        stmt = (
            select(t.bonus_releases)
            .where(c.tenant_id == self._tenant, c.release_id == release_id, c.state == "scheduled")
            .with_for_update(skip_locked=True)
        )
        return (await self._s.execute(stmt)).first()

    async def lock_authorized_hold(self, hold_id: str, expired_by: datetime | None = None) -> bool:
        """Whether the hold is still authorised (and, with `expired_by`, expired by then), locked."""
        c = t.holds.c
        stmt = (
            select(c.hold_id)
            .where(c.tenant_id == self._tenant, c.hold_id == hold_id, c.state == "authorized")
            .with_for_update(skip_locked=True)
        )
        if expired_by is not None:
            stmt = stmt.where(c.expire_time <= expired_by)
        return (await self._s.execute(stmt)).first() is not None

    async def lock_unnoticed_lot(self, lot_id: str) -> Row | None:
        c = t.point_lots.c
        stmt = (
            select(t.point_lots)
            .where(c.tenant_id == self._tenant, c.lot_id == lot_id, c.expiring_notified.is_(False))
            .with_for_update(skip_locked=True)
        )
        return (await self._s.execute(stmt)).first()

    async def mark_lot_noticed(self, lot_id: str) -> None:
        c = t.point_lots.c
        await self._s.execute(
            update(t.point_lots)
            .where(c.tenant_id == self._tenant, c.lot_id == lot_id)
            .values(expiring_notified=True)
        )
