"""Campaign approval (院长/HQ 审批) over a cost threshold, and holdout (control) groups.

Approval:
- Each tenant has an approval threshold (``campaign_settings``; default ¥500 = 50000 fen). A
  campaign whose dry-run cost (``estimated_sms_cost_minor``) is above it is created
  ``pending_approval``; the worker never picks that state, so nothing is sent.
- ``ApproveCampaign`` (permission ``members.campaigns.approve``: HQ admin) moves it to
  ``scheduled`` — never by its creator (PERMISSION_DENIED ``SELF_APPROVAL``: the point of a
  second pair of eyes). ``RejectCampaign`` (same permission, a reason) moves it to ``rejected``,
  which nothing leaves. Who and when are recorded on the campaign row and logged.

Holdout:
- ``holdout_percent`` (0..50) of the recipients, chosen when the campaign starts, in the same
  transaction as the recipients are materialised: those whose md5("{campaign}:{member}") sorts
  first, floor(recipients * percent / 100) of them. Deterministic (a retried start picks the same
  members, and anyone can recompute it) and independent of member ids' order. Their status is
  ``holdout``: the sender only takes ``pending`` recipients, so they get no message and no reward.
- Their attribution is measured like the sent recipients', from the campaign's start time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, Text, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Violations
from kit.logging import get_logger
from services.members.adapters import segment_tables as sg
from services.members.adapters import spend_tables as st
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.campaign_approval")

PENDING_APPROVAL, REJECTED = "pending_approval", "rejected"
HOLDOUT = "holdout"
DEFAULT_APPROVAL_THRESHOLD_MINOR = 50_000  # ¥500
MAX_APPROVAL_THRESHOLD_MINOR = 100_000_000  # ¥1,000,000
MAX_HOLDOUT_PERCENT = 50
MAX_REJECTION_REASON = 500
SETTINGS_NAME = "campaignSettings"


@dataclass(frozen=True)
class CampaignSettings:
    approval_threshold_minor: int = DEFAULT_APPROVAL_THRESHOLD_MINOR
    update_time: datetime | None = None


async def get_settings(db, tenant: str) -> CampaignSettings:
    c = sg.campaign_settings.c
    row = (
        await db.execute(select(c.approval_threshold_minor, c.update_time).where(c.tenant_id == tenant))
    ).first()
    return CampaignSettings(row.approval_threshold_minor, row.update_time) if row else CampaignSettings()


def validate_threshold(value: int, path: str = "campaign_settings.approval_threshold_minor") -> None:
    if not 0 <= value <= MAX_APPROVAL_THRESHOLD_MINOR:
        raise InvalidArgument([(path, f"must be between 0 and {MAX_APPROVAL_THRESHOLD_MINOR}")])


async def update_settings(
    uow: MembersUnitOfWork, caller: Principal, threshold_minor: int
) -> CampaignSettings:
    caller.require(auth.MEMBERS_CAMPAIGNS_APPROVE)
    validate_threshold(threshold_minor)
    c = sg.campaign_settings.c
    stmt = pg_insert(sg.campaign_settings).values(
        tenant_id=caller.tenant, approval_threshold_minor=threshold_minor
    )
    stmt = stmt.on_conflict_do_update(
        constraint="pk_campaign_settings",
        set_={"approval_threshold_minor": stmt.excluded.approval_threshold_minor, "update_time": func.now()},
    ).returning(c.approval_threshold_minor, c.update_time)
    row = (await uow.session.execute(stmt)).one()
    log.info(
        "members.campaign_settings_updated",
        tenant=caller.tenant,
        by=caller.subject,
        threshold=threshold_minor,
    )
    return CampaignSettings(row.approval_threshold_minor, row.update_time)


def initial_state(estimated_cost_minor: int, settings: CampaignSettings, scheduled: str) -> str:
    """A campaign over the threshold waits for approval; at or under it, it is scheduled."""
    return PENDING_APPROVAL if estimated_cost_minor > settings.approval_threshold_minor else scheduled


async def review(
    uow: MembersUnitOfWork,
    caller: Principal,
    campaign: dict,
    *,
    approve: bool,
    scheduled: str,
    reason: str = "",
    now: datetime,
) -> dict:
    """Approves (→ ``scheduled``) or rejects (→ ``rejected``) a campaign waiting for approval;
    ``campaign`` is its row, read under a lock."""
    caller.require(auth.MEMBERS_CAMPAIGNS_APPROVE)
    if campaign["state"] != PENDING_APPROVAL:
        raise FailedPrecondition(
            f"the campaign is {campaign['state']}, not waiting for approval",
            reason="CAMPAIGN_NOT_PENDING_APPROVAL",
        )
    if approve and campaign["created_by"] == caller.subject:
        raise PermissionDenied(
            "a campaign is approved by someone other than its creator", reason="SELF_APPROVAL"
        )
    c = sg.campaigns.c
    values = {"reviewed_by": caller.subject, "reviewed_at": now}
    if approve:
        values["state"] = scheduled
    else:
        values.update(state=REJECTED, rejection_reason=reason)
    row = (
        await uow.session.execute(
            sg.campaigns.update()
            .where(c.tenant_id == caller.tenant, c.campaign_id == campaign["campaign_id"])
            .values(**values)
            .returning(*sg.campaigns.c)
        )
    ).one()
    log.info(
        "members.campaign_reviewed",
        tenant=caller.tenant,
        campaign_id=campaign["campaign_id"],
        approved=approve,
        reviewer=caller.subject,
    )
    return dict(row._mapping)


def validate_rejection_reason(reason: str) -> None:
    v = Violations()
    if not reason.strip():
        v.add("reason", "is required")
    elif len(reason) > MAX_REJECTION_REASON:
        v.add("reason", f"must be at most {MAX_REJECTION_REASON} characters")
    v.raise_if_any()


def holdout_key(campaign_id: str, member_id):
    """The sort key choosing the holdout: md5 of "{campaign id}:{member id}" (hex)."""
    return func.md5(literal(campaign_id) + literal(":") + cast(member_id, Text))


async def hold_out(uow: MembersUnitOfWork, campaign: dict, targeted: int, pending: str) -> int:
    """Marks the campaign's holdout among its just-materialised recipients; returns its size."""
    size = targeted * campaign["holdout_percent"] // 100
    if size == 0:
        return 0
    r = sg.campaign_recipients.c
    tenant, campaign_id = uow.tenant, campaign["campaign_id"]
    chosen = (
        select(r.member_id)
        .where(r.tenant_id == tenant, r.campaign_id == campaign_id, r.status == pending)
        .order_by(holdout_key(campaign_id, r.member_id))
        .limit(size)
    )
    held = await uow.session.execute(
        sg.campaign_recipients.update()
        .where(r.tenant_id == tenant, r.campaign_id == campaign_id, r.member_id.in_(chosen))
        .values(status=HOLDOUT)
        .returning(r.member_id)
    )
    return len(held.all())


