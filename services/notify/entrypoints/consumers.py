"""Event consumers of the notify service: the other services' facts in, queued messages out.

One kit ``EventConsumer`` per producing service (durable, explicit ack, inbox dedupe in the same
transaction as the handler's effect, backoff, dead letters), subscribed to exactly the event
types some trigger uses (``domain.triggers``). The handler is the same for every event: queue
the trigger table's messages (``service_layer.handlers.handle_event``); a run of trigger events
in one fetched batch is queued with one insert (``handle_events``, a kit batch handler).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.messaging import EventConsumer, EventEnvelope, EventHandler
from kit.messaging.consumer import BatchHandler
from services.notify.domain.triggers import TRIGGERS, subjects
from services.notify.service_layer.handlers import (
    InvalidEvent,
    decode_event,
    erase_member,
    handle_event,
    handle_events,
)
from services.notify.service_layer.unit_of_work import SERVICE, NotifyUnitOfWork

STREAMS = ("members", "wallet", "booking")
MEMBERS_STREAM_SERVICE = "members"


def durable_for(stream: str) -> str:
    return f"notify-{stream}-events"


# Not a trigger: a member's erasure makes notify forget what it kept about them.
MEMBER_ERASED = members_events.MemberErased.DESCRIPTOR.full_name


def stream_subjects(stream: str) -> list[str]:
    """The trigger table's subjects of ``stream``, and members' MemberErased."""
    extra = (
        [f"peony.members.{members_events.MemberErased.DESCRIPTOR.name}"]
        if stream == MEMBERS_STREAM_SERVICE
        else []
    )
    return subjects(stream) + extra


def events_handler(forget_contact: Callable[[str, str], None] | None = None) -> EventHandler:
    """``forget_contact(tenant, member)`` drops a member's contact from the dispatcher's in-memory
    cache when the member is erased (this process's; another replica's expires by its TTL)."""

    async def handle(session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        uow = NotifyUnitOfWork.joined(session, tenant=envelope.tenant, service=SERVICE)
        if envelope.event_type == MEMBER_ERASED:
            erased = decode_event(envelope.event_type, envelope.payload.value)
            await erase_member(uow, erased.member)  # type: ignore[attr-defined]
            if forget_contact is not None:
                forget_contact(envelope.tenant, erased.member)  # type: ignore[attr-defined]
            return
        await handle_event(uow, envelope, now=datetime.now(UTC))

    return handle


async def _handle_many(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
    await handle_events(session, envelopes, now=datetime.now(UTC))


def batch_handlers() -> dict[str, BatchHandler]:
    """Every trigger event type: a run of them in one fetched batch is queued with one insert."""
    return {trigger.event_type: _handle_many for trigger in TRIGGERS}


def events_consumer(
    engine: AsyncEngine,
    js: JetStreamContext,
    stream: str,
    *,
    forget_contact: Callable[[str, str], None] | None = None,
    **options,
) -> EventConsumer:
    return EventConsumer(
        engine,
        js,
        service=SERVICE,
        durable=durable_for(stream),
        stream_service=stream,
        subjects=stream_subjects(stream),
        handler=events_handler(forget_contact),
        batch_handlers=batch_handlers(),
        **options,
    )
