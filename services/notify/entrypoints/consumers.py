"""Event consumers of the notify service: the other services' facts in, queued messages out.

One kit ``EventConsumer`` per producing service (durable, explicit ack, inbox dedupe in the same
transaction as the handler's effect, backoff, dead letters), subscribed to exactly the event
types some trigger uses (``domain.triggers``). The handler is the same for every event: queue
the trigger table's messages (``service_layer.handlers.handle_event``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.messaging import EventConsumer, EventEnvelope, EventHandler
from services.notify.domain.triggers import subjects
from services.notify.service_layer.handlers import InvalidEvent, handle_event
from services.notify.service_layer.unit_of_work import SERVICE, NotifyUnitOfWork

STREAMS = ("members", "wallet", "booking")
MEMBERS_STREAM_SERVICE = "members"


def durable_for(stream: str) -> str:
    return f"notify-{stream}-events"


def events_handler() -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        uow = NotifyUnitOfWork.joined(session, tenant=envelope.tenant, service=SERVICE)
        await handle_event(uow, envelope, now=datetime.now(UTC))

    return handle


def events_consumer(engine: AsyncEngine, js: JetStreamContext, stream: str, **options) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=durable_for(stream),
        stream_service=stream,
        subjects=subjects(stream),
        handler=events_handler(),
        **options,
    )
