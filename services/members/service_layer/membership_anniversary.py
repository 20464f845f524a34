"""The membership anniversary programme (入会周年): once per member per year, at a store-local time.

Rules:
- the anniversary is the day of the year of the member's registration (``members.create_time``)
  in their home store's time zone; due once that zone's local time reaches ``local_time``
  (default 09:00) on that day, from the first anniversary on (never in the registration year);
- a 29 February registration is due on 28 February in a year without a 29 February;
- exactly once per member and year: a ``programme_runs`` row (``anniversary``, member, year) is
  claimed with the ``MembershipAnniversaryDue`` event in one transaction
  (``claim_programme_runs``, as the birthday does), across replicas, re-runs and SIGKILL;
- notify sends the ``membership_anniversary`` greeting (marketing), the wallet grants the
  reward once per member and year (its ``programme_grants`` key): the tenant's
  ``ProgrammeSettings`` (``UpdateProgrammeSettings``), else the environment defaults below.

The registrations of one calendar day are found with ``ix_members_create_time`` as one UTC
range per past year (that day's local midnight to the next), so the job never scans a tenant.
``run_anniversaries(now)`` is a function of "now": tests control time.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from peony.members.v1 import events_pb2
from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.ids import is_resource_id
from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters import tables as t
from services.members.adapters.programme_runs import claim_programme_runs, due_in_zone
from services.members.service_layer.programme_settings import ProgrammeRewards, tenant_rewards
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.anniversary")

ANNIVERSARY = "anniversary"
BATCH = 500
DEFAULT_POINTS = 100  # Peony's default; domain.md names the anniversary but no reward
MAX_POINTS = 100_000


@dataclass(frozen=True)
class AnniversarySettings:
    """``PEONY_MEMBERS_ANNIVERSARY_TIME`` (HH:MM store-local, default 09:00),
    ``PEONY_MEMBERS_ANNIVERSARY_POINTS`` (0-100000, default 100) and
    ``PEONY_MEMBERS_ANNIVERSARY_VOUCHER_TEMPLATE`` (a wallet template id, default none: a tenant
    without that template gets the points, and the wallet records the voucher as refused)."""

    local_time: time = time(9, 0)
    points: int = DEFAULT_POINTS
    voucher_template_id: str = ""

    @classmethod
    def from_env(cls, env) -> AnniversarySettings:
        raw_time = env.get("PEONY_MEMBERS_ANNIVERSARY_TIME", "09:00")
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw_time):
            raise ValueError(f"PEONY_MEMBERS_ANNIVERSARY_TIME must be HH:MM, got {raw_time!r}")
        raw_points = env.get("PEONY_MEMBERS_ANNIVERSARY_POINTS", str(DEFAULT_POINTS))
        if not raw_points.isdigit() or int(raw_points) > MAX_POINTS:
            raise ValueError(f"PEONY_MEMBERS_ANNIVERSARY_POINTS must be 0-{MAX_POINTS}, got {raw_points!r}")
        template = env.get("PEONY_MEMBERS_ANNIVERSARY_VOUCHER_TEMPLATE", "") or ""
        if template and not is_resource_id(template):
            raise ValueError(f"PEONY_MEMBERS_ANNIVERSARY_VOUCHER_TEMPLATE is not a template id: {template!r}")
        hours, minutes = raw_time.split(":")
        return cls(time(int(hours), int(minutes)), int(raw_points), template)

    def reward(self) -> events_pb2.ProgrammeReward:
        return events_pb2.ProgrammeReward(
            points=self.points,
            voucher_template=f"voucherTemplates/{self.voucher_template_id}"
            if self.voucher_template_id
            else "",
        )


def anniversary_days(today: date, registered_year: int) -> list[date]:
    """The registration days of ``registered_year`` whose anniversary is ``today``: the same
    month and day, and 29 February on 28 February of a year without one."""
    days = []
    if not (today.month == 2 and today.day == 29 and not calendar.isleap(registered_year)):
        days.append(date(registered_year, today.month, today.day))
    leap_day_elsewhere = today.month == 2 and today.day == 28 and not calendar.isleap(today.year)
    if leap_day_elsewhere and calendar.isleap(registered_year):
        days.append(date(registered_year, 2, 29))
    return days


def _local_day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def run_anniversaries(
    engine: AsyncEngine,
    uows: UnitOfWorkFactory[MembersUnitOfWork],
    now: datetime,
    settings: AnniversarySettings = AnniversarySettings(),
    *,
    batch: int = BATCH,
) -> int:
    """Every anniversary due at ``now`` that has not run yet; returns how many ran."""
    m = t.members.c
    async with engine.connect() as conn:
        zones = (await conn.execute(select(t.stores.c.tenant_id, t.stores.c.time_zone).distinct())).all()
    first: dict[str, datetime | None] = {}
    ran = 0
    for tenant, zone_name in zones:
        zone = ZoneInfo(zone_name)
        local = now.astimezone(zone)
        if local.time() < settings.local_time:
            continue
        if tenant not in first:  # the tenant's first registration (ix_members_create_time)
            async with engine.connect() as conn:
                first[tenant] = await conn.scalar(
                    select(func.min(m.create_time)).where(m.tenant_id == tenant)
                )
        if first[tenant] is None:
            continue
        today = local.date()
        oldest = first[tenant].astimezone(zone).year
        ranges = [
            _local_day_range(day, zone)
            for year in range(oldest, today.year)
            for day in anniversary_days(today, year)
        ]
        if not ranges:
            continue
        while True:
            done = await uows.run(
                tenant,
                lambda uow, z=zone_name, r=ranges, y=today.year: _batch(uow, z, y, r, settings, batch),
            )
            ran += done
            if done < batch:
                break
    return ran


async def _batch(
    uow: MembersUnitOfWork,
    zone: str,
    year: int,
    ranges: list[tuple[datetime, datetime]],
    settings: AnniversarySettings,
    batch: int,
) -> int:
    m = t.members.c
    registered = or_(*[and_(m.create_time >= start, m.create_time < end) for start, end in ranges])
    due = due_in_zone(uow.tenant, zone, ANNIVERSARY, str(year), registered, batch)
    inserted = await claim_programme_runs(uow.session, due)
    if not inserted:
        return 0
    # the tenant's reward (UpdateProgrammeSettings), or the deployment's without a row
    rewards = await tenant_rewards(
        uow.session,
        uow.tenant,
        ProgrammeRewards(
            anniversary_points=settings.points, anniversary_voucher_template=settings.voucher_template_id
        ),
    )
    reward = replace(
        settings, points=rewards.anniversary_points, voucher_template_id=rewards.anniversary_voucher_template
    ).reward()
    local_year = extract("year", func.timezone(zone, m.create_time))
    rows = await uow.session.execute(
        select(m.member_id, m.home_store_id, local_year).where(
            m.tenant_id == uow.tenant, m.member_id.in_(inserted)
        )
    )
    for member_id, store_id, registered_year in rows:
        uow.emit(
            events_pb2.MembershipAnniversaryDue(
                member=f"members/{member_id}",
                year=year,
                years=year - int(registered_year),
                store=f"stores/{store_id}",
                reward=reward,
            ),
            aggregate_type="member",
            aggregate_id=member_id,
        )
    log.info("members.anniversaries_due", tenant=uow.tenant, time_zone=zone, year=year, members=len(inserted))
    return len(inserted)


class AnniversaryWorker(PeriodicWorker):
    """Runs the anniversary programme every minute on every replica (the key makes that safe)."""

    name = "anniversary-programme"

    def __init__(
        self, engine, uows, settings: AnniversarySettings, *, interval_s: float = 60.0, batch: int = BATCH
    ):
        super().__init__(interval_s=interval_s)
        self._engine, self._uows, self._settings, self._batch = engine, uows, settings, batch

    async def tick(self) -> int:
        return await run_anniversaries(
            self._engine, self._uows, datetime.now(UTC), self._settings, batch=self._batch
        )
