"""Engagement programme rewards, in the consumer's transaction: members' ``BirthdayBenefitDue`` →
the birthday reward; ``MembershipAnniversaryDue`` → the anniversary reward (key ``anniversary``,
member, year); ``MemberLapsed`` with a reward → the re-engagement voucher (key ``lapse_<days>``,
member, episode); ``CampaignMessageDue`` → a campaign's reward (points of source ``activity``, a
voucher, free sessions), once per (campaign, member). All three go through one grant path,
``service_layer.programme_rewards.grant_programme_reward`` (``programme_grants`` row first).

Exactly once per member and year: the kit inbox drops a redelivered event, and
``programme_grants`` (keyed by programme, member, year) drops the same fact published again. The
grant is a ledger transaction like any other points grant (source ``birthday``); its
``PointsEarned`` and a ``BirthdayRewardGranted`` go to the wallet's outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, unpack
from services.wallet.service_layer import programme_rewards as pr
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

log = get_logger("peony.wallet.programmes")

SERVICE = "wallet"
PROGRAMME_DURABLE = "wallet-programme-rewards"
PROGRAMME_STREAM_SERVICE = "members"
BIRTHDAY_SUBJECT = "peony.members.BirthdayBenefitDue"
BIRTHDAY = "birthday"
CAMPAIGN_SUBJECT = "peony.members.CampaignMessageDue"
CAMPAIGN = "campaign"
CAMPAIGN_GRANT_SOURCE = "activity"  # a marketing activity's points, like manual activity grants
ANNIVERSARY_SUBJECT = "peony.members.MembershipAnniversaryDue"
ANNIVERSARY = "anniversary"
ANNIVERSARY_GRANT_SOURCE = "activity"
LAPSE_SUBJECT = "peony.members.MemberLapsed"
LAPSE_GRANT_SOURCE = "activity"


class InvalidProgrammeEvent(ValueError):
    """An event we can never apply (dead-lettered after the retries)."""


def programme_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidProgrammeEvent(f"event {envelope.event_id} has no tenant")
        if envelope.event_type == members_events.CampaignMessageDue.DESCRIPTOR.full_name:
            await _grant_campaign_reward(session, envelope)
        elif envelope.event_type == members_events.MembershipAnniversaryDue.DESCRIPTOR.full_name:
            await _grant_anniversary_reward(session, envelope)
        elif envelope.event_type == members_events.MemberLapsed.DESCRIPTOR.full_name:
            await _grant_lapse_reward(session, envelope)
        else:
            await _grant_birthday_reward(session, envelope)

    return handle


def _member_of(event, envelope: EventEnvelope) -> str:
    try:
        return str(uuid.UUID(parse_name(event.member, "members") or ""))
    except ValueError:
        raise InvalidProgrammeEvent(f"{type(event).__name__} {envelope.event_id}: bad member") from None


def _reward_of(event, envelope: EventEnvelope, legacy_points: int = 0) -> pr.Reward:
    try:
        return pr.Reward.of(event.reward if event.HasField("reward") else None, legacy_points)
    except pr.InvalidReward as exc:
        raise InvalidProgrammeEvent(f"{type(event).__name__} {envelope.event_id}: {exc}") from None


async def _grant(session: AsyncSession, envelope: EventEnvelope, event, member_id: str, **grant):
    """Grants a programme's reward in the consumer's transaction; the grant's events go to the
    outbox (the consumer commits). None when this (programme, member, period) was granted before."""
    uow = WalletUnitOfWork.joined(session, service=SERVICE, tenant=envelope.tenant)
    granted = await pr.grant_programme_reward(
        uow,
        member_id=member_id,
        event_id=envelope.event_id,
        store_id=parse_name(event.store, "stores") or "",
        **grant,
    )
    return uow, granted


async def _grant_birthday_reward(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = unpack(envelope, members_events.BirthdayBenefitDue)
    member_id = _member_of(event, envelope)
    if not 1900 <= event.year <= 9999 or event.points < 0:
        raise InvalidProgrammeEvent(f"BirthdayBenefitDue {envelope.event_id}: bad year or points")
    reward = _reward_of(event, envelope, event.points)
    uow, granted = await _grant(
        session,
        envelope,
        event,
        member_id,
        programme=BIRTHDAY,
        period=str(event.year),
        reward=reward,
        points_source=BIRTHDAY,
        label=f"birthday {event.year}",
    )
    if granted is None:
        return
    transaction = (
        f"members/{member_id}/transactions/{granted.points_transaction_id}"
        if granted.points_transaction_id
        else ""
    )
    uow.emit(
        wallet_events.BirthdayRewardGranted(
            member=event.member, year=event.year, points=reward.points, transaction=transaction
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    await uow.commit()  # the grant's events into the outbox; the consumer commits


async def _grant_anniversary_reward(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = unpack(envelope, members_events.MembershipAnniversaryDue)
    member_id = _member_of(event, envelope)
    if not 1900 <= event.year <= 9999:
        raise InvalidProgrammeEvent(f"MembershipAnniversaryDue {envelope.event_id}: bad year")
    reward = _reward_of(event, envelope)
    uow, granted = await _grant(
        session,
        envelope,
        event,
        member_id,
        programme=ANNIVERSARY,
        period=str(event.year),
        reward=reward,
        points_source=ANNIVERSARY_GRANT_SOURCE,
        label=f"membership anniversary {event.year}",
    )
    if granted is not None:
        await uow.commit()


async def _grant_lapse_reward(session: AsyncSession, envelope: EventEnvelope) -> None:
    """The re-engagement voucher of a lapse message, once per (threshold, member, episode)."""
    event = unpack(envelope, members_events.MemberLapsed)
    if not event.HasField("reward"):
        return  # no reward configured: a message only
    member_id = _member_of(event, envelope)
    if not 1 <= event.days <= 3650 or not event.episode or len(event.episode) > 32:
        raise InvalidProgrammeEvent(f"MemberLapsed {envelope.event_id}: bad threshold or episode")
    reward = _reward_of(event, envelope)
    uow, granted = await _grant(
        session,
        envelope,
        event,
        member_id,
        programme=f"lapse_{event.days}",
        period=event.episode,
        reward=reward,
        points_source=LAPSE_GRANT_SOURCE,
        label=f"welcome back ({event.days} days)",
    )
    if granted is not None:
        await uow.commit()


async def _grant_campaign_reward(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = unpack(envelope, members_events.CampaignMessageDue)
    member_id = _member_of(event, envelope)
    campaign_id = parse_name(event.campaign, "campaigns")
    if not campaign_id or event.points < 0:
        raise InvalidProgrammeEvent(f"CampaignMessageDue {envelope.event_id}: bad campaign or points")
    reward = _reward_of(event, envelope, event.points)
    uow, granted = await _grant(
        session,
        envelope,
        event,
        member_id,
        programme=CAMPAIGN,
        period=campaign_id,
        reward=reward,
        points_source=CAMPAIGN_GRANT_SOURCE,
        label=f"campaign {campaign_id}",
    )
    if granted is not None:
        await uow.commit()  # the grant's events into the outbox; the consumer commits


def programme_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The wallet's durable consumer of the members' programme events."""
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=PROGRAMME_DURABLE,
        stream_service=PROGRAMME_STREAM_SERVICE,
        subjects=[BIRTHDAY_SUBJECT, CAMPAIGN_SUBJECT, ANNIVERSARY_SUBJECT, LAPSE_SUBJECT],
        handler=programme_handler(),
        **options,
    )
