"""An event's fields as template variables: protobuf message -> plain Python values.

Timestamps become aware UTC datetimes (None when unset), enums their value names, nested
messages dicts, repeated fields lists. Templates see these as ``event.<field>``; which fields
exist is the event's descriptor, which is also what template validation checks against.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name


def _value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if fd.message_type.full_name == _TIMESTAMP:
            if not value.seconds and not value.nanos:
                return None
            return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, UTC)
        return event_context(value)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        enum_value = fd.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    return value


def event_context(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        raw = getattr(message, fd.name)
        if fd.is_repeated and not (
            fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry
        ):
            out[fd.name] = [_value(fd, v) for v in raw]
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
            out[fd.name] = dict(raw)
        else:
            out[fd.name] = _value(fd, raw)
    return out


def field_names(descriptor: Descriptor) -> frozenset[str]:
    return frozenset(fd.name for fd in descriptor.fields)
