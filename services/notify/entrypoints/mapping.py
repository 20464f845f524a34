"""Protobuf <-> domain translation for the notify API. No rules live here, only shapes."""

from __future__ import annotations

from peony.notify.v1 import message_pb2

from kit.errors import InvalidArgument
from kit.ids import parse_name
from kit.proto import ts
from services.notify.domain.message import Message
from services.notify.service_layer.handlers import channel_to_proto, state_to_proto


def require_message_id(name: str, field: str = "name") -> str:
    """`messages/{uuid}` -> the uuid, or INVALID_ARGUMENT naming the field."""
    message_id = parse_name(name, "messages", uuid=True)
    if message_id is None:
        raise InvalidArgument([(field, "must be a resource name of the form messages/{id}")])
    return message_id


def message_to_proto(m: Message) -> message_pb2.Message:
    return message_pb2.Message(
        name=m.name,
        recipient=m.recipient,
        channel=channel_to_proto(m.channel),  # type: ignore[arg-type]
        trigger=m.trigger,
        trigger_event_id=m.trigger_event_id,
        locale=m.locale,
        body=m.body,
        state=state_to_proto(m.state),  # type: ignore[arg-type]
        attempts=m.attempts,
        last_error=m.last_error,
        create_time=ts(m.create_time),
        send_time=ts(m.send_time),
    )
