"""Notify's event handler: one fact from another service in, zero or more queued messages out.

It runs inside the event consumer's transaction (``NotifyUnitOfWork.joined``): the inbox rows
and the message rows commit together — a fetched run of trigger events in ONE insert
(``handle_events``, the consumer's batch handler) — with no call to anything outside
the database — contacts, policy, rendering and the provider all happen later, in the dispatcher
(``dispatch``), when the message is due. So consuming is cheap and never waits on a provider.

Which events make which messages is the trigger table (``domain.triggers``); this code is the
same for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

# The event modules of the streams notify consumes: importing them registers their types.
from peony.booking.v1 import events_pb2 as _booking_events  # noqa: F401
from peony.members.v1 import events_pb2 as _members_events  # noqa: F401
from peony.notify.v1 import message_pb2
from peony.wallet.v1 import events_pb2 as _wallet_events  # noqa: F401
from sqlalchemy.ext.asyncio import AsyncSession

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventEnvelope
from services.notify.adapters.repository import add_messages
from services.notify.domain.context import event_context
from services.notify.domain.message import STATE_SENDING, Message, message_id_for
from services.notify.domain.triggers import AUDIENCE_STAFF, triggers_for
from services.notify.service_layer.unit_of_work import NotifyUnitOfWork

log = get_logger("peony.notify")


class InvalidEvent(ValueError):
    """An event that cannot be read, whatever we retry (dead-lettered by the consumer)."""


_CHANNEL_PROTO = {
    "sms": message_pb2.CHANNEL_SMS,
    "email": message_pb2.CHANNEL_EMAIL,
    "wechat": message_pb2.CHANNEL_WECHAT,
    "app_push": message_pb2.CHANNEL_APP_PUSH,
}


def channel_to_proto(channel: str) -> int:
    return _CHANNEL_PROTO.get(channel, message_pb2.CHANNEL_UNSPECIFIED)


def state_to_proto(state: str) -> int:
    if state == STATE_SENDING:  # an internal claim: to the API the message is still queued
        return message_pb2.MESSAGE_STATE_QUEUED
    return message_pb2.MessageState.Value(f"MESSAGE_STATE_{state.upper()}")


def decode_event(event_type: str, payload: bytes) -> ProtoMessage:
    try:
        cls = message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(event_type))
        return cls.FromString(payload)
    except (KeyError, DecodeError) as exc:
        raise InvalidEvent(f"cannot read a {event_type}: {exc}") from exc


def recipient_of(audience: str, value: object) -> str | None:
    """The recipient's resource name, when the event names a valid one."""
    collection = "stores" if audience == AUDIENCE_STAFF else "members"
    if isinstance(value, str) and parse_name(value, collection) is not None:
        return value
    return None


def messages_for(tenant: str, envelope: EventEnvelope, *, now: datetime) -> list[tuple[Message, str, bytes]]:
    """The queued messages (message, event type, event payload) the trigger table makes of one
    event; pure (no database), so a batch of events can be inserted at once."""
    triggers = triggers_for(envelope.event_type)
    if not triggers:
        return []
    event = decode_event(envelope.event_type, envelope.payload.value)
    fields = event_context(event)
    rows: list[tuple[Message, str, bytes]] = []
    for trigger in triggers:
        if not trigger.matches(fields):
            continue
        recipient = recipient_of(trigger.audience, fields.get(trigger.recipient))
        if recipient is None:
            # e.g. a complaint without a store: there is nobody to tell. Not an error of the event.
            log.info("notify.no_recipient", trigger=trigger.key, event_id=envelope.event_id)
            continue
        message = Message(
            message_id=message_id_for(tenant, envelope.event_id, trigger.key, recipient),
            recipient=recipient,
            trigger=trigger.key,
            trigger_event_id=envelope.event_id,
            purpose=trigger.purpose,
            due_time=now,
        )
        rows.append((message, envelope.event_type, envelope.payload.value))
    return rows


async def handle_event(uow: NotifyUnitOfWork, envelope: EventEnvelope, *, now: datetime) -> int:
    """Queues the messages the event triggers; returns how many were new."""
    return await uow.messages.add_many(messages_for(uow.tenant, envelope, now=now))


async def handle_events(session: AsyncSession, envelopes: Sequence[EventEnvelope], *, now: datetime) -> int:
    """``handle_event`` for a run of events (any tenants) in the consumer's transaction: every
    message of the run in ONE insert. An unreadable event raises ``InvalidEvent``: the consumer
    then applies the run's events one by one, so only that one is retried / dead-lettered."""
    rows: list[tuple[str, Message, str, bytes]] = []
    for envelope in envelopes:
        if not envelope.tenant:
            raise InvalidEvent(f"event {envelope.event_id} has no tenant")
        rows += [(envelope.tenant, *row) for row in messages_for(envelope.tenant, envelope, now=now)]
    return await add_messages(session, rows)


async def erase_member(uow: NotifyUnitOfWork, member: str) -> None:
    """MemberErased: forget what the member's messages say about them (``erase_recipient``)."""
    if parse_name(member, "members") is None:
        raise InvalidEvent(f"MemberErased names no member: {member!r}")
    await uow.messages.erase_recipient(member)
