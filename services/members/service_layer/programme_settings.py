"""The tenant's programme settings (``ProgrammeSettings``): what the membership anniversary grants
(points and / or a voucher), the lapse (流失) thresholds and which voucher comes with the lapse
message.

- Stored per tenant in ``programme_settings`` and changed with ``UpdateProgrammeSettings``
  (``update_mask``, permission ``tiers.manage`` as the referral terms: the loyalty programme's
  rules). A tenant without a row gets the deployment's environment defaults
  (``PEONY_MEMBERS_ANNIVERSARY_POINTS`` / ``_VOUCHER_TEMPLATE``,
  ``PEONY_MEMBERS_LAPSE_DAYS``, ``PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE``); the first update copies
  them into its row.
- Bounds: anniversary points 0..100000; a voucher template is ``voucherTemplates/{id}`` that the
  wallet knows and that is active (checked with the wallet before anything is written), or empty
  for none; lapse thresholds 1 to 5 distinct day counts 1..3650, stored ascending.
- The jobs read the row of the tenant they run for at each batch: an update applies from the next
  anniversary / lapse on; events already written keep the reward they carry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit import auth
from kit.auth import Principal
from kit.errors import Violations
from kit.ids import is_resource_id
from kit.logging import get_logger
from services.members.adapters import segment_tables as sg

log = get_logger("peony.members.programme_settings")

SETTINGS_NAME = "programmeSettings"
MAX_ANNIVERSARY_POINTS = 100_000
MAX_TEMPLATE_NAME = 200
TEMPLATE_FIELDS = ("anniversary_voucher_template", "lapse_voucher_template")
MAX_LAPSE_THRESHOLDS = 5
MAX_LAPSE_DAYS = 3650
MUTABLE = ("anniversary_points", *TEMPLATE_FIELDS, "lapse_days")


@dataclass(frozen=True)
class ProgrammeRewards:
    anniversary_points: int = 100
    anniversary_voucher_template: str = ""  # a template id, "" for none
    lapse_voucher_template: str = ""
    lapse_days: tuple[int, ...] = (60, 90)  # ascending
    update_time: datetime | None = None  # None: the environment defaults

    def validate(self, prefix: str = "programme_settings") -> None:
        v = Violations()
        if not 0 <= self.anniversary_points <= MAX_ANNIVERSARY_POINTS:
            v.add(f"{prefix}.anniversary_points", f"must be within 0..{MAX_ANNIVERSARY_POINTS}")
        for name in TEMPLATE_FIELDS:
            template_id = getattr(self, name)
            if template_id and not is_resource_id(template_id):
                v.add(f"{prefix}.{name}", "must be voucherTemplates/{template} or empty")
        days = self.lapse_days
        if not 1 <= len(days) <= MAX_LAPSE_THRESHOLDS or len(set(days)) != len(days):
            v.add(f"{prefix}.lapse_days", f"must be 1 to {MAX_LAPSE_THRESHOLDS} distinct day counts")
        elif any(not 1 <= d <= MAX_LAPSE_DAYS for d in days):
            v.add(f"{prefix}.lapse_days", f"each must be within 1..{MAX_LAPSE_DAYS}")
        v.raise_if_any()


def defaults_from(anniversary, lapse) -> ProgrammeRewards:
    """The deployment's defaults: an ``AnniversarySettings`` and a ``LapseSettings``."""
    return ProgrammeRewards(
        anniversary.points, anniversary.voucher_template_id, lapse.voucher_template_id, lapse.thresholds
    )


async def tenant_rewards(
    db, tenant: str, defaults: ProgrammeRewards, *, for_update: bool = False
) -> ProgrammeRewards:
    c = sg.programme_settings.c
    stmt = select(sg.programme_settings).where(c.tenant_id == tenant)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await db.execute(stmt)).first()
    if row is None:
        return defaults
    return ProgrammeRewards(
        int(row.anniversary_points),
        row.anniversary_voucher_template_id,
        row.lapse_voucher_template_id,
        tuple(row.lapse_days) if row.lapse_days is not None else defaults.lapse_days,
        row.update_time,
    )


async def update_rewards(
    uow, caller: Principal, patch: ProgrammeRewards, paths: list[str], defaults: ProgrammeRewards
) -> ProgrammeRewards:
    """Applies ``paths`` of ``patch`` to the tenant's settings (validated, templates checked by
    the caller with the wallet beforehand) in one upsert under the row's lock."""
    caller.require(auth.TIERS_MANAGE)
    current = await tenant_rewards(uow.session, uow.tenant, defaults, for_update=True)
    updated = replace(current, **{p: getattr(patch, p) for p in paths})
    updated.validate()
    updated = replace(updated, lapse_days=tuple(sorted(updated.lapse_days)))
    values = {
        "anniversary_points": updated.anniversary_points,
        "anniversary_voucher_template_id": updated.anniversary_voucher_template,
        "lapse_voucher_template_id": updated.lapse_voucher_template,
        "lapse_days": list(updated.lapse_days),
    }
    table = sg.programme_settings
    stmt = pg_insert(table).values(tenant_id=uow.tenant, **values)
    stmt = stmt.on_conflict_do_update(
        constraint="pk_programme_settings", set_={**values, "update_time": func.now()}
    ).returning(table.c.update_time)
    update_time = (await uow.session.execute(stmt)).scalar_one()
    log.info("members.programme_settings_updated", tenant=uow.tenant, by=caller.subject, fields=paths)
    return replace(updated, update_time=update_time)
