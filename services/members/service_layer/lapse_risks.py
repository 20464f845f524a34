"""流失预警: the members of a store about to lapse, for its store manager.

A member is "about to lapse" when their last visit (``member_activity.last_visit_at``; never
visited: their registration) lies between N - k and N days before now — N the first lapse
threshold (the tenant's ``ProgrammeSettings.lapse_days``, by default ``PEONY_MEMBERS_LAPSE_DAYS``), k the
warning window (default 14). Members whose home
store is the store, active only; longest absence first, keyset-paged on (since, member id), served
by ``ix_members_home_store`` and the primary key of ``member_activity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.crypto import PiiCipher
from kit.errors import InvalidArgument, NotFound
from services.members.adapters import segment_tables as sg
from services.members.adapters import tables as t
from services.members.adapters.repository import MemberCodec, StoreRepository
from services.members.domain.member import Member
from services.members.service_layer.programme_settings import ProgrammeRewards, tenant_rewards

DEFAULT_WARNING_DAYS = 14


@dataclass(frozen=True)
class LapseRisk:
    member: Member
    last_visit: datetime | None
    since: datetime  # the last visit, or the registration of a member who never visited


def warning_days(requested: int, lapse_days: int) -> int:
    """0 means the default (at most the threshold minus one day); otherwise 1..N-1."""
    if requested == 0:
        return min(DEFAULT_WARNING_DAYS, lapse_days - 1)
    if not 1 <= requested <= lapse_days - 1:
        raise InvalidArgument([("warning_days", f"must be between 1 and {lapse_days - 1}")])
    return requested


class LapseRiskReads:
    """The list's reads, on autocommit connections; the threshold is the tenant's first lapse
    threshold (``ProgrammeSettings.lapse_days``, or ``defaults``' without settings)."""

    def __init__(self, engine: AsyncEngine, cipher: PiiCipher, defaults: ProgrammeRewards):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.cipher = cipher
        self.defaults = defaults

    async def lapse_days(self, tenant: str) -> int:
        async with self.engine.connect() as conn:
            return (await tenant_rewards(conn, tenant, self.defaults)).lapse_days[0]

    async def list(
        self,
        caller: Principal,
        store_id: str,
        *,
        lapse_days: int,
        warning: int,
        now: datetime,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[LapseRisk]:
        return await list_lapse_risks(
            self.engine,
            self.cipher,
            caller,
            store_id,
            lapse_days=lapse_days,
            warning=warning,
            now=now,
            limit=limit,
            after=after,
        )


async def list_lapse_risks(
    engine: AsyncEngine,
    cipher: PiiCipher,
    caller: Principal,
    store_id: str,
    *,
    lapse_days: int,
    warning: int,
    now: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[LapseRisk]:
    caller.require(auth.MEMBERS_READ)
    caller.require_staff()
    caller.require_store(f"stores/{store_id}")
    m, a = t.members.c, sg.member_activity.c
    since = func.coalesce(a.last_visit_at, m.create_time)
    clauses = [
        m.tenant_id == caller.tenant,
        m.home_store_id == store_id,
        m.state == "active",
        since > now - timedelta(days=lapse_days),  # not lapsed yet (the lapse programme's <=)
        since <= now - timedelta(days=lapse_days - warning),
    ]
    if after is not None:
        last_since, last_member = after
        clauses.append(
            tuple_(since, m.member_id)
            > tuple_(
                literal(last_since, type_=m.create_time.type), literal(last_member, type_=m.member_id.type)
            )
        )
    async with engine.connect() as conn:
        if not await StoreRepository(conn, caller.tenant).exists(store_id):
            raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
        rows = (
            await conn.execute(
                select(t.members, a.last_visit_at.label("last_visit"), since.label("since"))
                .select_from(
                    t.members.outerjoin(
                        sg.member_activity, and_(a.tenant_id == m.tenant_id, a.member_id == m.member_id)
                    )
                )
                .where(*clauses)
                .order_by(since, m.member_id)
                .limit(limit)
            )
        ).all()
    codec = MemberCodec(caller.tenant, cipher)
    return [LapseRisk(codec.from_row(r), r.last_visit, r.since) for r in rows]
