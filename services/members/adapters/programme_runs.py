"""Claiming programme runs: the one write that makes a programme fire once per member and period.

Birthday, anniversary and lapse select the members due, then insert (tenant, programme, member, period) rows
from that selection; the primary key drops anyone claimed already (another replica, an earlier
pass), and the member ids actually inserted are the ones this transaction must emit events for.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.adapters import segment_tables as sg
from services.members.adapters import tables as t


def due_in_zone(
    tenant: str, zone: str, programme: str, period: str, matching: ColumnElement[bool], batch: int
) -> Select:
    """The runs to claim for active members of ``tenant`` whose home store is in ``zone``, who
    match ``matching`` and have no run of ``programme`` for ``period`` yet: at most ``batch``, in
    member order (what the birthday and anniversary programmes select at a zone's hour)."""
    m, s, r = t.members.c, t.stores.c, sg.programme_runs.c
    already = (
        select(r.member_id)
        .where(
            r.tenant_id == m.tenant_id,
            r.programme == programme,
            r.member_id == m.member_id,
            r.period == period,
        )
        .exists()
    )
    return (
        select(m.tenant_id, literal(programme), m.member_id, literal(period))
        .select_from(
            t.members.join(t.stores, and_(s.tenant_id == m.tenant_id, s.store_id == m.home_store_id))
        )
        .where(m.tenant_id == tenant, s.time_zone == zone, m.state == "active", matching, ~already)
        .order_by(m.member_id)
        .limit(batch)
    )


async def claim_programme_runs(session: AsyncSession, due: Select) -> list[str]:
    """Insert the runs ``due`` selects (tenant_id, programme, member_id, period); the member ids
    this call claimed, in no particular order."""
    result = await session.execute(
        pg_insert(sg.programme_runs)
        .from_select(["tenant_id", "programme", "member_id", "period"], due)
        .on_conflict_do_nothing(constraint="pk_programme_runs")
        .returning(sg.programme_runs.c.member_id)
    )
    return list(result.scalars().all())
