"""Campaigns (营销活动): a message, and optionally points, to every member of a saved segment.

- Created ``scheduled`` (start now or later, never in the past); ``validate_only`` is the dry run:
  the segment counted now and the SMS cost estimated, nothing written.
- The worker (``run_campaigns(now)``, every replica) starts due campaigns — the segment evaluated
  once, its members inserted into ``campaign_recipients`` in one statement — and then sends each
  running campaign's next ``throttle_per_minute`` pending recipients at most once a minute. The
  campaign row is locked ``FOR UPDATE SKIP LOCKED``, so replicas share campaigns, never a batch;
  a recipient's status changes together with its ``CampaignMessageDue`` in one transaction, so a
  crash (SIGKILL) re-does the batch and nobody gets two messages or two rewards.
- At send time a recipient no longer active (erased, deactivated) is suppressed ``INACTIVE``;
  one with no marketing channel consented ``NO_CONSENT``. Notify applies the rest of its
  marketing policy (channel consent, quiet hours, caps, spend cap) per message; the wallet grants
  ``reward_points`` once per (campaign, member).
- Over the tenant's cost threshold a campaign is created ``pending_approval`` and the worker never
  picks it until approved; ``holdout_percent`` of the recipients are held out at the start
  (never sent). Both live in ``campaign_approval.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from peony.members.v1 import events_pb2
from peony.members.v1 import segment_pb2 as sgpb
from sqlalchemy import Integer, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.crypto import PiiCipher
from kit.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters import segment_tables as sg
from services.members.adapters import spend_tables as st
from services.members.adapters import tables as t
from services.members.adapters.segment_query import SegmentQuery, SegmentRepository
from services.members.service_layer import campaign_approval as approval
from services.members.service_layer import campaign_rewards
from services.members.service_layer.segments import (
    CONSENT_FLAGS,
    SegmentReads,
    criteria_from_filter,
    resolve_references,
    segment_name,
)
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.campaigns")

SCHEDULED, RUNNING, PAUSED, COMPLETED, CANCELLED = "scheduled", "running", "paused", "completed", "cancelled"
PENDING, SENT, SUPPRESSED = "pending", "sent", "suppressed"
NO_CONSENT, INACTIVE = "NO_CONSENT", "INACTIVE"

MAX_BODY = 500
MAX_DISPLAY_NAME = 200
MAX_REWARD_POINTS = 100_000
MIN_THROTTLE, MAX_THROTTLE, DEFAULT_THROTTLE = 1, 10_000, 100
CLOCK_SKEW = timedelta(minutes=1)  # a start "now" from a client whose clock is a little behind
SEND_INTERVAL = timedelta(minutes=1)  # the throttle's unit
MAX_START_AHEAD = timedelta(days=366)
SMS_SEGMENT_CHARS = 70  # one SMS; a longer text is sent in 67-character parts
SMS_PART_CHARS = 67
DEFAULT_SMS_PRICE_MINOR = 5  # 0.05 CNY per SMS part, a typical domestic price
TEMPLATE_VARIABLES = frozenset({"member.display_name", "event.points", "event.campaign_name"})
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_MARKETING_FLAGS = tuple(CONSENT_FLAGS.values())


def campaign_name(campaign_id: str) -> str:
    return f"campaigns/{campaign_id}"


@dataclass
class CampaignDraft:
    display_name: str
    segment_id: str
    message_body: str
    reward_points: int
    start_time: datetime | None
    throttle_per_minute: int
    # a voucher and/or free sessions beyond the points (campaign_rewards.py)
    reward: campaign_rewards.RewardDraft = field(default_factory=campaign_rewards.RewardDraft)
    reward_voucher_template: str = ""  # the name as given, for its length check
    holdout_percent: int = 0


def template_problems(body: str, path: str) -> list[tuple[str, str]]:
    """The body is plain text with ``{{ variable }}`` placeholders of TEMPLATE_VARIABLES only;
    no other template syntax (notify renders it in a sandbox, but members refuses it up front)."""
    problems = []
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(body)} - TEMPLATE_VARIABLES)
    if unknown:
        problems.append((path, f"unknown variables {unknown}; use {', '.join(sorted(TEMPLATE_VARIABLES))}"))
    rest = _PLACEHOLDER.sub("", body)
    if any(token in rest for token in ("{{", "}}", "{%", "%}", "{#", "#}")):
        problems.append((path, "only {{ variable }} placeholders are allowed"))
    return problems


def sms_parts(body: str) -> int:
    return 1 if len(body) <= SMS_SEGMENT_CHARS else math.ceil(len(body) / SMS_PART_CHARS)


def validate_draft(d: CampaignDraft, now: datetime) -> None:
    v = Violations()
    if not d.display_name.strip():
        v.add("campaign.display_name", "is required")
    elif len(d.display_name) > MAX_DISPLAY_NAME:
        v.add("campaign.display_name", f"must be at most {MAX_DISPLAY_NAME} characters")
    if not d.message_body.strip():
        v.add("campaign.message_body", "is required")
    elif len(d.message_body) > MAX_BODY:
        v.add("campaign.message_body", f"must be at most {MAX_BODY} characters")
    else:
        for path, problem in template_problems(d.message_body, "campaign.message_body"):
            v.add(path, problem)
    if not 0 <= d.reward_points <= MAX_REWARD_POINTS:
        v.add("campaign.reward_points", f"must be between 0 and {MAX_REWARD_POINTS}")
    campaign_rewards.validate_reward(v, d.reward, d.reward_voucher_template)
    if not 0 <= d.holdout_percent <= approval.MAX_HOLDOUT_PERCENT:
        v.add("campaign.holdout_percent", f"must be between 0 and {approval.MAX_HOLDOUT_PERCENT}")
    if not MIN_THROTTLE <= d.throttle_per_minute <= MAX_THROTTLE:
        v.add("campaign.throttle_per_minute", f"must be between {MIN_THROTTLE} and {MAX_THROTTLE}")
    if d.start_time is not None:
        if d.start_time < now - CLOCK_SKEW:
            v.add("campaign.start_time", "must not be in the past")
        elif d.start_time > now + MAX_START_AHEAD:
            v.add("campaign.start_time", "must be within a year")
    v.raise_if_any()


@dataclass(frozen=True)
class Estimate:
    member_count: int
    sms_cost_minor: int


async def estimate(
    reads: SegmentReads, caller: Principal, d: CampaignDraft, sms_price_minor: int
) -> Estimate:
    """The dry run: the segment counted now (NOT_FOUND for an unknown segment) and the cost if
    every message went by SMS."""
    count = await reads.count(caller, d.segment_id, None, datetime.now(UTC))
    return Estimate(count, count * sms_parts(d.message_body) * sms_price_minor)


async def create_campaign(
    uow: MembersUnitOfWork,
    caller: Principal,
    campaign_id: str,
    d: CampaignDraft,
    est: Estimate,
    now: datetime,
) -> dict:
    caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
    # the segment must still exist in this transaction (it cannot be deleted today, but the
    # reference is checked where the row is written)
    if await SegmentRepository(uow.session, caller.tenant).get(d.segment_id) is None:
        raise NotFound(f"{segment_name(d.segment_id)} not found", reason="SEGMENT_NOT_FOUND")
    settings = await approval.get_settings(uow.session, caller.tenant)
    row = (
        await uow.session.execute(
            pg_insert(sg.campaigns)
            .values(
                tenant_id=caller.tenant,
                campaign_id=campaign_id,
                display_name=d.display_name.strip(),
                segment_id=d.segment_id,
                message_body=d.message_body,
                reward_points=d.reward_points,
                start_time=d.start_time or now,
                throttle_per_minute=d.throttle_per_minute,
                state=approval.initial_state(est.sms_cost_minor, settings, SCHEDULED),
                holdout_percent=d.holdout_percent,
                created_by=caller.subject,
                estimated_member_count=est.member_count,
                estimated_sms_cost_minor=est.sms_cost_minor,
                **campaign_rewards.columns(d.reward),
            )
            .on_conflict_do_nothing()
            .returning(*sg.campaigns.c)
        )
    ).first()
    if row is None:
        raise AlreadyExists(f"{campaign_name(campaign_id)} already exists", reason="CAMPAIGN_EXISTS")
    return dict(row._mapping)


async def get_campaign(db, tenant: str, campaign_id: str, *, lock: bool = False) -> dict:
    c = sg.campaigns.c
    stmt = select(sg.campaigns).where(c.tenant_id == tenant, c.campaign_id == campaign_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await db.execute(stmt)).first()
    if row is None:
        raise NotFound(f"{campaign_name(campaign_id)} not found", reason="CAMPAIGN_NOT_FOUND")
    return dict(row._mapping)


async def list_campaigns(db, tenant: str, *, limit: int, after: str | None) -> list[dict]:
    c = sg.campaigns.c
    clauses = [c.tenant_id == tenant]
    if after:
        clauses.append(c.campaign_id > after)
    rows = await db.execute(select(sg.campaigns).where(*clauses).order_by(c.campaign_id).limit(limit))
    return [dict(r._mapping) for r in rows]


# State changes: (allowed from, reason code when not allowed)
_TRANSITIONS = {
    "pause": ({SCHEDULED, RUNNING}, "CAMPAIGN_NOT_PAUSABLE"),
    "resume": ({PAUSED}, "CAMPAIGN_NOT_PAUSED"),
    "cancel": ({SCHEDULED, RUNNING, PAUSED, approval.PENDING_APPROVAL}, "CAMPAIGN_FINISHED"),
}


async def change_state(uow: MembersUnitOfWork, caller: Principal, campaign_id: str, action: str) -> dict:
    caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
    row = await get_campaign(uow.session, caller.tenant, campaign_id, lock=True)
    allowed, reason = _TRANSITIONS[action]
    if row["state"] not in allowed:
        raise FailedPrecondition(f"the campaign is {row['state']}: cannot {action} it", reason=reason)
    if action == "pause":
        new_state = PAUSED
    elif action == "resume":
        new_state = RUNNING if row["started_at"] is not None else SCHEDULED
    else:
        new_state = CANCELLED
    c = sg.campaigns.c
    updated = (
        await uow.session.execute(
            sg.campaigns.update()
            .where(c.tenant_id == caller.tenant, c.campaign_id == campaign_id)
            .values(state=new_state)
            .returning(*sg.campaigns.c)
        )
    ).first()
    log.info("members.campaign_state", tenant=caller.tenant, campaign_id=campaign_id, state=new_state)
    return dict(updated._mapping)


# --- the worker ---------------------------------------------------------------------------------
async def run_campaigns(
    engine: AsyncEngine,
    uows: UnitOfWorkFactory[MembersUnitOfWork],
    cipher: PiiCipher,
    now: datetime,
    *,
    send_interval: timedelta = SEND_INTERVAL,
) -> int:
    """Starts the due campaigns and sends one throttled batch of each running campaign whose
    minute has come; returns the recipients handled (sent or suppressed)."""
    c = sg.campaigns.c
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(c.tenant_id, c.campaign_id).where(
                    ((c.state == SCHEDULED) & (c.start_time <= now))
                    | ((c.state == RUNNING) & (c.next_send_at <= now))
                )
            )
        ).all()
    handled = 0
    for tenant, campaign_id in due:
        try:
            handled += await uows.run(
                tenant, lambda uow, cid=campaign_id: _step(uow, cipher, cid, now, send_interval)
            )
        except Exception:
            # one campaign's failure must not hold up the others; its batch is retried next tick
            log.exception("members.campaign_step_failed", tenant=tenant, campaign_id=campaign_id)
    return handled


async def _step(
    uow: MembersUnitOfWork, cipher: PiiCipher, campaign_id: str, now: datetime, send_interval: timedelta
) -> int:
    c = sg.campaigns.c
    row = (
        await uow.session.execute(
            select(sg.campaigns)
            .where(c.tenant_id == uow.tenant, c.campaign_id == campaign_id)
            .with_for_update(skip_locked=True)  # another replica has it: it is that one's turn
        )
    ).first()
    if row is None:
        return 0
    campaign = dict(row._mapping)
    if campaign["state"] == SCHEDULED and campaign["start_time"] <= now:
        await _start(uow, cipher, campaign, now)
        campaign["state"] = RUNNING
        campaign["next_send_at"] = now
    if campaign["state"] != RUNNING or campaign["next_send_at"] > now:
        return 0
    return await _send_batch(uow, campaign, now, send_interval)


async def _start(uow: MembersUnitOfWork, cipher: PiiCipher, campaign: dict, now: datetime) -> None:
    """Materialises the recipients: the segment evaluated now, in one INSERT … SELECT."""
    tenant, campaign_id = uow.tenant, campaign["campaign_id"]
    saved = await SegmentRepository(uow.session, tenant).get(campaign["segment_id"])
    targeted = 0
    if saved is not None:
        criteria = criteria_from_filter(sgpb.SegmentFilter.FromString(saved.filter), now)
        await resolve_references(uow.session, tenant, criteria)
        source, clauses = SegmentQuery(uow.session, tenant, cipher).plan(criteria)
        m = t.members.c
        members = (
            select(literal(tenant), literal(campaign_id), m.member_id).select_from(source).where(*clauses)
        )
        targeted = len(
            (
                await uow.session.execute(
                    pg_insert(sg.campaign_recipients)
                    .from_select(["tenant_id", "campaign_id", "member_id"], members)
                    .on_conflict_do_nothing()
                    .returning(sg.campaign_recipients.c.member_id)
                )
            ).all()
        )
    held_out = await approval.hold_out(uow, campaign, targeted, PENDING)
    c = sg.campaigns.c
    await uow.session.execute(
        sg.campaigns.update()
        .where(c.tenant_id == tenant, c.campaign_id == campaign_id)
        .values(
            state=RUNNING, started_at=now, next_send_at=now, targeted_count=targeted, holdout_count=held_out
        )
    )
    uow.emit(
        events_pb2.CampaignStarted(
            campaign=campaign_name(campaign_id),
            segment=segment_name(campaign["segment_id"]),
            targeted_count=targeted,
        ),
        aggregate_type="campaign",
        aggregate_id=campaign_id,
    )
    log.info("members.campaign_started", tenant=tenant, campaign_id=campaign_id, targeted=targeted)


async def _send_batch(uow: MembersUnitOfWork, campaign: dict, now: datetime, send_interval: timedelta) -> int:
    tenant, campaign_id = uow.tenant, campaign["campaign_id"]
    r, m = sg.campaign_recipients.c, t.members.c
    batch = (
        await uow.session.execute(
            select(r.member_id, m.state, m.consent, m.home_store_id)
            .select_from(
                sg.campaign_recipients.outerjoin(
                    t.members, (m.tenant_id == r.tenant_id) & (m.member_id == r.member_id)
                )
            )
            .where(r.tenant_id == tenant, r.campaign_id == campaign_id, r.status == PENDING)
            .order_by(r.member_id)
            .limit(campaign["throttle_per_minute"])
            .with_for_update(of=sg.campaign_recipients)
        )
    ).all()
    sent: list[str] = []
    suppressed: dict[str, list[str]] = {NO_CONSENT: [], INACTIVE: []}
    for member_id, state, consent, store_id in batch:
        if state != "active":
            suppressed[INACTIVE].append(member_id)
        elif not any((consent or {}).get(flag) for flag in _MARKETING_FLAGS):
            suppressed[NO_CONSENT].append(member_id)
        else:
            sent.append(member_id)
            uow.emit(
                events_pb2.CampaignMessageDue(
                    campaign=campaign_name(campaign_id),
                    member=f"members/{member_id}",
                    body=campaign["message_body"],
                    points=campaign["reward_points"],
                    campaign_name=campaign["display_name"],
                    store=f"stores/{store_id}" if store_id else "",
                    reward=campaign_rewards.reward_message(campaign),
                ),
                aggregate_type="member",
                aggregate_id=member_id,
            )
    mark = sg.campaign_recipients.update().where(r.tenant_id == tenant, r.campaign_id == campaign_id)
    if sent:
        await uow.session.execute(mark.where(r.member_id.in_(sent)).values(status=SENT, sent_at=now))
    for reason, ids in suppressed.items():
        if ids:
            await uow.session.execute(
                mark.where(r.member_id.in_(ids)).values(status=SUPPRESSED, suppression_reason=reason)
            )
    remaining = await uow.session.scalar(
        select(func.count())
        .select_from(sg.campaign_recipients)
        .where(r.tenant_id == tenant, r.campaign_id == campaign_id, r.status == PENDING)
    )
    c = sg.campaigns.c
    counts = (
        await uow.session.execute(
            sg.campaigns.update()
            .where(c.tenant_id == tenant, c.campaign_id == campaign_id)
            .values(
                sent_count=c.sent_count + len(sent),
                suppressed_no_consent_count=c.suppressed_no_consent_count + len(suppressed[NO_CONSENT]),
                suppressed_inactive_count=c.suppressed_inactive_count + len(suppressed[INACTIVE]),
                next_send_at=now + send_interval,
                state=COMPLETED if not remaining else RUNNING,
            )
            .returning(c.sent_count, c.suppressed_no_consent_count, c.suppressed_inactive_count)
        )
    ).one()
    if not remaining:
        uow.emit(
            events_pb2.CampaignCompleted(
                campaign=campaign_name(campaign_id),
                sent_count=counts.sent_count,
                suppressed_no_consent_count=counts.suppressed_no_consent_count,
                suppressed_inactive_count=counts.suppressed_inactive_count,
            ),
            aggregate_type="campaign",
            aggregate_id=campaign_id,
        )
    return len(batch)


class CampaignWorker(PeriodicWorker):
    """Runs ``run_campaigns`` with the wall clock on every replica (SKIP LOCKED shares the work)."""

    name = "campaigns"

    def __init__(
        self, engine, uows, cipher, *, interval_s: float = 5.0, send_interval: timedelta = SEND_INTERVAL
    ):
        super().__init__(interval_s=interval_s)
        self._engine, self._uows, self._cipher = engine, uows, cipher
        self._send_interval = send_interval

    async def tick(self) -> int:
        return await run_campaigns(
            self._engine, self._uows, self._cipher, datetime.now(UTC), send_interval=self._send_interval
        )


def sms_price_from_env(env) -> int:
    """``PEONY_MEMBERS_SMS_PRICE_MINOR``: the price of one SMS part in fen (default 5), for the
    dry run's cost estimate."""
    raw = env.get("PEONY_MEMBERS_SMS_PRICE_MINOR", str(DEFAULT_SMS_PRICE_MINOR))
    if not raw.isdigit() or int(raw) > 10_000:
        raise ValueError(f"PEONY_MEMBERS_SMS_PRICE_MINOR must be 0-10000 (fen), got {raw!r}")
    return int(raw)


