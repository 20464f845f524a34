"""The referral reward (推荐有礼): members' ReferralRewardEarned → points for both members and a
voucher for the referrer, by the terms the event carries (the tenant's `ReferralSettings` when it
was earned; the defaults, 200 points each and ¥50 for 90 days, for older events), in the
consumer's transaction.

Exactly once per referee: the kit inbox drops a redelivered event (same event id), and a row
keyed by the referee (``referral_rewards``) drops a second event for the same referee (e.g. the
producer published the fact twice). The events the reward causes (PointsEarned twice,
VoucherIssued) go to the wallet's outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, unpack
from services.wallet.service_layer import rewards
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

log = get_logger("peony.wallet.referral")

SERVICE = "wallet"
REFERRAL_DURABLE = "wallet-referral-rewards"
REFERRAL_STREAM_SERVICE = "members"
REFERRAL_SUBJECT = "peony.members.ReferralRewardEarned"


class InvalidReferralEvent(ValueError):
    """An event we can never apply (dead-lettered after the retries)."""


def _member_id(envelope: EventEnvelope, name: str, field: str) -> str:
    try:
        return str(uuid.UUID(parse_name(name, "members") or ""))
    except ValueError:
        raise InvalidReferralEvent(
            f"ReferralRewardEarned {envelope.event_id}: bad {field} {name!r}"
        ) from None


# Bounds of the terms an event may carry (members validates them on `UpdateReferralSettings`;
# an event beyond them is refused rather than granted).
MAX_VOUCHER_MINOR = 10_000_000
MAX_VALID_DAYS = 3660
MAX_POINTS = 10_000_000


def terms_of(event: members_events.ReferralRewardEarned) -> rewards.ReferralTerms:
    """The terms the event carries, or the defaults for an event written before it carried them."""
    if not event.terms_included:
        return rewards.DEFAULT_REFERRAL_TERMS
    if not (
        0 <= event.referrer_voucher_minor <= MAX_VOUCHER_MINOR
        and 1 <= event.voucher_valid_days <= MAX_VALID_DAYS
        and 0 <= event.referrer_points <= MAX_POINTS
        and 0 <= event.referee_points <= MAX_POINTS
    ):
        raise InvalidReferralEvent("ReferralRewardEarned carries terms out of bounds")
    return rewards.ReferralTerms(
        referrer_voucher_minor=event.referrer_voucher_minor,
        voucher_valid_days=event.voucher_valid_days,
        referrer_points=event.referrer_points,
        referee_points=event.referee_points,
    )


def referral_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidReferralEvent(f"event {envelope.event_id} has no tenant")
        event = unpack(envelope, members_events.ReferralRewardEarned)
        referrer = _member_id(envelope, event.referrer, "referrer")
        referee = _member_id(envelope, event.referee, "referee")
        if referrer == referee:
            log.warning("wallet.self_referral_ignored", event_id=envelope.event_id, member_id=referrer)
            return
        uow = WalletUnitOfWork.joined(session, service=SERVICE, tenant=envelope.tenant)
        granted = await rewards.grant_referral_reward(
            uow, referrer_id=referrer, referee_id=referee, event_id=envelope.event_id, terms=terms_of(event)
        )
        if not granted:
            log.info("wallet.referral_already_rewarded", event_id=envelope.event_id, referee=referee)
            return
        await uow.commit()  # the reward's events into the outbox; the consumer commits

    return handle


def referral_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The wallet's durable consumer of ReferralRewardEarned (``options`` go to ``EventConsumer``)."""
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=REFERRAL_DURABLE,
        stream_service=REFERRAL_STREAM_SERVICE,
        subjects=[REFERRAL_SUBJECT],
        handler=referral_handler(),
        **options,
    )
