"""The durable job that re-evaluates a tenant's members after its tier ladder changed.

``tier_reevaluations`` holds one row per (tenant, ladder version), written in the same transaction
as the ladder. A worker walks the tenant's members in ``member_id`` order, one bounded batch per
transaction, and advances ``after_member_id`` in that same transaction: a crash repeats at most
the uncommitted batch, whose members are then re-evaluated from their committed state (a member
already moved stays put), so each tier change happens — and its ``TierChanged`` is written —
exactly once. A newer ladder supersedes an unfinished job of an older one.

``tables.py`` imports this module at its bottom so Alembic sees the table on ``metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.members.adapters.tables import members, metadata

PENDING = "pending"
DONE = "done"
SUPERSEDED = "superseded"

tier_reevaluations = Table(
    "tier_reevaluations",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("ladder_version", Integer, nullable=False),
    Column("state", Text, nullable=False, server_default=PENDING),
    Column("after_member_id", UUID(as_uuid=False), nullable=True),  # the batch cursor
    Column("evaluated", Integer, nullable=False, server_default="0"),
    Column("changed", Integer, nullable=False, server_default="0"),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "ladder_version", name="pk_tier_reevaluations"),
    Index("ix_tier_reevaluations_state", "state", "create_time"),
)


@dataclass(frozen=True)
class Job:
    tenant: str
    ladder_version: int
    after_member_id: str | None
    evaluated: int
    changed: int


@dataclass(frozen=True)
class MemberTierRow:
    member_id: str
    tier_id: str
    tier_override: bool
    tier_since: datetime


async def pending_jobs(db: AsyncConnection | AsyncSession, limit: int) -> list[tuple[str, int]]:
    """(tenant, ladder version) of unfinished jobs, oldest first, across tenants."""
    c = tier_reevaluations.c
    rows = await db.execute(
        select(c.tenant_id, c.ladder_version).where(c.state == PENDING).order_by(c.create_time).limit(limit)
    )
    return [(r.tenant_id, r.ladder_version) for r in rows]


class TierReevaluationRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db = db
        self.tenant = tenant

    async def schedule(self, ladder_version: int) -> None:
        """A job for this ladder version; older unfinished jobs are superseded (the new ladder
        is what members are evaluated against now)."""
        c = tier_reevaluations.c
        await self.db.execute(
            update(tier_reevaluations)
            .where(c.tenant_id == self.tenant, c.state == PENDING, c.ladder_version < ladder_version)
            .values(state=SUPERSEDED, update_time=func.now())
        )
        await self.db.execute(
            pg_insert(tier_reevaluations)
            .values(tenant_id=self.tenant, ladder_version=ladder_version)
            .on_conflict_do_nothing(constraint="pk_tier_reevaluations")
        )

    async def claim(self, ladder_version: int) -> Job | None:
        """The pending job, locked for this transaction; None when done or another replica has it."""
        c = tier_reevaluations.c
        row = (
            await self.db.execute(
                select(c.after_member_id, c.evaluated, c.changed)
                .where(c.tenant_id == self.tenant, c.ladder_version == ladder_version, c.state == PENDING)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        return Job(self.tenant, ladder_version, row.after_member_id, row.evaluated, row.changed)

    async def advance(
        self, job: Job, *, after_member_id: str | None, evaluated: int, changed: int, state: str
    ) -> None:
        c = tier_reevaluations.c
        await self.db.execute(
            update(tier_reevaluations)
            .where(c.tenant_id == self.tenant, c.ladder_version == job.ladder_version)
            .values(
                after_member_id=after_member_id,
                evaluated=job.evaluated + evaluated,
                changed=job.changed + changed,
                state=state,
                update_time=func.now(),
            )
        )

    async def lock_member_batch(self, after_member_id: str | None, limit: int) -> list[MemberTierRow]:
        """The next active members in id order, row-locked (one fixed order, like every batch)."""
        m = members.c
        clauses = [m.tenant_id == self.tenant, m.state == "active"]
        if after_member_id is not None:
            clauses.append(m.member_id > after_member_id)
        rows = await self.db.execute(
            select(m.member_id, m.tier_id, m.tier_override, m.tier_since)
            .where(*clauses)
            .order_by(m.member_id)
            .limit(limit)
            .with_for_update()
        )
        return [MemberTierRow(r.member_id, r.tier_id, r.tier_override, r.tier_since) for r in rows]
