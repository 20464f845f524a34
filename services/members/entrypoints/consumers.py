"""Event consumers of the members service: the wallet's checkouts in, tiers and referral rewards out.

A kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same transaction as the
effect, backoff, dead letters); the handler only dispatches by event type to
:mod:`services.members.service_layer.spend`, on the consumer's own session, so the inbox row, the
spend rows, a tier change and the outbox rows commit together.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js import JetStreamContext
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, event_type_of, unpack
from services.members.service_layer import spend
from services.members.service_layer.spend import InvalidWalletEvent

log = get_logger("peony.members.consumers")

SERVICE = "members"
WALLET_DURABLE = "members-wallet-events"
WALLET_STREAM_SERVICE = "wallet"
CHECKOUT_COMPLETED = event_type_of(wallet_events.CheckoutCompleted)
CHECKOUT_REFUNDED = event_type_of(wallet_events.CheckoutRefunded)
WALLET_SUBJECTS = ["peony.wallet.CheckoutCompleted", "peony.wallet.CheckoutRefunded"]


def _occurred_at(envelope: EventEnvelope, recorded) -> datetime:
    """The checkout's own time when given, else the envelope's, else now (all UTC-aware)."""
    for ts in (recorded, envelope.occurred_at):
        if ts is not None and (ts.seconds or ts.nanos):
            return ts.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


def wallet_events_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidWalletEvent(f"event {envelope.event_id} has no tenant")
        if envelope.event_type == CHECKOUT_COMPLETED:
            done = unpack(envelope, wallet_events.CheckoutCompleted)
            await spend.record_checkout(
                session,
                envelope.tenant,
                event_id=envelope.event_id,
                member=done.member,
                checkout=done.checkout,
                store=done.store,
                qualifying_spend_minor=done.qualifying_spend_minor,
                currency_code=done.currency_code,
                occurred_at=_occurred_at(
                    envelope, done.create_time if done.HasField("create_time") else None
                ),
            )
        elif envelope.event_type == CHECKOUT_REFUNDED:
            refunded = unpack(envelope, wallet_events.CheckoutRefunded)
            await spend.record_refund(
                session,
                envelope.tenant,
                event_id=envelope.event_id,
                member=refunded.member,
                checkout=refunded.checkout,
                refund=refunded.refund,
                store=refunded.store,
                qualifying_spend_minor=refunded.qualifying_spend_minor,
                full=refunded.full,
                currency_code=refunded.currency_code,
                occurred_at=_occurred_at(envelope, None),
            )
        else:
            # Subscribed by subject, so only when a producer mislabels an event; nothing to do.
            log.info("members.event_ignored", event_type=envelope.event_type, event_id=envelope.event_id)

    return handle


def wallet_events_consumer(engine: AsyncEngine, js: JetStreamContext, **options) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=WALLET_DURABLE,
        stream_service=WALLET_STREAM_SERVICE,
        subjects=WALLET_SUBJECTS,
        handler=wallet_events_handler(),
        **options,
    )
