"""Event consumers of the members service: the wallet's checkouts in, tiers and referral rewards out.

A kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same transaction as the
effect, backoff, dead letters); a kit ``EventTable`` dispatches by event type to
:mod:`services.members.service_layer.spend`, on the consumer's own session, so the inbox row, the
spend rows, a tier change and the outbox rows commit together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from peony.booking.v1 import events_pb2 as booking_pb
from peony.wallet.v1 import events_pb2 as wallet_pb
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope
from kit.messaging.dispatch import EventTable
from kit.uow import UnitOfWork
from services.members.adapters.campaign_reward_tables import PACKAGE, VOUCHER
from services.members.service_layer import campaign_rewards, lapse, spend
from services.members.service_layer.activity import MemberActivity
from services.members.service_layer.package_sessions import PackageSessions
from services.members.service_layer.spend import InvalidWalletEvent

log = get_logger("peony.members.consumers")

SERVICE = "members"
WALLET_DURABLE = "members-wallet-events"
WALLET_STREAM_SERVICE = "wallet"


def _occurred_at(envelope: EventEnvelope, recorded) -> datetime:
    """The checkout's own time when given, else the envelope's, else now (all UTC-aware)."""
    for ts in (recorded, envelope.occurred_at):
        if ts is not None and (ts.seconds or ts.nanos):
            return ts.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


wallet_events = EventTable(spend.SpendBook, invalid=InvalidWalletEvent)


@wallet_events.on(wallet_pb.CheckoutCompleted)
async def _checkout_completed(
    book: spend.SpendBook, envelope: EventEnvelope, done: wallet_pb.CheckoutCompleted
) -> None:
    await spend.record_checkout(
        book,
        event_id=envelope.event_id,
        member=done.member,
        checkout=done.checkout,
        store=done.store,
        qualifying_spend_minor=done.qualifying_spend_minor,
        points_earned=done.points_earned,
        currency_code=done.currency_code,
        occurred_at=_occurred_at(envelope, done.create_time if done.HasField("create_time") else None),
    )


@wallet_events.on(wallet_pb.CheckoutRefunded)
async def _checkout_refunded(
    book: spend.SpendBook, envelope: EventEnvelope, refunded: wallet_pb.CheckoutRefunded
) -> None:
    await spend.record_refund(
        book,
        event_id=envelope.event_id,
        member=refunded.member,
        checkout=refunded.checkout,
        refund=refunded.refund,
        store=refunded.store,
        qualifying_spend_minor=refunded.qualifying_spend_minor,
        full=refunded.full,
        points_clawed_back=refunded.points_clawed_back,
        currency_code=refunded.currency_code,
        occurred_at=_occurred_at(envelope, None),
    )


WALLET_SUBJECTS = wallet_events.subjects(WALLET_STREAM_SERVICE)


def wallet_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=WALLET_DURABLE,
        stream_service=WALLET_STREAM_SERVICE,
        subjects=WALLET_SUBJECTS,
        handler=wallet_events.handler(),
        **options,
    )


# --- engagement facts (segments): last visit and balances, a durable of its own ----------------
ENGAGEMENT_DURABLE = "members-engagement-facts"
engagement_events = EventTable(MemberActivity, invalid=InvalidWalletEvent)


@engagement_events.on(wallet_pb.CheckoutCompleted)
async def _visit(
    activity: MemberActivity, envelope: EventEnvelope, done: wallet_pb.CheckoutCompleted
) -> None:
    at = _occurred_at(envelope, done.create_time if done.HasField("create_time") else None)
    member_id = spend.member_uuid(done.member)
    previous = await activity.visited(member_id, at)
    uow = UnitOfWork.joined(activity.session, service=SERVICE, tenant=activity.tenant)
    await lapse.returned_from_lapse(uow, member_id, previous, at, done.checkout)


@engagement_events.on_batch(wallet_pb.CheckoutCompleted)
async def _visits(activity: MemberActivity, items: list[tuple[EventEnvelope, Any]]) -> None:
    # the visits set-based; then, per visit in stream order, the lapse programme's MemberReturned
    visits = [
        (
            spend.member_uuid(done.member),
            _occurred_at(envelope, done.create_time if done.HasField("create_time") else None),
        )
        for envelope, done in items
    ]
    previous = await activity.visited_many(visits)
    for (member_id, at), before, (_, done) in zip(visits, previous, items, strict=True):
        uow = UnitOfWork.joined(activity.session, service=SERVICE, tenant=activity.tenant)
        await lapse.returned_from_lapse(uow, member_id, before, at, done.checkout)


@engagement_events.on(wallet_pb.BalanceChanged)
async def _stored_value(
    activity: MemberActivity, envelope: EventEnvelope, changed: wallet_pb.BalanceChanged
) -> None:
    await activity.stored_value(
        spend.member_uuid(changed.member),
        changed.principal_minor + changed.bonus_minor,
        _occurred_at(envelope, None),
    )


@engagement_events.on(wallet_pb.PointsEarned, wallet_pb.PointsRedeemed, wallet_pb.PointsExpired)
async def _points(activity: MemberActivity, envelope: EventEnvelope, event) -> None:
    await activity.points(
        spend.member_uuid(event.member), event.points_available, _occurred_at(envelope, None)
    )


# The high-volume facts: a run of consecutive events of one type is applied set-based (each
# member's newest value, two statements per run) with the per-event entries' result.
@engagement_events.on_batch(wallet_pb.BalanceChanged)
async def _stored_values(activity: MemberActivity, items: list[tuple[EventEnvelope, Any]]) -> None:
    await activity.stored_values(
        (
            spend.member_uuid(changed.member),
            changed.principal_minor + changed.bonus_minor,
            _occurred_at(envelope, None),
        )
        for envelope, changed in items
    )


@engagement_events.on_batch(wallet_pb.PointsEarned, wallet_pb.PointsRedeemed, wallet_pb.PointsExpired)
async def _points_many(activity: MemberActivity, items: list[tuple[EventEnvelope, Any]]) -> None:
    await activity.points_many(
        (spend.member_uuid(event.member), event.points_available, _occurred_at(envelope, None))
        for envelope, event in items
    )


@engagement_events.on(wallet_pb.ProgrammeRewardSettled)
async def _reward_settled(
    activity: MemberActivity, envelope: EventEnvelope, settled: wallet_pb.ProgrammeRewardSettled
) -> None:
    member_id = spend.member_uuid(settled.member)
    await campaign_rewards.record_settled(activity.session, activity.tenant, settled, member_id)


@engagement_events.on(wallet_pb.VoucherRedeemed)
async def _voucher_redeemed(
    activity: MemberActivity, envelope: EventEnvelope, redeemed: wallet_pb.VoucherRedeemed
) -> None:
    await campaign_rewards.record_use(
        activity.session,
        activity.tenant,
        envelope.event_id,
        VOUCHER,
        redeemed.voucher.rsplit("/", 1)[-1],
        spend.member_uuid(redeemed.member),
        1,
        _occurred_at(envelope, None),
        checkout=redeemed.checkout,
    )


@engagement_events.on(wallet_pb.VoucherRestored)
async def _voucher_restored(
    activity: MemberActivity, envelope: EventEnvelope, restored: wallet_pb.VoucherRestored
) -> None:
    # the checkout that redeemed it was refunded: its redemption no longer counts
    await campaign_rewards.record_restore(
        activity.session,
        activity.tenant,
        envelope.event_id,
        VOUCHER,
        restored.voucher.rsplit("/", 1)[-1],
        spend.member_uuid(restored.member),
        1,
        _occurred_at(envelope, None),
        checkout=restored.checkout,
    )


@engagement_events.on(wallet_pb.PackageSessionConsumed)
async def _sessions_used(
    activity: MemberActivity, envelope: EventEnvelope, used: wallet_pb.PackageSessionConsumed
) -> None:
    # the card's sessions left (segments), and a campaign's free sessions used (attribution)
    await _package_item(activity, envelope, used)
    if used.sessions <= 0:
        return
    await campaign_rewards.record_use(
        activity.session,
        activity.tenant,
        envelope.event_id,
        PACKAGE,
        used.package.rsplit("/", 1)[-1],
        spend.member_uuid(used.member),
        used.sessions,
        _occurred_at(envelope, None),
        checkout=used.checkout,
    )


@engagement_events.on(wallet_pb.PackageSold)
async def _package_sold(
    activity: MemberActivity, envelope: EventEnvelope, sold: wallet_pb.PackageSold
) -> None:
    await PackageSessions(activity.session, activity.tenant).set_items(
        spend.member_uuid(sold.member), sold.package, sold.items, _occurred_at(envelope, None)
    )


async def _package_item(activity: MemberActivity, envelope: EventEnvelope, event) -> None:
    await PackageSessions(activity.session, activity.tenant).set_items(
        spend.member_uuid(event.member), event.package, [event], _occurred_at(envelope, None)
    )


@engagement_events.on(wallet_pb.PackageSessionsRestored)
async def _sessions_restored(
    activity: MemberActivity, envelope: EventEnvelope, restored: wallet_pb.PackageSessionsRestored
) -> None:
    # the card's sessions left, and the refunded checkout's free sessions no longer count as used
    await _package_item(activity, envelope, restored)
    if restored.sessions <= 0:
        return
    await campaign_rewards.record_restore(
        activity.session,
        activity.tenant,
        envelope.event_id,
        PACKAGE,
        restored.package.rsplit("/", 1)[-1],
        spend.member_uuid(restored.member),
        restored.sessions,
        _occurred_at(envelope, None),
        checkout=restored.checkout,
    )


@engagement_events.on(wallet_pb.PackageTransferred)
async def _package_transferred(
    activity: MemberActivity, envelope: EventEnvelope, moved: wallet_pb.PackageTransferred
) -> None:
    at = _occurred_at(envelope, None)
    cards = PackageSessions(activity.session, activity.tenant)
    await cards.empty(moved.from_package, at)
    await cards.set_items(spend.member_uuid(moved.to_member), moved.to_package, moved.to_items, at)


@engagement_events.on(wallet_pb.PackageRefunded)
async def _package_refunded(
    activity: MemberActivity, envelope: EventEnvelope, refunded: wallet_pb.PackageRefunded
) -> None:
    await PackageSessions(activity.session, activity.tenant).empty(
        refunded.package, _occurred_at(envelope, None)
    )


@engagement_events.on(wallet_pb.PackageExpired)
async def _package_expired(
    activity: MemberActivity, envelope: EventEnvelope, expired: wallet_pb.PackageExpired
) -> None:
    """The expiry job took the expired items' unused sessions off the card: they are 0."""
    await PackageSessions(activity.session, activity.tenant).set_items(
        spend.member_uuid(expired.member), expired.package, expired.items, _occurred_at(envelope, None)
    )


