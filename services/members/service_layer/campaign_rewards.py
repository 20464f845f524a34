"""A campaign's reward beyond points (a voucher of a wallet template, free sessions of a service),
and what became of it (refusals, redemptions).

- Validation: the template is ``voucherTemplates/{id}`` and is checked with the wallet over gRPC
  at ``CreateCampaign`` (unknown → NOT_FOUND, deactivated → FAILED_PRECONDITION, nothing written);
  free sessions are ``services/{id}``, 1..100 sessions, valid 1..3660 days (default 90).
- Sending: each ``CampaignMessageDue`` carries the reward (``ProgrammeReward``); the wallet grants
  it once per (campaign, member) by its ``programme_grants`` key.
- Progress: the wallet's ``ProgrammeRewardSettled`` (programme ``campaign``) records the voucher
  and card granted (``campaign_rewards``) and counts a refused voucher on the campaign
  (``rewards_refused_count``: the template was deactivated after creation; final).
- Attribution: ``VoucherRedeemed`` and ``PackageSessionConsumed`` land in ``campaign_reward_uses``;
  the results count the uses of this campaign's vouchers and cards within each recipient's window.
  A refund that gives them back (``VoucherRestored``, ``PackageSessionsRestored`` naming the
  checkout) lands there as a negative use dated like the use it undoes: the count goes back down,
  once per restoring event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from peony.members.v1 import events_pb2
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit.errors import Violations
from kit.ids import is_resource_id, parse_name
from services.members.adapters import campaign_reward_tables as crt
from services.members.adapters import segment_tables as sg

MAX_FREE_SESSIONS = 100
MAX_VALID_DAYS = 3660
DEFAULT_VALID_DAYS = 90
MAX_TEMPLATE_NAME = 200
MAX_SERVICE_NAME = 100
_SERVICE_ID = re.compile(r"[!-.0-~]{1,64}")  # as the wallet accepts a service id


@dataclass(frozen=True)
class RewardDraft:
    voucher_template_id: str = ""
    free_service: str = ""  # services/{id}
    free_sessions: int = 0
    free_sessions_valid_days: int = 0


def reward_draft(voucher_template: str, free_service: str, sessions: int, valid_days: int) -> RewardDraft:
    """The draft as given (validated by :func:`validate_reward`); the default validity applied."""
    template_id = ""
    if voucher_template:
        template_id = parse_name(voucher_template, "voucherTemplates") or "\x00"  # \x00: malformed
    if (free_service or sessions) and not valid_days:
        valid_days = DEFAULT_VALID_DAYS
    return RewardDraft(template_id, free_service, sessions, valid_days)


def validate_reward(v: Violations, d: RewardDraft, template_name: str) -> None:
    if d.voucher_template_id and (
        len(template_name) > MAX_TEMPLATE_NAME or not is_resource_id(d.voucher_template_id)
    ):
        v.add(
            "campaign.reward_voucher_template", "must be voucherTemplates/{template} (at most 200 characters)"
        )
    if d.free_service or d.free_sessions:
        if len(d.free_service) > MAX_SERVICE_NAME or not _SERVICE_ID.fullmatch(
            parse_name(d.free_service, "services") or ""
        ):
            v.add("campaign.reward_free_service", "must be services/{service} (at most 100 characters)")
        if not 1 <= d.free_sessions <= MAX_FREE_SESSIONS:
            v.add("campaign.reward_free_sessions", f"must be between 1 and {MAX_FREE_SESSIONS}")
        if not 1 <= d.free_sessions_valid_days <= MAX_VALID_DAYS:
            v.add("campaign.reward_free_sessions_valid_days", f"must be between 1 and {MAX_VALID_DAYS}")
    elif d.free_sessions_valid_days:
        v.add("campaign.reward_free_sessions_valid_days", "only with reward_free_sessions")


def columns(d: RewardDraft) -> dict:
    """The campaign row's reward columns."""
    return {
        "reward_voucher_template_id": d.voucher_template_id or None,
        "reward_free_service": d.free_service or None,
        "reward_free_sessions": d.free_sessions,
        "reward_free_sessions_valid_days": d.free_sessions_valid_days,
    }


def reward_message(campaign: dict) -> events_pb2.ProgrammeReward | None:
    """The ``ProgrammeReward`` a recipient's ``CampaignMessageDue`` carries (None: points only)."""
    template = campaign.get("reward_voucher_template_id")
    sessions = campaign.get("reward_free_sessions") or 0
    if not template and not sessions:
        return None
    return events_pb2.ProgrammeReward(
        points=campaign["reward_points"],
        voucher_template=f"voucherTemplates/{template}" if template else "",
        free_service=campaign.get("reward_free_service") or "",
        free_sessions=sessions,
        free_sessions_valid_days=campaign.get("reward_free_sessions_valid_days") or 0,
    )


