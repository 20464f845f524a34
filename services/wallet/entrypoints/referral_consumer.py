"""The referral reward (推荐有礼): members' ReferralRewardEarned → points for both members and a ¥50
voucher for the referrer, in the consumer's transaction.

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
        voucher = await rewards.grant_referral_reward(
            uow, referrer_id=referrer, referee_id=referee, event_id=envelope.event_id
        )
        if voucher is None:
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
