"""Engagement programme rewards, in the consumer's transaction: members' ``BirthdayBenefitDue`` →
the birthday points; ``CampaignMessageDue`` → a campaign's points (source ``activity``), once per
(campaign, member): ``programme_grants`` row (``campaign``, member, campaign id).

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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, unpack
from services.wallet.adapters.programme_tables import programme_grants
from services.wallet.service_layer import rewards
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


class InvalidProgrammeEvent(ValueError):
    """An event we can never apply (dead-lettered after the retries)."""


def programme_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidProgrammeEvent(f"event {envelope.event_id} has no tenant")
        if envelope.event_type == members_events.CampaignMessageDue.DESCRIPTOR.full_name:
            await _grant_campaign_points(session, envelope)
            return
        event = unpack(envelope, members_events.BirthdayBenefitDue)
        try:
            member_id = str(uuid.UUID(parse_name(event.member, "members") or ""))
        except ValueError:
            raise InvalidProgrammeEvent(f"BirthdayBenefitDue {envelope.event_id}: bad member") from None
        if not 1900 <= event.year <= 9999 or event.points < 0:
            raise InvalidProgrammeEvent(f"BirthdayBenefitDue {envelope.event_id}: bad year or points")
        claimed = (
            await session.execute(
                pg_insert(programme_grants)
                .values(
                    tenant_id=envelope.tenant,
                    programme=BIRTHDAY,
                    member_id=member_id,
                    period=str(event.year),
                    points=event.points,
                    event_id=envelope.event_id,
                )
                .on_conflict_do_nothing()
                .returning(programme_grants.c.member_id)
            )
        ).first()
        if claimed is None or event.points == 0:
            log.info("wallet.birthday_already_granted", event_id=envelope.event_id, member_id=member_id)
            return
        uow = WalletUnitOfWork.joined(session, service=SERVICE, tenant=envelope.tenant)
        posted, _lot = await rewards.grant_and_record(
            uow, member_id=member_id, points=event.points, source=BIRTHDAY, reason=f"birthday {event.year}"
        )
        transaction = f"members/{member_id}/transactions/{posted.transaction_id}"
        await session.execute(
            programme_grants.update()
            .where(
                programme_grants.c.tenant_id == envelope.tenant,
                programme_grants.c.programme == BIRTHDAY,
                programme_grants.c.member_id == member_id,
                programme_grants.c.period == str(event.year),
            )
            .values(transaction_id=posted.transaction_id)
        )
        uow.emit(
            wallet_events.BirthdayRewardGranted(
                member=event.member, year=event.year, points=event.points, transaction=transaction
            ),
            aggregate_type="wallet",
            aggregate_id=member_id,
        )
        await uow.commit()  # the grant's events into the outbox; the consumer commits

    return handle


async def _grant_campaign_points(session: AsyncSession, envelope: EventEnvelope) -> None:
    event = unpack(envelope, members_events.CampaignMessageDue)
    try:
        member_id = str(uuid.UUID(parse_name(event.member, "members") or ""))
    except ValueError:
        raise InvalidProgrammeEvent(f"CampaignMessageDue {envelope.event_id}: bad member") from None
    campaign_id = parse_name(event.campaign, "campaigns")
    if not campaign_id or event.points < 0:
        raise InvalidProgrammeEvent(f"CampaignMessageDue {envelope.event_id}: bad campaign or points")
    if event.points == 0:
        return
    claimed = (
        await session.execute(
            pg_insert(programme_grants)
            .values(
                tenant_id=envelope.tenant,
                programme=CAMPAIGN,
                member_id=member_id,
                period=campaign_id,
                points=event.points,
                event_id=envelope.event_id,
            )
            .on_conflict_do_nothing()
            .returning(programme_grants.c.member_id)
        )
    ).first()
    if claimed is None:
        log.info("wallet.campaign_already_granted", event_id=envelope.event_id, member_id=member_id)
        return
    uow = WalletUnitOfWork.joined(session, service=SERVICE, tenant=envelope.tenant)
    posted, _lot = await rewards.grant_and_record(
        uow,
        member_id=member_id,
        points=event.points,
        source=CAMPAIGN_GRANT_SOURCE,
        reason=f"campaign {campaign_id}",
    )
    await session.execute(
        programme_grants.update()
        .where(
            programme_grants.c.tenant_id == envelope.tenant,
            programme_grants.c.programme == CAMPAIGN,
            programme_grants.c.member_id == member_id,
            programme_grants.c.period == campaign_id,
        )
        .values(transaction_id=posted.transaction_id)
    )
    await uow.commit()  # the grant's events into the outbox; the consumer commits


def programme_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The wallet's durable consumer of the members' programme events."""
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=PROGRAMME_DURABLE,
        stream_service=PROGRAMME_STREAM_SERVICE,
        subjects=[BIRTHDAY_SUBJECT, CAMPAIGN_SUBJECT],
        handler=programme_handler(),
        **options,
    )
