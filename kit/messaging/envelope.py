"""Building and reading ``peony.events.v1.EventEnvelope``.

Every event Peony publishes is a protobuf message packed in an envelope that carries its id, type,
tenant, aggregate, time and the W3C trace context of the request that caused it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from opentelemetry import propagate
from peony.events.v1.envelope_pb2 import EventEnvelope

__all__ = [
    "EnvelopeError",
    "EventEnvelope",
    "event_type_of",
    "new_envelope",
    "short_name",
    "subject_for",
    "unpack",
]

M = TypeVar("M", bound=Message)

_SUBJECT_TOKEN_FORBIDDEN = frozenset(" \t\r\n.*>")


class EnvelopeError(ValueError):
    """An envelope (or an event name) is not what the caller expected."""


def event_type_of(event: Message | type[Message]) -> str:
    """The full protobuf name of an event message (or class), e.g. ``peony.members.v1.MemberRegistered``."""
    return str(event.DESCRIPTOR.full_name)


def short_name(event_type: str) -> str:
    """``peony.members.v1.MemberRegistered`` -> ``MemberRegistered``."""
    return event_type.rsplit(".", 1)[-1]


def _check_token(value: str, what: str) -> str:
    if not value or not _SUBJECT_TOKEN_FORBIDDEN.isdisjoint(value):
        raise EnvelopeError(f"{what} {value!r} cannot be a NATS subject token")
    return value


def subject_for(service: str, event_type: str) -> str:
    """The NATS subject of an event: ``peony.<service>.<EventName>``."""
    return f"peony.{_check_token(service, 'service')}.{_check_token(short_name(event_type), 'event name')}"


def new_envelope(
    event: Message,
    *,
    tenant: str,
    aggregate_type: str,
    aggregate_id: str,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> EventEnvelope:
    """Wrap ``event`` in an envelope with a fresh UUID and the current span's trace context.

    ``occurred_at`` defaults to now; a naive datetime is taken as UTC.
    """
    if not tenant:
        raise EnvelopeError("an event needs a tenant")
    if not aggregate_type or not aggregate_id:
        raise EnvelopeError("an event needs an aggregate type and id")
    if event_id is None:
        event_id = str(uuid.uuid4())
    else:
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            raise EnvelopeError(f"event_id {event_id!r} is not a UUID") from None
    when = occurred_at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # the current span (a no-op without an SDK tracer provider)

    envelope = EventEnvelope(
        event_id=event_id,
        event_type=event_type_of(event),
        tenant=tenant,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        trace_parent=carrier.get("traceparent", ""),
        trace_state=carrier.get("tracestate", ""),
    )
    envelope.occurred_at.FromDatetime(when.astimezone(UTC))
    envelope.payload.Pack(event)
    return envelope


def unpack(envelope: EventEnvelope, message_cls: type[M]) -> M:
    """The envelope's payload as a ``message_cls``; :class:`EnvelopeError` when it holds something else."""
    expected = event_type_of(message_cls)
    if envelope.event_type and envelope.event_type != expected:
        raise EnvelopeError(f"event {envelope.event_id} is a {envelope.event_type}, not a {expected}")
    message = message_cls()
    if not envelope.payload.Unpack(message):
        raise EnvelopeError(
            f"event {envelope.event_id} carries a {envelope.payload.TypeName() or 'nothing'}, "
            f"not a {expected}"
        )
    return message
