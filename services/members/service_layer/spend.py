"""Qualifying spend (本金消费) from the wallet's checkouts: tier upgrades and referral rewards.

Runs inside the wallet-events consumer's transaction (inbox row, spend rows, tier change, outbox
rows commit together or not at all). Per event:

1. lock the member row (every spend change of one member is serialised, and so is the order of
   the member's outbox rows);
2. record the checkout (+qualifying spend, one visit) or the refund (-qualifying spend); the
   primary key of ``member_spend`` makes a checkout, and each refund of it, count once;
3. on a checkout: qualifying spend and visits over the ladder's rolling window ending now; when
   they qualify for a tier ranked above the current one, upgrade at once (``TierChanged``). Never
   downgrade here: downgrades belong to the anniversary job;
4. on a checkout of a referred member: when the cumulative (all-time, net of refunds) qualifying
   spend reaches the tenant's threshold, a ``referral_rewards`` row (unique per referee) and
   ``ReferralRewardEarned`` — exactly once per referee, whatever happens to the spend afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from google.protobuf.message import Message
from peony.members.v1 import events_pb2, tier_pb2
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.ids import parse_path
from kit.logging import get_logger
from kit.uow import UnitOfWork
from services.members.adapters import spend_tables as st
from services.members.adapters import tables as t
from services.members.adapters.referral_repository import ReferralSettingsRepository
from services.members.adapters.repository import SettingsRepository, TierChangeRepository
from services.members.domain.referral import ReferralTerms
from services.members.domain.tiers import TierLadder
from services.members.service_layer.handlers import benefits_message, member_name

SERVICE = "members"
SYSTEM_ACTOR = "system"
UPGRADE_REASON = "qualifying spend"
# TierChanged.reason_code of an upgrade, by the measure that reached the tier
UPGRADE_REASON_CODES = {
    "spend": tier_pb2.TIER_CHANGE_REASON_UPGRADE_SPEND,
    "points": tier_pb2.TIER_CHANGE_REASON_UPGRADE_POINTS,
    "visits": tier_pb2.TIER_CHANGE_REASON_UPGRADE_VISITS,
}

log = get_logger("peony.members.spend")


class InvalidWalletEvent(ValueError):
    """The event cannot be applied (malformed resource name); retried, then dead-lettered."""


def resource_id(name: str, template: str, field: str) -> str:
    """The last id of ``name`` read with a ``kit.ids.parse_path`` template, e.g. ``checkouts/{id}``
    -> the checkout id, ``checkouts/{id}/refunds/{id}`` -> the refund id."""
    ids = parse_path(name, template)
    if not ids:
        raise InvalidWalletEvent(f"{field} {name!r} is not a {template} name")
    return ids[-1]


def member_uuid(name: str) -> str:
    return resource_id(name, "members/{uuid}", "member")


@dataclass(frozen=True)
class LockedMember:
    member_id: str
    tier_id: str
    referrer_id: str | None
    state: str


class WindowTotals(NamedTuple):
    """What a member qualifies on over the ladder's rolling window."""

    spend_minor: int = 0
    visits: int = 0
    points: int = 0  # earned at checkouts, net of refunds' clawbacks


@dataclass(frozen=True)
class SpendOutcome:
    recorded: bool
    upgraded_to: str | None = None
    referral_reward: bool = False


