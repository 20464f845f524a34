"""Claiming programme runs: the one write that makes a programme fire once per member and period.

Birthday and lapse select the members due, then insert (tenant, programme, member, period) rows
from that selection; the primary key drops anyone claimed already (another replica, an earlier
pass), and the member ids actually inserted are the ones this transaction must emit events for.
"""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.adapters import segment_tables as sg


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