@dataclass(frozen=True)
class HoldoutResults:
    members: int = 0
    members_visited: int = 0
    visits: int = 0
    spend_minor: int = 0


async def holdout_results(db, tenant: str, campaign: dict, window_days: int) -> HoldoutResults:
    """What the holdout did in (start, start + window] — the same figures as for the sent."""
    started = campaign["started_at"]
    if started is None or not campaign["holdout_count"]:
        return HoldoutResults()
    r, s = sg.campaign_recipients.c, st.member_spend.c
    held = (
        select(r.member_id)
        .where(r.tenant_id == tenant, r.campaign_id == campaign["campaign_id"], r.status == HOLDOUT)
        .subquery("held")
    )
    visit = cast(s.visit, Integer) - cast(s.full_refund, Integer)
    row = (
        await db.execute(
            select(
                func.count(func.distinct(held.c.member_id)),
                func.count(func.distinct(s.member_id)).filter(s.visit),
                func.coalesce(func.sum(visit), 0),
                func.coalesce(func.sum(s.qualifying_spend_minor), 0),
            ).select_from(
                held.outerjoin(
                    st.member_spend,
                    and_(
                        s.tenant_id == tenant,
                        s.member_id == held.c.member_id,
                        s.occurred_at > started,
                        s.occurred_at <= started + timedelta(days=window_days),
                    ),
                )
            )
        )
    ).one()
    return HoldoutResults(*(int(x or 0) for x in row))
