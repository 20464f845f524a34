"""Notify's handlers: each turns one fact (an event from another service) into messages.

They run inside the event consumer's transaction (see ``unit_of_work.NotifyUnitOfWork.joining``):
the inbox row, the message row and the outbox row (``MessageSent`` / ``MessageFailed``) commit
together. Handlers never commit that transaction themselves.

Flow for one message:
  1. build it (template, locale, channel) with its deterministic id;
  2. insert it — ``ON CONFLICT DO NOTHING`` on (trigger event, channel, recipient): if it exists
     already, this trigger has been handled and we stop;
  3. deliver it through the sink (idempotent by message id, see ``adapters.sinks``);
  4. record the outcome (SENT + send_time, or FAILED) and emit the matching event.

Later triggers (balance changes, appointments, campaigns) slot in as further handlers; the
marketing rules (consent, quiet hours, frequency and spend caps) will sit between 1 and 3 and
leave a message QUEUED for a scheduler instead of delivering at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.members.v1 import events_pb2 as members_events
from peony.notify.v1 import events_pb2, message_pb2

from kit.ids import parse_name
from kit.logging import get_logger
from kit.messaging import EventEnvelope
from services.notify.adapters.sinks import Delivery, DeliveryError, DeliverySink
from services.notify.domain.message import Message
from services.notify.domain.templates import TemplateBook
from services.notify.domain.welcome import welcome_message
from services.notify.service_layer.unit_of_work import NotifyUnitOfWork

log = get_logger("peony.notify")

DEFAULT_TEMPLATES = TemplateBook()


class InvalidEvent(ValueError):
    """An event that cannot produce a message, whatever we retry (dead-lettered by the consumer)."""


def channel_to_proto(channel: str) -> int:
    return message_pb2.Channel.Value(f"CHANNEL_{channel.upper()}")


def state_to_proto(state: str) -> int:
    return message_pb2.MessageState.Value(f"MESSAGE_STATE_{state.upper()}")


async def handle_member_registered(
    uow: NotifyUnitOfWork,
    envelope: EventEnvelope,
    event: members_events.MemberRegistered,
    *,
    sink: DeliverySink,
    templates: TemplateBook = DEFAULT_TEMPLATES,
) -> Message | None:
    """Welcome a new member. Returns the message, or None when this registration was handled before."""
    if parse_name(event.member, "members") is None:
        raise InvalidEvent(f"MemberRegistered {envelope.event_id} has no valid member name")
    message = welcome_message(
        templates,
        tenant=uow.tenant,
        trigger_event_id=envelope.event_id,
        recipient=event.member,
        display_name=event.display_name,
        member_number=event.member_number,
    )
    return await _send(uow, message, sink)


async def _send(uow: NotifyUnitOfWork, message: Message, sink: DeliverySink) -> Message | None:
    if not await uow.messages.add(message):
        # At most one message per (trigger event, channel, recipient): it exists, so it was sent
        # (or failed) by an earlier handling of this trigger. Nothing more to do.
        log.info("notify.message_exists", message=message.name, trigger=message.trigger)
        return None
    now = datetime.now(UTC)
    delivery = Delivery(
        message=message.name,
        tenant=uow.tenant,
        recipient=message.recipient,
        channel=message.channel,
        trigger=message.trigger,
        trigger_event_id=message.trigger_event_id,
        body=message.body,
        sent_at=now,
    )
    try:
        fresh = await sink.deliver(delivery)
    except DeliveryError as exc:
        if not exc.permanent:
            raise  # the consumer rolls back and retries with backoff, then dead-letters
        message.mark_failed(str(exc))
        await uow.messages.save_delivery(message)
        uow.emit(
            events_pb2.MessageFailed(
                message=message.name,
                recipient=message.recipient,
                channel=channel_to_proto(message.channel),
                trigger=message.trigger,
                error=message.last_error,
            ),
            aggregate_type="message",
            aggregate_id=message.message_id,
        )
        await uow.commit()
        log.warning("notify.message_failed", message=message.name, channel=message.channel)
        return message
    if not fresh:
        # Delivered by an earlier attempt whose transaction never committed (crash in between):
        # the sink recognised the id and did not send it again. Record it as sent now.
        log.info("notify.redelivery_suppressed", message=message.name)
    message.mark_sent(now)
    await uow.messages.save_delivery(message)
    uow.emit(
        events_pb2.MessageSent(
            message=message.name,
            recipient=message.recipient,
            channel=channel_to_proto(message.channel),
            trigger=message.trigger,
            trigger_event_id=message.trigger_event_id,
        ),
        aggregate_type="message",
        aggregate_id=message.message_id,
    )
    await uow.commit()
    log.info("notify.message_sent", message=message.name, channel=message.channel, trigger=message.trigger)
    return message
