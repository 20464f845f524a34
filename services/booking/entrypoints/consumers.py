"""Event consumers of the booking service: the members service's facts into the booking's
projection (stores' time zones, members' booking windows, the tier ladder).

A kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same transaction as the
handler's effect, backoff, dead letters), as the wallet's member directory consumer; the handler
only maps each event to a :class:`MemberProjection` write on the consumer's session. Ordering is
handled by the projection (see ``services.booking.adapters.member_projection``): a TierChanged that
overtook its member's registration raises ``MemberNotYetRegistered``, which rolls back and naks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import tier_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, event_type_of, unpack
from services.booking.adapters.member_projection import MemberProjection
from services.booking.domain.availability import store_zone

log = get_logger("peony.booking.consumers")

SERVICE = "booking"
MEMBERS_DURABLE = "booking-members-events"
MEMBERS_STREAM_SERVICE = "members"
STORE_CREATED = event_type_of(members_events.StoreCreated)
STORE_UPDATED = event_type_of(members_events.StoreUpdated)
MEMBER_REGISTERED = event_type_of(members_events.MemberRegistered)
TIER_CHANGED = event_type_of(members_events.TierChanged)
TIER_LADDER_UPDATED = event_type_of(members_events.TierLadderUpdated)
MEMBERS_SUBJECTS = [
    "peony.members.StoreCreated",
    "peony.members.StoreUpdated",
    "peony.members.MemberRegistered",
    "peony.members.TierChanged",
    "peony.members.TierLadderUpdated",
]


class InvalidEvent(ValueError):
    """An event the projection cannot use, whatever we retry (dead-lettered after the retries)."""


def _name(envelope: EventEnvelope, name: str, collection: str) -> str:
    value = parse_name(name, collection)
    if not value:
        raise InvalidEvent(
            f"{envelope.event_type} {envelope.event_id} has no valid {collection} name: {name!r}"
        )
    return value


def _ladder_entry(tier: tier_pb2.Tier) -> dict[str, Any]:
    return {"tier_id": tier.tier_id, "booking_window_days": tier.benefits.booking_window_days}


async def _apply(projection: MemberProjection, envelope: EventEnvelope) -> None:
    occurred_at = (
        envelope.occurred_at.ToDatetime(tzinfo=UTC) if envelope.HasField("occurred_at") else datetime.now(UTC)
    )
    if envelope.event_type in (STORE_CREATED, STORE_UPDATED):
        kind = (
            members_events.StoreCreated
            if envelope.event_type == STORE_CREATED
            else members_events.StoreUpdated
        )
        event = unpack(envelope, kind)
        store_id = _name(envelope, event.store, "stores")
        if store_zone(event.time_zone) is None:
            raise InvalidEvent(
                f"{envelope.event_type} {envelope.event_id}: bad time zone {event.time_zone!r}"
            )
        if not await projection.apply_store(store_id, event.time_zone, occurred_at):
            log.info("booking.store_event_stale", event_id=envelope.event_id, store_id=store_id)
    elif envelope.event_type == MEMBER_REGISTERED:
        event = unpack(envelope, members_events.MemberRegistered)
        member_id = _name(envelope, event.member, "members")
        await projection.apply_registered(
            member_id, event.tier_id, event.tier_benefits.booking_window_days, occurred_at
        )
    elif envelope.event_type == TIER_CHANGED:
        changed = unpack(envelope, members_events.TierChanged)
        member_id = _name(envelope, changed.member, "members")
        if not changed.to_tier_id:
            raise InvalidEvent(f"TierChanged {envelope.event_id} has no to_tier_id")
        applied = await projection.apply_tier_changed(
            member_id,
            changed.to_tier_id,
            changed.benefits.booking_window_days,
            changed_time=occurred_at if envelope.HasField("occurred_at") else None,
        )
        if not applied:
            log.info("booking.tier_change_stale", event_id=envelope.event_id, member_id=member_id)
    elif envelope.event_type == TIER_LADDER_UPDATED:
        ladder = unpack(envelope, members_events.TierLadderUpdated)
        if not await projection.apply_ladder(ladder.version, [_ladder_entry(t) for t in ladder.tiers]):
            log.info("booking.tier_ladder_stale", event_id=envelope.event_id, version=ladder.version)
    else:
        log.debug("booking.event_ignored", event_type=envelope.event_type, event_id=envelope.event_id)


def members_events_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        await _apply(MemberProjection(session, envelope.tenant), envelope)

    return handle


def members_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The booking's durable consumer of members events (``options`` go to ``EventConsumer``)."""
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
