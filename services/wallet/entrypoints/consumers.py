"""Event consumers of the wallet service: the members service's facts into the member directory
and the store directory.

Each consumer is a kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same
transaction as the handler's effect, backoff, dead letters); a kit ``EventTable`` maps each event
type to a :class:`MemberDirectory` (or store projection) write on the consumer's session.
Ordering is handled by the directory (see ``services.wallet.adapters.member_directory``): a
TierChanged that overtook its member's registration raises ``MemberNotYetRegistered``, which rolls
the transaction back and naks, so the change is applied after the registration on a later delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_pb
from peony.members.v1 import tier_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.ids import is_resource_id, parse_name
from kit.logging import get_logger
from kit.member_projection import Registration
from kit.messaging import EventConsumer, EventEnvelope
from kit.messaging import dispatch as kit_dispatch
from kit.messaging.dispatch import EventTable
from kit.store_projection import StoreProjection
from services.wallet.adapters.member_directory import MemberDirectory
from services.wallet.adapters.tables import store_directory

log = get_logger("peony.wallet.consumers")

SERVICE = "wallet"
MEMBERS_DURABLE = "wallet-members-events"
MEMBERS_STREAM_SERVICE = "members"

# TierBenefits.points_multiplier_permille: "0 is read as 1000 (no bonus)".
NO_BONUS_PERMILLE = 1000


class InvalidEvent(kit_dispatch.InvalidEvent):
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


@dataclass(frozen=True)
class _Projections:
    """What the wallet keeps of the members service's facts, on the consumer's session."""

    members: MemberDirectory
    stores: StoreProjection


def _projections(session: AsyncSession, tenant: str) -> _Projections:
    return _Projections(MemberDirectory(session, tenant), StoreProjection(session, tenant, store_directory))


def _occurred_at(envelope: EventEnvelope) -> datetime | None:
    return envelope.occurred_at.ToDatetime(tzinfo=UTC) if envelope.HasField("occurred_at") else None


members_events = EventTable(_projections, invalid=InvalidEvent)


def _registration(envelope: EventEnvelope, event: members_pb.MemberRegistered) -> Registration:
    member_id = _member_id(envelope, event.member)
    home_store_id = parse_name(event.home_store, "stores")
    if home_store_id is None:
        log.warning("wallet.member_without_home_store", event_id=envelope.event_id, member_id=member_id)
        home_store_id = ""
    return MemberDirectory.registration(
        member_id,
        home_store_id,
        event.tier_id,
        event.tier_benefits.discount_bps,
        _multiplier(event.tier_benefits),
        _occurred_at(envelope) or datetime.now(UTC),
    )


@members_events.on(members_pb.MemberRegistered)
async def _registered(p: _Projections, envelope: EventEnvelope, event: members_pb.MemberRegistered) -> None:
    await p.members.apply_registrations([_registration(envelope, event)])


@members_events.on_batch(members_pb.MemberRegistered)
async def _registered_many(p: _Projections, items: list[tuple[EventEnvelope, Any]]) -> None:
    # A burst of registrations (e.g. after a pause) costs one upsert, not one per member.
    await p.members.apply_registrations([_registration(envelope, event) for envelope, event in items])


@members_events.on(members_pb.MemberErased)
async def _erased(p: _Projections, envelope: EventEnvelope, event: members_pb.MemberErased) -> None:
    # The ledger keeps the member's opaque id and every posting; the payment PIN (a credential of
    # the person) goes. Nothing else the wallet keeps describes the person.
    await p.members.erase(_member_id(envelope, event.member))


@members_events.on(members_pb.TierChanged)
async def _tier_changed(p: _Projections, envelope: EventEnvelope, changed: members_pb.TierChanged) -> None:
    member_id = _member_id(envelope, changed.member)
    if not changed.to_tier_id:
        raise InvalidEvent(f"TierChanged {envelope.event_id} has no to_tier_id")
    applied = await p.members.apply_tier_changed(
        member_id,
        changed.to_tier_id,
        changed.benefits.discount_bps,
        _multiplier(changed.benefits),
        changed_time=_occurred_at(envelope),
    )
    if not applied:
        log.info("wallet.tier_change_stale", event_id=envelope.event_id, member_id=member_id)


@members_events.on(members_pb.TierLadderUpdated)
async def _ladder(p: _Projections, envelope: EventEnvelope, ladder: members_pb.TierLadderUpdated) -> None:
    if not await p.members.apply_ladder(ladder.version, [_ladder_entry(t) for t in ladder.tiers]):
        log.info("wallet.tier_ladder_stale", event_id=envelope.event_id, version=ladder.version)


def _store_row(envelope: EventEnvelope, event: Any) -> tuple[str, str, datetime]:
    store_id = parse_name(event.store, "stores")
    if not store_id or not is_resource_id(store_id):
        raise InvalidEvent(f"{envelope.event_type} {envelope.event_id} has no valid store name")
    return store_id, event.time_zone, _occurred_at(envelope) or datetime.now(UTC)


@members_events.on(members_pb.StoreCreated, members_pb.StoreUpdated)
async def _store(p: _Projections, envelope: EventEnvelope, event: Any) -> None:
    store_id, time_zone, occurred_at = _store_row(envelope, event)
    if not await p.stores.apply(store_id, time_zone, occurred_at):
        log.info("wallet.store_event_stale", event_id=envelope.event_id, store_id=store_id)


@members_events.on_batch(members_pb.StoreCreated, members_pb.StoreUpdated)
async def _stores(p: _Projections, items: list[tuple[EventEnvelope, Any]]) -> None:
    await p.stores.apply_many([_store_row(envelope, event) for envelope, event in items])


MEMBERS_SUBJECTS = members_events.subjects(MEMBERS_STREAM_SERVICE)


def members_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options: Any) -> EventConsumer:
    """The wallet's durable consumer of members events (``options`` go to ``EventConsumer``)."""
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