# --- projections of the wallet's events ---------------------------------------------------------
async def record_settled(session, tenant: str, event, member_id: str) -> None:
    """A ``ProgrammeRewardSettled``: the campaign's voucher / card, or a refused voucher."""
    if event.programme != "campaign" or not event.period:
        return
    campaign_id = event.period
    granted = []
    if event.voucher:
        granted.append((crt.VOUCHER, event.voucher.rsplit("/", 1)[-1]))
    if event.package:
        granted.append((crt.PACKAGE, event.package.rsplit("/", 1)[-1]))
    for kind, reward_id in granted:
        await session.execute(
            pg_insert(crt.campaign_rewards)
            .values(
                tenant_id=tenant, kind=kind, reward_id=reward_id, campaign_id=campaign_id, member_id=member_id
            )
            .on_conflict_do_nothing()
        )
    if event.refused_reason:
        c = sg.campaigns.c
        await session.execute(
            sg.campaigns.update()
            .where(c.tenant_id == tenant, c.campaign_id == campaign_id)
            .values(rewards_refused_count=c.rewards_refused_count + 1)
        )


async def record_use(
    session,
    tenant: str,
    event_id: str,
    kind: str,
    reward_id: str,
    member_id: str,
    sessions: int,
    at: datetime,
    *,
    checkout: str = "",
) -> None:
    """A voucher redeemed or sessions of a card used (any voucher or card: joined with the
    campaign's at query time). The event id keys it: a redelivery counts once."""
    await session.execute(
        pg_insert(crt.campaign_reward_uses)
        .values(
            tenant_id=tenant,
            event_id=event_id,
            kind=kind,
            reward_id=reward_id,
            member_id=member_id,
            sessions=sessions,
            occurred_at=at,
            checkout=checkout or None,
        )
        .on_conflict_do_nothing()
    )


async def record_restore(
    session,
    tenant: str,
    event_id: str,
    kind: str,
    reward_id: str,
    member_id: str,
    sessions: int,
    at: datetime,
    *,
    checkout: str = "",
) -> None:
    """A refund gave back a voucher or sessions a checkout had used: a use of ``-sessions``, keyed
    by the restoring event's id (a redelivery un-counts once). It is dated like the use it undoes
    (the same voucher or card and checkout), so it cancels that use in whichever attribution
    window the use fell; with no such use known (events from before the checkout was recorded)
    it is dated at the restore."""
    u = crt.campaign_reward_uses.c
    undone = (
        await session.scalar(
            select(u.occurred_at)
            .where(
                u.tenant_id == tenant,
                u.kind == kind,
                u.reward_id == reward_id,
                u.sessions > 0,
                u.checkout == checkout,
            )
            .order_by(u.occurred_at.desc())
            .limit(1)
        )
        if checkout
        else None
    )
    await record_use(
        session, tenant, event_id, kind, reward_id, member_id, -sessions, undone or at, checkout=checkout
    )


@dataclass(frozen=True)
class Redemptions:
    vouchers_redeemed: int
    free_sessions_used: int


async def redemptions(db, tenant: str, campaign_id: str, window_days: int) -> Redemptions:
    """Uses of the campaign's vouchers and cards in (sent_at, sent_at + window] of each recipient."""
    w, u, r = crt.campaign_rewards.c, crt.campaign_reward_uses.c, sg.campaign_recipients.c
    window = timedelta(days=window_days)
    rows = await db.execute(
        select(w.kind, func.coalesce(func.sum(u.sessions), 0))
        .select_from(
            crt.campaign_rewards.join(
                sg.campaign_recipients,
                and_(r.tenant_id == w.tenant_id, r.campaign_id == w.campaign_id, r.member_id == w.member_id),
            ).join(
                crt.campaign_reward_uses,
                and_(
                    u.tenant_id == w.tenant_id,
                    u.kind == w.kind,
                    u.reward_id == w.reward_id,
                    u.occurred_at > r.sent_at,
                    u.occurred_at <= r.sent_at + window,
                ),
            )
        )
        .where(w.tenant_id == tenant, w.campaign_id == campaign_id)
        .group_by(w.kind)
    )
    totals = {kind: int(total) for kind, total in rows}
    return Redemptions(totals.get(crt.VOUCHER, 0), totals.get(crt.PACKAGE, 0))