class SpendBook:
    """Spend rows and everything decided from them, for one tenant, on the consumer's session.

    Events go through a unit of work joined to that session's transaction: ``commit()`` writes
    them to the outbox, and the consumer commits them with the inbox row and the spend rows."""

    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant
        self.uow = UnitOfWork.joined(session, service=SERVICE, tenant=tenant)

    # ------------------------------------------------------------------ reads / writes
    async def lock_member(self, member_id: str) -> LockedMember | None:
        m = t.members.c
        row = (
            await self.session.execute(
                select(m.member_id, m.tier_id, m.referrer_id, m.state)
                .where(m.tenant_id == self.tenant, m.member_id == member_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return LockedMember(row.member_id, row.tier_id, row.referrer_id, row.state)

    async def record(self, **values) -> bool:
        """Insert one spend row; False when that checkout (or refund) is already recorded."""
        stmt = (
            pg_insert(st.member_spend)
            .values(tenant_id=self.tenant, **values)
            .on_conflict_do_nothing(constraint="pk_member_spend")
            .returning(st.member_spend.c.checkout_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def checked_out(self, member_id: str, at: datetime) -> None:
        """``members.last_checkout_at`` moves forward to ``at`` (segments' window pre-filter)."""
        m = t.members.c
        await self.session.execute(
            t.members.update()
            .where(m.tenant_id == self.tenant, m.member_id == member_id)
            .values(last_checkout_at=func.greatest(m.last_checkout_at, at))
        )

    async def checkout_time(self, checkout_id: str) -> datetime | None:
        s = st.member_spend.c
        return await self.session.scalar(
            select(s.occurred_at).where(
                s.tenant_id == self.tenant, s.checkout_id == checkout_id, s.refund_id == ""
            )
        )

    async def window_totals(self, member_id: str, window_days: int) -> WindowTotals:
        """(qualifying spend, visits, points earned) over the rolling ``window_days`` ending now."""
        return (await self.window_totals_of([member_id], window_days)).get(member_id, WindowTotals())

    async def window_totals_of(self, member_ids: list[str], window_days: int) -> dict[str, WindowTotals]:
        """:meth:`window_totals` of several members in one query (members with no spend are absent)."""
        if not member_ids:
            return {}
        s = st.member_spend.c
        refunds = st.member_spend.alias("r")
        fully_refunded = exists().where(
            refunds.c.tenant_id == s.tenant_id,
            refunds.c.checkout_id == s.checkout_id,
            refunds.c.kind == st.REFUND,
            refunds.c.full_refund,
        )
        since = func.now() - timedelta(days=window_days)
        rows = await self.session.execute(
            select(
                s.member_id,
                func.coalesce(func.sum(s.qualifying_spend_minor), 0).label("spend"),
                func.coalesce(func.sum(s.qualifying_points), 0).label("points"),
                func.count(func.distinct(case((and_(s.visit, ~fully_refunded), s.checkout_id)))).label(
                    "visits"
                ),
            )
            .where(s.tenant_id == self.tenant, s.member_id.in_(member_ids), s.occurred_at > since)
            .group_by(s.member_id)
        )
        return {
            r.member_id: WindowTotals(max(int(r.spend), 0), int(r.visits), max(int(r.points), 0))
            for r in rows
        }

    async def lifetime_spend(self, member_id: str) -> int:
        s = st.member_spend.c
        total = await self.session.scalar(
            select(func.coalesce(func.sum(s.qualifying_spend_minor), 0)).where(
                s.tenant_id == self.tenant, s.member_id == member_id
            )
        )
        return int(total or 0)

    async def referral_terms(self) -> ReferralTerms:
        return (await ReferralSettingsRepository(self.session, self.tenant).get())[0]

    async def has_referral_reward(self, referee_id: str) -> bool:
        r = st.referral_rewards.c
        found = await self.session.scalar(
            select(r.referee_id).where(r.tenant_id == self.tenant, r.referee_id == referee_id)
        )
        return found is not None

    async def add_referral_reward(self, **values) -> bool:
        stmt = (
            pg_insert(st.referral_rewards)
            .values(tenant_id=self.tenant, **values)
            .on_conflict_do_nothing(constraint="pk_referral_rewards")
            .returning(st.referral_rewards.c.referee_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    def emit(self, event: Message, member_id: str) -> None:
        """A member event (the members invalidator evicts its caches), written on ``commit()``."""
        self.uow.emit(event, aggregate_type="member", aggregate_id=member_id)

    async def commit(self) -> None:
        """The emitted events into the outbox, in the consumer's transaction (which commits them)."""
        await self.uow.commit()

    # ------------------------------------------------------------------ decisions
    async def upgrade_if_qualified(self, member: LockedMember, ladder: TierLadder) -> str | None:
        spend, visits, points = await self.window_totals(member.member_id, ladder.qualification_window_days)
        target = ladder.qualifying_tier(spend_minor=spend, visits=visits, points=points)
        current = (
            ladder.get(member.tier_id) or ladder.entry_tier
        )  # a tier gone from the ladder ranks as entry
        if target.rank <= current.rank:
            return None
        reason_code = UPGRADE_REASON_CODES.get(
            ladder.qualified_by(target, spend_minor=spend, visits=visits, points=points),
            tier_pb2.TIER_CHANGE_REASON_UPGRADE_SPEND,
        )
        await TierChangeRepository(self.session, self.tenant).move_member(
            member_id=member.member_id,
            from_tier_id=member.tier_id,
            to_tier_id=target.tier_id,
            reason=UPGRADE_REASON,
            reason_code=reason_code,
            actor=SYSTEM_ACTOR,
        )
        self.emit(
            events_pb2.TierChanged(
                member=member_name(member.member_id),
                from_tier_id=member.tier_id,
                to_tier_id=target.tier_id,
                reason=UPGRADE_REASON,
                reason_code=reason_code,
                staff_override=False,
                benefits=benefits_message(target.benefits),
            ),
            member.member_id,
        )
        log.info(
            "members.tier_upgraded",
            tenant=self.tenant,
            member_id=member.member_id,
            from_tier=member.tier_id,
            to_tier=target.tier_id,
            window_spend_minor=spend,
            visits=visits,
            points=points,
        )
        return target.tier_id

    async def reward_referral_if_reached(
        self, member: LockedMember, checkout_id: str, currency_code: str
    ) -> bool:
        if not member.referrer_id or await self.has_referral_reward(member.member_id):
            return False
        terms = await self.referral_terms()
        threshold = terms.threshold_minor
        total = await self.lifetime_spend(member.member_id)
        if total < threshold:
            return False
        if not await self.add_referral_reward(
            referee_id=member.member_id,
            referrer_id=member.referrer_id,
            qualifying_spend_minor=total,
            threshold_minor=threshold,
            currency_code=currency_code,
            checkout_id=checkout_id,
        ):
            return False
        self.emit(
            events_pb2.ReferralRewardEarned(
                referrer=member_name(member.referrer_id),
                referee=member_name(member.member_id),
                qualifying_spend_minor=total,
                currency_code=currency_code,
                # the terms as they are now: a later settings change does not alter this reward
                terms_included=True,
                referrer_voucher_minor=terms.referrer_voucher_minor,
                voucher_valid_days=terms.voucher_valid_days,
                referrer_points=terms.referrer_points,
                referee_points=terms.referee_points,
            ),
            member.member_id,
        )
        log.info(
            "members.referral_reward_earned",
            tenant=self.tenant,
            referee=member.member_id,
            referrer=member.referrer_id,
            qualifying_spend_minor=total,
        )
        return True


# ---------------------------------------------------------------------- entry points
async def record_checkout(
    book: SpendBook,
    *,
    event_id: str,
    member: str,
    checkout: str,
    store: str,
    qualifying_spend_minor: int,
    currency_code: str,
    occurred_at: datetime,
    points_earned: int = 0,
) -> SpendOutcome:
    """A completed checkout: +spend, +points earned, one visit; then upgrade and referral checks."""
    if not member:
        return SpendOutcome(recorded=False)  # a walk-in: nobody to qualify
    member_id = member_uuid(member)
    checkout_id = resource_id(checkout, "checkouts/{id}", "checkout")
    locked = await book.lock_member(member_id)
    if locked is None:
        log.warning("members.spend_for_unknown_member", tenant=book.tenant, member=member, checkout=checkout)
        return SpendOutcome(recorded=False)
    ladder = await SettingsRepository(book.session, book.tenant).ladder()
    currency = currency_code or ladder.currency_code
    recorded = await book.record(
        checkout_id=checkout_id,
        refund_id="",
        member_id=member_id,
        kind=st.CHECKOUT,
        qualifying_spend_minor=max(qualifying_spend_minor, 0),
        qualifying_points=max(points_earned, 0),
        visit=True,
        full_refund=False,
        store_id=resource_id(store, "stores/{id}", "store") if store else "",
        currency_code=currency,
        occurred_at=occurred_at,
        event_id=event_id,
    )
    if not recorded:
        return SpendOutcome(recorded=False)  # the same checkout under another event id
    await book.checked_out(member_id, occurred_at)
    upgraded = None
    if locked.state == "active":
        upgraded = await book.upgrade_if_qualified(locked, ladder)
    rewarded = await book.reward_referral_if_reached(locked, checkout_id, currency)
    await book.commit()
    return SpendOutcome(recorded=True, upgraded_to=upgraded, referral_reward=rewarded)


async def record_refund(
    book: SpendBook,
    *,
    event_id: str,
    member: str,
    checkout: str,
    refund: str,
    store: str,
    qualifying_spend_minor: int,
    full: bool,
    currency_code: str,
    occurred_at: datetime,
    points_clawed_back: int = 0,
) -> SpendOutcome:
    """A refund: -spend, -points clawed back, dated at its checkout so it cancels inside the same
    window. No downgrade."""
    if not member:
        return SpendOutcome(recorded=False)
    member_id = member_uuid(member)
    checkout_id = resource_id(checkout, "checkouts/{id}", "checkout")
    refund_id = resource_id(refund, "checkouts/{id}/refunds/{id}", "refund") if refund else event_id
    if await book.lock_member(member_id) is None:
        log.warning("members.refund_for_unknown_member", tenant=book.tenant, member=member, checkout=checkout)
        return SpendOutcome(recorded=False)
    counted_at = await book.checkout_time(checkout_id) or occurred_at
    recorded = await book.record(
        checkout_id=checkout_id,
        refund_id=refund_id,
        member_id=member_id,
        kind=st.REFUND,
        qualifying_spend_minor=-abs(qualifying_spend_minor),
        qualifying_points=-abs(points_clawed_back),
        visit=False,
        full_refund=full,
        store_id=resource_id(store, "stores/{id}", "store") if store else "",
        currency_code=currency_code,
        occurred_at=counted_at,
        event_id=event_id,
    )
    return SpendOutcome(recorded=recorded)
