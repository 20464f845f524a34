"""Event consumers of the wallet service: the members service's facts into the member directory
and the store directory.

Each consumer is a kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same
transaction as the handler's effect, backoff, dead letters); the handler here only maps the event to
a :class:`MemberDirectory` write on the consumer's session. Ordering is handled by the directory
(see ``services.wallet.adapters.member_directory``): a TierChanged that overtook its member's
registration raises ``MemberNotYetRegistered``, which rolls the transaction back and naks, so the
change is applied after the registration on a later delivery.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import tier_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import is_resource_id, parse_name
from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, event_type_of, unpack
from kit.store_projection import StoreProjection
from services.wallet.adapters.member_directory import MemberDirectory
from services.wallet.adapters.tables import store_directory

log = get_logger("peony.wallet.consumers")

SERVICE = "wallet"
MEMBERS_DURABLE = "wallet-members-events"
MEMBERS_STREAM_SERVICE = "members"
MEMBER_REGISTERED = event_type_of(members_events.MemberRegistered)
TIER_CHANGED = event_type_of(members_events.TierChanged)
TIER_LADDER_UPDATED = event_type_of(members_events.TierLadderUpdated)
STORE_CREATED = event_type_of(members_events.StoreCreated)
STORE_UPDATED = event_type_of(members_events.StoreUpdated)
MEMBERS_SUBJECTS = [
    "peony.members.MemberRegistered",
    "peony.members.TierChanged",
    "peony.members.TierLadderUpdated",
    "peony.members.StoreCreated",
    "peony.members.StoreUpdated",
]

# TierBenefits.points_multiplier_permille: "0 is read as 1000 (no bonus)".
NO_BONUS_PERMILLE = 1000


class InvalidEvent(ValueError):
    """An event the directory cannot use, whatever we retry (dead-lettered after the retries)."""


def _multiplier(benefits: tier_pb2.TierBenefits) -> int:
    return benefits.points_multiplier_permille or NO_BONUS_PERMILLE


def _member_id(envelope: EventEnvelope, name: str) -> str:
    member_id = parse_name(name, "members")
    try:
        return str(uuid.UUID(member_id or ""))
    except ValueError:
        raise InvalidEvent(
            f"{envelope.event_type} {envelope.event_id} has no valid member name: {name!r}"
        ) from None


def _ladder_entry(tier: tier_pb2.Tier) -> dict[str, Any]:
    b = tier.benefits
    return {
        "tier_id": tier.tier_id,
        "rank": tier.rank,
        "discount_bps": b.discount_bps,
        "points_multiplier_permille": _multiplier(b),
        "free_care_per_month": b.free_care_per_month,
        "booking_window_days": b.booking_window_days,
    }


async def _apply(directory: MemberDirectory, stores: StoreProjection, envelope: EventEnvelope) -> None:
    occurred_at = envelope.occurred_at.ToDatetime(tzinfo=UTC) if envelope.HasField("occurred_at") else None
    if envelope.event_type in (STORE_CREATED, STORE_UPDATED):
        kind = (
            members_events.StoreCreated
            if envelope.event_type == STORE_CREATED
            else members_events.StoreUpdated
        )
        event = unpack(envelope, kind)
        store_id = parse_name(event.store, "stores")
        if not store_id or not is_resource_id(store_id):
            raise InvalidEvent(f"{envelope.event_type} {envelope.event_id} has no valid store name")
        if not await stores.apply(store_id, event.time_zone, occurred_at or datetime.now(UTC)):
            log.info("wallet.store_event_stale", event_id=envelope.event_id, store_id=store_id)
    elif envelope.event_type == MEMBER_REGISTERED:
        event = unpack(envelope, members_events.MemberRegistered)
        member_id = _member_id(envelope, event.member)
        home_store_id = parse_name(event.home_store, "stores")
        if home_store_id is None:
            log.warning("wallet.member_without_home_store", event_id=envelope.event_id, member_id=member_id)
            home_store_id = ""
        await directory.apply_registered(
            member_id,
            home_store_id,
            event.tier_id,
            event.tier_benefits.discount_bps,
            _multiplier(event.tier_benefits),
            occurred_at or datetime.now(UTC),
        )
    elif envelope.event_type == TIER_CHANGED:
        changed = unpack(envelope, members_events.TierChanged)
        member_id = _member_id(envelope, changed.member)
        if not changed.to_tier_id:
            raise InvalidEvent(f"TierChanged {envelope.event_id} has no to_tier_id")
        applied = await directory.apply_tier_changed(
            member_id,
            changed.to_tier_id,
            changed.benefits.discount_bps,
            _multiplier(changed.benefits),
            changed_time=occurred_at,
        )
        if not applied:
            log.info("wallet.tier_change_stale", event_id=envelope.event_id, member_id=member_id)
    elif envelope.event_type == TIER_LADDER_UPDATED:
        ladder = unpack(envelope, members_events.TierLadderUpdated)
        if not await directory.apply_ladder(ladder.version, [_ladder_entry(t) for t in ladder.tiers]):
            log.info("wallet.tier_ladder_stale", event_id=envelope.event_id, version=ladder.version)
    else:
        # Subscribed by subject, so only when a producer mislabels an event; nothing to do (acked).
        log.debug("wallet.event_ignored", event_type=envelope.event_type, event_id=envelope.event_id)


def members_events_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        await _apply(
            MemberDirectory(session, envelope.tenant),
            StoreProjection(session, envelope.tenant, store_directory),
            envelope,
        )

    return handle


def members_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The wallet's durable consumer of members events (``options`` go to ``EventConsumer``)."""
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=MEMBERS_DURABLE,
        stream_service=MEMBERS_STREAM_SERVICE,
        subjects=MEMBERS_SUBJECTS,
        handler=members_events_handler(),
        **options,
    )
