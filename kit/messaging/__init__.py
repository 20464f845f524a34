"""Events between services: envelope, transactional outbox + relay, JetStream streams, inbox consumers.

Producer side: a handler's unit of work calls :func:`add_to_outbox` with a :func:`new_envelope` in
its own transaction; an :class:`OutboxRelay` per service publishes the committed rows to the
service's stream (:func:`ensure_stream`). Consumer side: an :class:`EventConsumer` runs a handler
with the inbox row in one transaction, retries with backoff and dead-letters.
"""

from kit.messaging.consumer import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_REASON,
    EventConsumer,
    EventHandler,
    UnparseableEvent,
)
from kit.messaging.envelope import (
    EnvelopeError,
    EventEnvelope,
    event_type_of,
    new_envelope,
    short_name,
    subject_for,
    unpack,
)
from kit.messaging.nats import connect
from kit.messaging.outbox import (
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    HEADER_TENANT,
    EventTooLarge,
    add_to_outbox,
    notify_channel,
    purge_inbox,
    purge_published,
)
from kit.messaging.relay import OutboxRelay, backoff_delay
from kit.messaging.streams import dlq_subject, ensure_stream, stream_name, stream_subjects
from kit.messaging.tables import inbox_table, outbox_table

__all__ = [
    "HEADER_DLQ_CONSUMER",
    "HEADER_DLQ_REASON",
    "HEADER_EVENT_TYPE",
    "HEADER_MSG_ID",
    "HEADER_TENANT",
    "EnvelopeError",
    "EventConsumer",
    "EventEnvelope",
    "EventHandler",
    "EventTooLarge",
    "OutboxRelay",
    "UnparseableEvent",
    "add_to_outbox",
    "backoff_delay",
    "connect",
    "dlq_subject",
    "ensure_stream",
    "event_type_of",
    "inbox_table",
    "new_envelope",
    "notify_channel",
    "outbox_table",
    "purge_inbox",
    "purge_published",
    "short_name",
    "stream_name",
    "stream_subjects",
    "subject_for",
    "unpack",
]