ENGAGEMENT_SUBJECTS = engagement_events.subjects(WALLET_STREAM_SERVICE)


def engagement_facts_consumer(engine: AsyncEngine, js: JetStreamContext, **options) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=ENGAGEMENT_DURABLE,
        stream_service=WALLET_STREAM_SERVICE,
        subjects=ENGAGEMENT_SUBJECTS,
        handler=engagement_events.handler(),
        batch_handlers=engagement_events.batch_handlers(),
        **options,
    )


# --- visits from booking: a completed appointment is a visit too (its own durable) -------------
BOOKING_VISITS_DURABLE = "members-booking-visits"
BOOKING_STREAM_SERVICE = "booking"
booking_visits = EventTable(MemberActivity, invalid=InvalidWalletEvent)


@booking_visits.on(booking_pb.AppointmentCompleted)
async def _appointment_completed(
    activity: MemberActivity, envelope: EventEnvelope, done: booking_pb.AppointmentCompleted
) -> None:
    if not done.member:
        return  # a walk-in without a member record: nobody's visit
    at = _occurred_at(envelope, done.complete_time if done.HasField("complete_time") else None)
    member_id = spend.member_uuid(done.member)
    previous = await activity.visited(member_id, at)
    uow = UnitOfWork.joined(activity.session, service=SERVICE, tenant=activity.tenant)
    await lapse.returned_from_lapse(uow, member_id, previous, at, "", appointment=done.appointment)


BOOKING_VISIT_SUBJECTS = booking_visits.subjects(BOOKING_STREAM_SERVICE)


def booking_visits_consumer(engine: AsyncEngine, js: JetStreamContext, **options) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=BOOKING_VISITS_DURABLE,
        stream_service=BOOKING_STREAM_SERVICE,
        subjects=BOOKING_VISIT_SUBJECTS,
        handler=booking_visits.handler(),
        **options,
    )
