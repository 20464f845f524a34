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


_SCALAR, _ENUM, _TIME, _NESTED, _MAP = range(5)


def _plan(descriptor: Descriptor) -> tuple[tuple[str, bool, int, dict[int, str] | None], ...]:
    """How to read each field of a message type — (name, repeated, kind, enum names) — worked out
    once per type (descriptor options and enum tables are slow to ask for every event)."""
    plan = _PLANS.get(descriptor)
    if plan is not None:
        return plan
    fields = []
    for fd in descriptor.fields:
        is_map = fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry
        names = None
        if is_map:
            kind = _MAP
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            kind = _TIME if fd.message_type.full_name == _TIMESTAMP else _NESTED
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            kind, names = _ENUM, {v.number: v.name for v in fd.enum_type.values}
        else:
            kind = _SCALAR
        fields.append((fd.name, fd.is_repeated and not is_map, kind, names))
    plan = _PLANS[descriptor] = tuple(fields)
    return plan


_PLANS: dict[Descriptor, tuple[tuple[str, bool, int, dict[int, str] | None], ...]] = {}


def _value(kind: int, names: dict[int, str] | None, value: Any) -> Any:
    if kind == _SCALAR:
        return value
    if kind == _TIME:
        if not value.seconds and not value.nanos:
            return None
        return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, UTC)
    if kind == _NESTED:
        return event_context(value)
    assert names is not None
    name = names.get(value)
    return name if name is not None else str(value)


def event_context(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, repeated, kind, names in _plan(message.DESCRIPTOR):
        raw = getattr(message, name)
        if kind == _MAP:
            out[name] = dict(raw)
        elif repeated:
            out[name] = [_value(kind, names, v) for v in raw]
        else:
            out[name] = _value(kind, names, raw)
    return out


def field_names(descriptor: Descriptor) -> frozenset[str]:
    return frozenset(fd.name for fd in descriptor.fields)