# --- attribution --------------------------------------------------------------------------------
DEFAULT_ATTRIBUTION_DAYS = 30
MAX_ATTRIBUTION_DAYS = 365


@dataclass(frozen=True)
class CampaignResults:
    window_days: int
    recipients_sent: int
    rewards_granted: int
    members_visited: int
    visits: int
    spend_minor: int
    holdout: approval.HoldoutResults = field(default_factory=approval.HoldoutResults)


async def campaign_results(db, tenant: str, campaign_id: str, window_days: int) -> CampaignResults:
    """Visits and spend of the campaign's recipients in (sent_at, sent_at + window], from
    ``member_spend`` (the wallet's checkouts and refunds as members projects them), in one
    statement driven by the recipients' primary key and ``ix_member_spend_member``."""
    campaign = await get_campaign(db, tenant, campaign_id)
    r, s = sg.campaign_recipients.c, st.member_spend.c
    window = timedelta(days=window_days)
    sent = (
        select(r.member_id, r.sent_at)
        .where(r.tenant_id == tenant, r.campaign_id == campaign_id, r.status == SENT)
        .subquery("sent")
    )
    visit = cast(s.visit, Integer) - cast(s.full_refund, Integer)
    row = (
        await db.execute(
            select(
                func.count(func.distinct(sent.c.member_id)),
                func.count(func.distinct(s.member_id)).filter(s.visit),
                func.coalesce(func.sum(visit), 0),
                func.coalesce(func.sum(s.qualifying_spend_minor), 0),
            ).select_from(
                sent.outerjoin(
                    st.member_spend,
                    and_(
                        s.tenant_id == tenant,
                        s.member_id == sent.c.member_id,
                        s.occurred_at > sent.c.sent_at,
                        s.occurred_at <= sent.c.sent_at + window,
                    ),
                )
            )
        )
    ).one()
    recipients, visited, visits, spend = (int(x or 0) for x in row)
    return CampaignResults(
        window_days=window_days,
        recipients_sent=recipients,
        rewards_granted=recipients if _has_reward(campaign) else 0,
        members_visited=visited,
        visits=visits,
        spend_minor=spend,
        holdout=await approval.holdout_results(db, tenant, campaign, window_days),
    )


def _has_reward(campaign: dict) -> bool:
    return campaign["reward_points"] > 0 or campaign_rewards.reward_message(campaign) is not None


def throttle_window_from_env(env) -> timedelta:
    """``PEONY_MEMBERS_CAMPAIGN_THROTTLE_WINDOW_SECONDS``: the throttle's unit (default 60: a
    campaign's throttle is recipients per minute). Only tests and demos shorten it."""
    raw = env.get("PEONY_MEMBERS_CAMPAIGN_THROTTLE_WINDOW_SECONDS", "60")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 3600:
        raise ValueError(f"PEONY_MEMBERS_CAMPAIGN_THROTTLE_WINDOW_SECONDS must be 0.1-3600, got {raw!r}")
    return timedelta(seconds=seconds)
