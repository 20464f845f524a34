"""The birthday programme (生日关怀): once per member per year, at a store-local time of day.

Rules (domain.md §5a):
- due on the birthday (or ``days_ahead`` days before it) once the member's home store's local
  time reaches ``local_time`` (default 09:00); a 29 February birthday is due on 28 February in a
  year without one (``domain.segments.birthday_days_in_window``);
- exactly once per member and year: a ``programme_runs`` row keyed (programme, member, year) is
  inserted with the ``BirthdayBenefitDue`` event in one transaction (``INSERT … ON CONFLICT DO
  NOTHING RETURNING``): replicas racing on the same member, a re-run, or a crash between batches
  can never emit a second one;
- the benefit (``birthday_benefit``): the tenant's tier ladder sets each tier's birthday points and
  voucher template (``TierBenefits.birthday_points`` / ``birthday_voucher_template``, via
  ``UpdateTierLadder``); unset, Peony's defaults apply (points ``BIRTHDAY_POINTS``, vouchers of
  ``PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES``). The wallet grants them exactly once per member and
  year by its own key; notify sends the greeting (``birthday_greeting``, marketing).

The programme is a function of "now" (``run_birthdays(now)``) so tests control time; the worker
calls it with the wall clock. A member whose birthday passed while the job was not running at all
(the whole day) is not caught up the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from peony.members.v1 import events_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.crypto import PiiCipher
from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters import tables as t
from services.members.adapters.programme_runs import claim_programme_runs, due_in_zone
from services.members.adapters.repository import MemberCodec
from services.members.domain.segments import birthday_days_in_window
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.birthday")

BIRTHDAY = "birthday"
# The tier's birthday benefit in points. domain.md's tier table names no amount; these are
# Peony's defaults (a tier missing here, e.g. a custom one, gets the entry tier's).
BIRTHDAY_POINTS = {"regular": 100, "silver": 200, "gold": 300, "platinum": 500, "diamond": 800}
DEFAULT_POINTS = BIRTHDAY_POINTS["regular"]
BATCH = 500


@dataclass(frozen=True)
class BirthdaySettings:
    """``PEONY_MEMBERS_BIRTHDAY_TIME`` (HH:MM store-local, default 09:00) and
    ``PEONY_MEMBERS_BIRTHDAY_DAYS_AHEAD`` (0-30, default 0)."""

    local_time: time = time(9, 0)
    days_ahead: int = 0
    # ``PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES``: the tiers whose birthday benefit includes a
    # voucher, ``tier=template`` pairs like ``gold=bday-gold,diamond=bday-diamond`` (default none)
    voucher_templates: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env) -> BirthdaySettings:
        raw_time = env.get("PEONY_MEMBERS_BIRTHDAY_TIME", "09:00")
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw_time):
            raise ValueError(f"PEONY_MEMBERS_BIRTHDAY_TIME must be HH:MM, got {raw_time!r}")
        raw_days = env.get("PEONY_MEMBERS_BIRTHDAY_DAYS_AHEAD", "0")
        if not raw_days.isdigit() or int(raw_days) > 30:
            raise ValueError(f"PEONY_MEMBERS_BIRTHDAY_DAYS_AHEAD must be 0-30, got {raw_days!r}")
        raw_vouchers = env.get("PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES", "") or ""
        pair = r"[a-z0-9_-]{1,40}=[a-z0-9][a-z0-9-]{0,62}"  # tier=template id (the kit.ids rule)
        if raw_vouchers and not re.fullmatch(rf"{pair}(,{pair}){{0,19}}", raw_vouchers):
            raise ValueError(
                "PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES must be tier=template pairs like"
                f" gold=bday-gold,diamond=bday-diamond, got {raw_vouchers!r}"
            )
        vouchers = tuple(tuple(p.split("=", 1)) for p in raw_vouchers.split(",")) if raw_vouchers else ()
        hours, minutes = raw_time.split(":")
        return cls(time(int(hours), int(minutes)), int(raw_days), vouchers)  # type: ignore[arg-type]


async def run_birthdays(
    engine: AsyncEngine,
    uows: UnitOfWorkFactory[MembersUnitOfWork],
    cipher: PiiCipher,
    now: datetime,
    settings: BirthdaySettings = BirthdaySettings(),
    *,
    batch: int = BATCH,
) -> int:
    """Every birthday due at ``now`` that has not run yet; returns how many ran."""
    async with engine.connect() as conn:
        zones = (await conn.execute(select(t.stores.c.tenant_id, t.stores.c.time_zone).distinct())).all()
    ran = 0
    for tenant, zone in zones:
        local = now.astimezone(ZoneInfo(zone))
        if local.time() < settings.local_time:
            continue
        birthday = local.date() + timedelta(days=settings.days_ahead)
        codec = MemberCodec(tenant, cipher)
        indexes = sorted(codec.birthday_index(md) for md in birthday_days_in_window(birthday, 1))
        while True:
            done = await uows.run(
                tenant,
                lambda uow, z=zone, y=birthday.year, ix=indexes: _batch(
                    uow, z, y, ix, batch, dict(settings.voucher_templates)
                ),
            )
            ran += done
            if done < batch:
                break
    return ran


async def _batch(
    uow: MembersUnitOfWork,
    zone: str,
    year: int,
    indexes: list[bytes],
    batch: int,
    vouchers: dict[str, str] | None = None,
) -> int:
    m = t.members.c
    due = due_in_zone(uow.tenant, zone, BIRTHDAY, str(year), m.birthday_md_bidx.in_(indexes), batch)
    inserted = await claim_programme_runs(uow.session, due)
    if not inserted:
        return 0
    rows = await uow.session.execute(
        select(m.member_id, m.tier_id, m.home_store_id).where(
            m.tenant_id == uow.tenant, m.member_id.in_(inserted)
        )
    )
    ladder = await uow.settings.ladder()
    for member_id, tier_id, store_id in rows:
        points, template = birthday_benefit(ladder, tier_id, vouchers or {})
        uow.emit(
            events_pb2.BirthdayBenefitDue(
                member=f"members/{member_id}",
                year=year,
                tier_id=tier_id,
                points=points,
                store=f"stores/{store_id}",
                # a voucher too: the wallet grants this reward (points included) instead
                reward=events_pb2.ProgrammeReward(
                    points=points, voucher_template=f"voucherTemplates/{template}"
                )
                if template
                else None,
            ),
            aggregate_type="member",
            aggregate_id=member_id,
        )
    log.info("members.birthdays_due", tenant=uow.tenant, time_zone=zone, year=year, members=len(inserted))
    return len(inserted)


def birthday_benefit(ladder, tier_id: str, deployment_vouchers: dict[str, str]) -> tuple[int, str]:
    """(points, voucher template id or "") of a tier: the tenant's ladder (``TierBenefits``
    ``birthday_points`` / ``birthday_voucher_template``) first, else Peony's defaults
    (``BIRTHDAY_POINTS``, ``PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES``)."""
    tier = ladder.get(tier_id)
    benefits = tier.benefits if tier is not None else None
    points = BIRTHDAY_POINTS.get(tier_id, DEFAULT_POINTS)
    if benefits is not None and benefits.birthday_points is not None:
        points = benefits.birthday_points
    template = (
        benefits.birthday_voucher_template_id if benefits is not None else ""
    ) or deployment_vouchers.get(tier_id, "")
    return points, template


async def backfill_birthday_indexes(engine: AsyncEngine, cipher: PiiCipher, *, limit: int = 1000) -> int:
    """Fills ``birthday_md_bidx`` of up to ``limit`` members saved before it existed (migration
    0007); returns how many were filled. Rows another replica is filling are skipped (SKIP LOCKED)."""
    m = t.members.c
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(m.tenant_id, m.member_id, m.dek_wrapped, m.birthday_ct)
                # an erased member's data key is gone: nothing to read (and nothing to send)
                .where(m.birthday_ct.is_not(None), m.birthday_md_bidx.is_(None), m.dek_wrapped.is_not(None))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        filled = 0
        for tenant, member_id, dek_wrapped, birthday_ct in rows:
            try:
                index = MemberCodec(tenant, cipher).birthday_index_of_row(member_id, dek_wrapped, birthday_ct)
            except Exception:  # one unreadable row must not stop the others; it stays unindexed
                log.exception("members.birthday_backfill_failed", tenant=tenant, member_id=member_id)
                continue
            await conn.execute(
                t.members.update()
                .where(m.tenant_id == tenant, m.member_id == member_id)
                .values(birthday_md_bidx=index)
            )
            filled += 1
    return filled


class BirthdayWorker(PeriodicWorker):
    """Runs the birthday programme every minute on every replica (the key makes that safe)."""

    name = "birthday-programme"

    def __init__(self, engine, uows, cipher, settings: BirthdaySettings, *, interval_s: float = 60.0):
        super().__init__(interval_s=interval_s)
        self._engine, self._uows, self._cipher, self._settings = engine, uows, cipher, settings

    async def tick(self) -> int:
        from datetime import UTC

        await backfill_birthday_indexes(self._engine, self._cipher)
        return await run_birthdays(self._engine, self._uows, self._cipher, datetime.now(UTC), self._settings)
