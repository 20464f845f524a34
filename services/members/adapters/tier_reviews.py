"""The tier anniversary review (domain.md §2: a downgrade is evaluated on the member's tier
anniversary, after a grace period): which members are due, and the record that each review
happened exactly once.

A member is due when, in their home store's time zone, the local date ``grace`` days ago is at
least one full year after the local date they reached their tier (``tier_since``): the review of
anniversary N runs from local midnight of (tier date + N years + grace days). One
``tier_anniversary_reviews`` row per (member, tier_since, anniversary) — its primary key — is
written in the same transaction as the review's outcome, so a review happens once whatever the
number of replicas or crashes; a member whose tier changes gets a new ``tier_since`` and a new
anniversary count.

``tables.py`` imports this module at its bottom so Alembic sees the table on ``metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.members.adapters.tables import metadata, tenant_settings

KEPT = "kept"
DOWNGRADED = "downgraded"

# A member's home store always exists (registration checks it); this only guards a store row
# that is missing for another reason, with the tenant default zone (domain.md §1).
DEFAULT_ZONE = "Asia/Shanghai"

tier_anniversary_reviews = Table(
    "tier_anniversary_reviews",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("tier_since", DateTime(timezone=True), nullable=False),
    Column("anniversary", Integer, nullable=False),  # 1 = the first year held
    Column("tier_id", Text, nullable=False),  # the tier reviewed
    Column("outcome", Text, nullable=False),  # kept | downgraded
    Column("to_tier_id", Text, nullable=False),
    Column("review_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint(
        "tenant_id", "member_id", "tier_since", "anniversary", name="pk_tier_anniversary_reviews"
    ),
)


@dataclass(frozen=True)
class DueMember:
    member_id: str
    tier_id: str
    tier_since: datetime
    anniversary: int


async def tenants_with_automatic_downgrade(db: AsyncConnection | AsyncSession, limit: int) -> list[str]:
    """Tenants whose ladder downgrades (policy AUTOMATIC); under NEVER nobody is reviewed."""
    c = tenant_settings.c
    rows = await db.execute(
        select(c.tenant_id)
        .where(c.tier_ladder["downgrade_policy"].astext == "automatic")
        .order_by(c.tenant_id)
        .limit(limit)
    )
    return [r.tenant_id for r in rows]


# One statement: the due members (store-local anniversary plus grace reached, not yet reviewed
# for that anniversary), in member-id order, row-locked; SKIP LOCKED lets replicas share the work.
_DUE = text(
    """
    SELECT m.member_id, m.tier_id, m.tier_since, a.anniversary
    FROM members m
    LEFT JOIN stores s ON s.tenant_id = m.tenant_id AND s.store_id = m.home_store_id
    CROSS JOIN LATERAL (
        SELECT extract(year FROM age(
                   ((now() AT TIME ZONE coalesce(s.time_zone, :zone)) - make_interval(days => :grace))::date,
                   (m.tier_since AT TIME ZONE coalesce(s.time_zone, :zone))::date
               ))::int AS anniversary
    ) a
    WHERE m.tenant_id = :tenant AND m.state = 'active' AND NOT m.tier_override
      AND m.tier_id <> :entry_tier AND a.anniversary >= 1
      AND NOT EXISTS (
          SELECT 1 FROM tier_anniversary_reviews r
          WHERE r.tenant_id = m.tenant_id AND r.member_id = m.member_id
            AND r.tier_since = m.tier_since AND r.anniversary = a.anniversary)
    ORDER BY m.member_id
    LIMIT :limit
    FOR UPDATE OF m SKIP LOCKED
    """
)


class TierReviewRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db = db
        self.tenant = tenant

    async def lock_due(self, *, grace_days: int, entry_tier_id: str, limit: int) -> list[DueMember]:
        rows = await self.db.execute(
            _DUE,
            {
                "tenant": self.tenant,
                "grace": grace_days,
                "entry_tier": entry_tier_id,
                "zone": DEFAULT_ZONE,
                "limit": limit,
            },
        )
        return [DueMember(str(r.member_id), r.tier_id, r.tier_since, int(r.anniversary)) for r in rows]

    async def record(self, member: DueMember, *, outcome: str, to_tier_id: str) -> bool:
        """The review's row; False when this anniversary was reviewed already (nothing to do)."""
        stmt = (
            pg_insert(tier_anniversary_reviews)
            .values(
                tenant_id=self.tenant,
                member_id=member.member_id,
                tier_since=member.tier_since,
                anniversary=member.anniversary,
                tier_id=member.tier_id,
                outcome=outcome,
                to_tier_id=to_tier_id,
            )
            .on_conflict_do_nothing(constraint="pk_tier_anniversary_reviews")
            .returning(tier_anniversary_reviews.c.member_id)
        )
        return (await self.db.execute(stmt)).first() is not None
