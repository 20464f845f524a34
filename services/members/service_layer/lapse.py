"""The lapse programme (流失预警 / 回访): members with no visit for N days, once per episode.

- Thresholds per tenant (``ProgrammeSettings.lapse_days``); a tenant without settings gets the
  deployment's ``PEONY_MEMBERS_LAPSE_DAYS`` (default "60,90"). A tenant that changes them keeps
  the runs already made: a new threshold fires for members past it in their current episode.
- An episode is the time since the member's last visit (``member_activity.last_visit_at``, from
  the wallet's checkouts) or, for a member who never visited, since registration. Its key is that
  instant in epoch microseconds ("never" for no visit) and a ``programme_runs`` row
  (``lapse_<N>``, member, episode key) is inserted with ``MemberLapsed`` in one transaction:
  at most once per threshold and episode, across replicas and crashes.
- A member past several thresholds at once (the job was off, or the tenant just started) gets
  only the largest: threshold N fires only while the member is still under the next one.
- The episode ends at the next visit: the engagement-facts consumer then emits
  ``MemberReturned`` (``returned_from_lapse``), and the new last visit starts a new episode key.

``run_lapses(now)`` is a function of "now", so tests control time; the worker passes the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from peony.members.v1 import events_pb2
from sqlalchemy import BigInteger, Text, and_, cast, extract, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.ids import is_resource_id
from kit.logging import get_logger
from kit.uow import UnitOfWork, UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters import segment_tables as sg
from services.members.adapters import tables as t
from services.members.adapters.programme_runs import claim_programme_runs
from services.members.service_layer.programme_settings import ProgrammeRewards, tenant_rewards
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.lapse")

NEVER = "never"
BATCH = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def programme(days: int) -> str:
    return f"lapse_{days}"


def episode_key(last_visit: datetime | None) -> str:
    """The episode's key: the last visit in epoch microseconds (exact, as the SQL computes it)."""
    return NEVER if last_visit is None else str((last_visit - EPOCH) // timedelta(microseconds=1))


@dataclass(frozen=True)
class LapseSettings:
    thresholds: tuple[int, ...] = (60, 90)
    # ``PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE``: a wallet voucher template id whose voucher comes
    # with the re-engagement message (default none); granted once per threshold and episode.
    # A tenant's ``ProgrammeSettings.lapse_voucher_template`` replaces it for that tenant.
    voucher_template_id: str = ""

    @classmethod
    def from_env(cls, env) -> LapseSettings:
        raw = env.get("PEONY_MEMBERS_LAPSE_DAYS", "60,90")
        if not re.fullmatch(r"\d{1,4}(,\d{1,4}){0,4}", raw) or any(
            not 1 <= int(d) <= 3650 for d in raw.split(",")
        ):
            raise ValueError(
                f"PEONY_MEMBERS_LAPSE_DAYS must be 1-5 day counts 1-3650 like 60,90, got {raw!r}"
            )
        template = env.get("PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE", "") or ""
        if template and not is_resource_id(template):
            raise ValueError(f"PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE is not a template id: {template!r}")
        return cls(tuple(sorted({int(d) for d in raw.split(",")})), template)


async def run_lapses(
    engine: AsyncEngine,
    uows: UnitOfWorkFactory[MembersUnitOfWork],
    now: datetime,
    settings: LapseSettings = LapseSettings(),
    *,
    batch: int = BATCH,
) -> int:
    async with engine.connect() as conn:
        tenants = (await conn.execute(select(t.stores.c.tenant_id).distinct())).scalars().all()
    ran = 0
    defaults = ProgrammeRewards(
        lapse_voucher_template=settings.voucher_template_id, lapse_days=settings.thresholds
    )
    for tenant in tenants:
        # the tenant's thresholds (UpdateProgrammeSettings), or the deployment's without a row
        async with engine.connect() as conn:
            thresholds = (await tenant_rewards(conn, tenant, defaults)).lapse_days
        for i, days in enumerate(thresholds):
            upper = thresholds[i + 1] if i + 1 < len(thresholds) else None
            while True:
                done = await uows.run(
                    tenant,
                    lambda uow, d=days, u=upper: _batch(uow, now, d, u, batch, settings.voucher_template_id),
                )
                ran += done
                if done < batch:
                    break
    return ran


async def _batch(
    uow: MembersUnitOfWork,
    now: datetime,
    days: int,
    upper: int | None,
    batch: int,
    voucher_template_id: str = "",
) -> int:
    m, a, r = t.members.c, sg.member_activity.c, sg.programme_runs.c
    since = func.coalesce(a.last_visit_at, m.create_time)
    key = func.coalesce(
        cast(cast(extract("epoch", a.last_visit_at) * 1_000_000, BigInteger), Text), literal(NEVER)
    )
    name = programme(days)
    clauses = [m.tenant_id == uow.tenant, m.state == "active", since <= now - timedelta(days=days)]
    if upper is not None:
        clauses.append(since > now - timedelta(days=upper))
    already = (
        select(r.member_id)
        .where(r.tenant_id == m.tenant_id, r.programme == name, r.member_id == m.member_id, r.period == key)
        .exists()
    )
    due = (
        select(m.tenant_id, literal(name), m.member_id, key)
        .select_from(
            t.members.outerjoin(
                sg.member_activity, and_(a.tenant_id == m.tenant_id, a.member_id == m.member_id)
            )
        )
        .where(*clauses, ~already)
        .order_by(m.member_id)
        .limit(batch)
    )
    inserted = await claim_programme_runs(uow.session, due)
    if not inserted:
        return 0
    rows = await uow.session.execute(
        select(m.member_id, m.home_store_id, a.last_visit_at)
        .select_from(
            t.members.outerjoin(
                sg.member_activity, and_(a.tenant_id == m.tenant_id, a.member_id == m.member_id)
            )
        )
        .where(m.tenant_id == uow.tenant, m.member_id.in_(inserted))
    )
    # the tenant's voucher (UpdateProgrammeSettings), or the deployment's without a row
    voucher_template_id = (
        await tenant_rewards(
            uow.session, uow.tenant, ProgrammeRewards(lapse_voucher_template=voucher_template_id)
        )
    ).lapse_voucher_template
    for member_id, store_id, last_visit in rows:
        event = events_pb2.MemberLapsed(
            member=f"members/{member_id}",
            days=days,
            store=f"stores/{store_id}",
            episode=episode_key(last_visit),
        )
        if voucher_template_id:
            event.reward.voucher_template = f"voucherTemplates/{voucher_template_id}"
        if last_visit is not None:
            event.last_visit_time.FromDatetime(last_visit)
        uow.emit(event, aggregate_type="member", aggregate_id=member_id)
    log.info("members.lapsed", tenant=uow.tenant, days=days, members=len(inserted))
    return len(inserted)


async def returned_from_lapse(
    uow: UnitOfWork,
    member_id: str,
    previous_visit: datetime | None,
    visit: datetime,
    checkout: str,
    *,
    appointment: str = "",
) -> bool:
    """After a visit: when the episode it ends had lapsed, ``MemberReturned`` (once: the episode
    key changes with the visit, and a redelivered visit is dropped by the consumer's inbox)."""
    if previous_visit is not None and visit <= previous_visit:
        return False  # an older checkout arriving late ends nothing
    r = sg.programme_runs.c
    lapsed = (
        (
            await uow.session.execute(
                select(r.programme).where(
                    r.tenant_id == uow.tenant,
                    r.member_id == member_id,
                    r.programme.like("lapse\\_%"),
                    r.period == episode_key(previous_visit),
                )
            )
        )
        .scalars()
        .all()
    )
    if not lapsed:
        return False
    stamp = Timestamp()
    stamp.FromDatetime(visit)
    uow.emit(
        events_pb2.MemberReturned(
            member=f"members/{member_id}",
            lapsed_days=max(int(p.removeprefix("lapse_")) for p in lapsed),
            visit_time=stamp,
            checkout=checkout,
            appointment=appointment,
        ),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    await uow.commit()
    return True


class LapseWorker(PeriodicWorker):
    """Runs the lapse programme every few minutes on every replica (the key makes that safe)."""

    name = "lapse-programme"

    def __init__(self, engine, uows, settings: LapseSettings, *, interval_s: float = 300.0):
        super().__init__(interval_s=interval_s)
        self._engine, self._uows, self._settings = engine, uows, settings

    async def tick(self) -> int:
        return await run_lapses(self._engine, self._uows, datetime.now(UTC), self._settings)
