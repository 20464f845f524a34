"""Event consumers of the notify service: other services' facts in, messages out.

Each consumer is a kit ``EventConsumer`` (durable, explicit ack, inbox dedupe in the same
transaction as the handler's effect, backoff, dead letters); the handler here only dispatches by
event type to the service layer, on a unit of work that joins the consumer's transaction.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.logging import get_logger
from kit.messaging import EventConsumer, EventEnvelope, EventHandler, event_type_of, unpack
from services.notify.adapters.sinks import DeliverySink
from services.notify.domain.templates import TemplateBook
from services.notify.service_layer import handlers
from services.notify.service_layer.handlers import DEFAULT_TEMPLATES, InvalidEvent
from services.notify.service_layer.unit_of_work import SERVICE, NotifyUnitOfWork

log = get_logger("peony.notify.consumers")

MEMBERS_DURABLE = "notify-members-events"
MEMBERS_STREAM_SERVICE = "members"
MEMBER_REGISTERED = event_type_of(members_events.MemberRegistered)
MEMBERS_SUBJECTS = ["peony.members.MemberRegistered"]


def members_events_handler(sink: DeliverySink, templates: TemplateBook = DEFAULT_TEMPLATES) -> EventHandler:
    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        uow = NotifyUnitOfWork.joining(session, tenant=envelope.tenant, service=SERVICE)
        if envelope.event_type == MEMBER_REGISTERED:
            event = unpack(envelope, members_events.MemberRegistered)
            async with uow:
                await handlers.handle_member_registered(uow, envelope, event, sink=sink, templates=templates)
        else:
            # Subscribed by subject, so only when a producer mislabels an event; nothing to do.
            log.info("notify.event_ignored", event_type=envelope.event_type, event_id=envelope.event_id)

    return handle


def members_events_consumer(
    engine: AsyncEngine, js: JetStreamContext, sink: DeliverySink, **options
) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=MEMBERS_DURABLE,
        stream_service=MEMBERS_STREAM_SERVICE,
        subjects=MEMBERS_SUBJECTS,
        handler=members_events_handler(sink),
        **options,
    )
