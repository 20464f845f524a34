"""Event consumers of the booking service: the members service's facts into the booking's
projection (stores' time zones, members' booking windows, the tier ladder).

A kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same transaction as the
handler's effect, backoff, dead letters), as the wallet's member directory consumer; a kit
``EventTable`` maps each event type to a :class:`MemberProjection` write on the consumer's
session. Ordering is handled by the projection (see
``services.booking.adapters.member_projection``): a TierChanged that overtook its member's
registration raises ``MemberNotYetRegistered``, which rolls back and naks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_pb
from peony.members.v1 import tier_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.ids import parse_name
from kit.logging import get_logger
from kit.member_projection import Registration
from kit.messaging import EventConsumer, EventEnvelope
from kit.messaging import dispatch as kit_dispatch
from kit.messaging.dispatch import EventTable
from services.booking.adapters.member_projection import MemberProjection
from services.booking.domain.availability import store_zone

log = get_logger("peony.booking.consumers")

SERVICE = "booking"
MEMBERS_DURABLE = "booking-members-events"
MEMBERS_STREAM_SERVICE = "members"


class InvalidEvent(kit_dispatch.InvalidEvent):
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


def _occurred_at(envelope: EventEnvelope) -> datetime:
    return (
        envelope.occurred_at.ToDatetime(tzinfo=UTC) if envelope.HasField("occurred_at") else datetime.now(UTC)
    )


members_events = EventTable(MemberProjection, invalid=InvalidEvent)


def _store_row(envelope: EventEnvelope, event: Any) -> tuple[str, str, datetime]:
    store_id = _name(envelope, event.store, "stores")
    if store_zone(event.time_zone) is None:
        raise InvalidEvent(f"{envelope.event_type} {envelope.event_id}: bad time zone {event.time_zone!r}")
    return store_id, event.time_zone, _occurred_at(envelope)


@members_events.on(members_pb.StoreCreated, members_pb.StoreUpdated)
async def _store(projection: MemberProjection, envelope: EventEnvelope, event: Any) -> None:
    store_id, time_zone, occurred_at = _store_row(envelope, event)
    if not await projection.apply_store(store_id, time_zone, occurred_at):
        log.info("booking.store_event_stale", event_id=envelope.event_id, store_id=store_id)


@members_events.on_batch(members_pb.StoreCreated, members_pb.StoreUpdated)
async def _stores(projection: MemberProjection, items: list[tuple[EventEnvelope, Any]]) -> None:
    await projection.apply_stores([_store_row(envelope, event) for envelope, event in items])


def _registration(envelope: EventEnvelope, event: members_pb.MemberRegistered) -> Registration:
    return MemberProjection.registration(
        _name(envelope, event.member, "members"),
        event.tier_id,
        event.tier_benefits.booking_window_days,
        _occurred_at(envelope),
    )


@members_events.on(members_pb.MemberRegistered)
async def _registered(
    projection: MemberProjection, envelope: EventEnvelope, event: members_pb.MemberRegistered
) -> None:
    await projection.apply_registrations([_registration(envelope, event)])


@members_events.on_batch(members_pb.MemberRegistered)
async def _registered_many(projection: MemberProjection, items: list[tuple[EventEnvelope, Any]]) -> None:
    # A burst of registrations (e.g. after a pause) costs one upsert, not one per member.
    await projection.apply_registrations([_registration(envelope, event) for envelope, event in items])


@members_events.on(members_pb.TierChanged)
async def _tier_changed(
    projection: MemberProjection, envelope: EventEnvelope, changed: members_pb.TierChanged
) -> None:
    member_id = _name(envelope, changed.member, "members")
    if not changed.to_tier_id:
        raise InvalidEvent(f"TierChanged {envelope.event_id} has no to_tier_id")
    applied = await projection.apply_tier_changed(
        member_id,
        changed.to_tier_id,
        changed.benefits.booking_window_days,
        changed_time=_occurred_at(envelope) if envelope.HasField("occurred_at") else None,
    )
    if not applied:
        log.info("booking.tier_change_stale", event_id=envelope.event_id, member_id=member_id)


@members_events.on(members_pb.TierLadderUpdated)
async def _ladder(
    projection: MemberProjection, envelope: EventEnvelope, ladder: members_pb.TierLadderUpdated
) -> None:
    if not await projection.apply_ladder(ladder.version, [_ladder_entry(t) for t in ladder.tiers]):
        log.info("booking.tier_ladder_stale", event_id=envelope.event_id, version=ladder.version)


@members_events.on(members_pb.MemberErased)
async def _erased(
    projection: MemberProjection, envelope: EventEnvelope, erased: members_pb.MemberErased
) -> None:
    await projection.erase_member(_name(envelope, erased.member, "members"))


MEMBERS_SUBJECTS = members_events.subjects(MEMBERS_STREAM_SERVICE)


def members_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The booking's durable consumer of members events (``options`` go to ``EventConsumer``)."""
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=MEMBERS_DURABLE,
        stream_service=MEMBERS_STREAM_SERVICE,
        subjects=MEMBERS_SUBJECTS,
        handler=members_events.handler(),
        batch_handlers=members_events.batch_handlers(),
        **options,
    )
