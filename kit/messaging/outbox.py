"""Writing events to the transactional outbox.

``add_to_outbox`` inserts the event in the caller's transaction (it never commits) and queues a
``pg_notify`` on the service's channel in that same transaction; PostgreSQL delivers notifications
only on commit, so the relay wakes exactly when the event becomes visible (and never for a
rolled-back one).

It also refuses an event its stream would refuse: an envelope whose message (payload plus NATS
headers) is larger than the service's event limit raises :class:`EventTooLarge`
(``INVALID_ARGUMENT``, reason ``EVENT_TOO_LARGE``) inside the caller's transaction, so the request
that produced it is rejected and writes nothing, instead of leaving a row no relay can ever
publish at the head of its aggregate.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.errors import InvalidArgument
from kit.messaging.envelope import EventEnvelope, subject_for

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EVENT_HEADROOM_BYTES",
    "HEADER_EVENT_TYPE",
    "HEADER_MSG_ID",
    "HEADER_TENANT",
    "NATS_DEFAULT_MAX_PAYLOAD",
    "EventTooLarge",
    "add_all_to_outbox",
    "add_to_outbox",
    "max_event_bytes",
    "message_size",
    "notify_channel",
    "outbox_rows",
    "purge_inbox",
    "purge_published",
    "set_max_event_bytes",
]

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_EVENT_TYPE = "Peony-Event-Type"
HEADER_TENANT = "Peony-Tenant"

# NATS refuses (and closes the connection of) a client that publishes more than the server's
# max_payload, 1 MiB unless the server is configured otherwise. What the relay adds to a row at
# publish time (its own span's traceparent/tracestate) must fit in the headroom, so an event
# accepted at write time always fits the stream (``max_msg_size`` = limit + headroom) and the server.
NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024
EVENT_HEADROOM_BYTES = 8 * 1024
DEFAULT_MAX_EVENT_BYTES = NATS_DEFAULT_MAX_PAYLOAD - EVENT_HEADROOM_BYTES

# Per service, set from PEONY_MAX_EVENT_BYTES when the service opens its backbone (kit.service).
_max_event_bytes: dict[str, int] = {}

_SERVICE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _check_service(service: str) -> str:
    if not _SERVICE.match(service):
        raise ValueError(f"invalid service name {service!r}: lowercase letters, digits and _")
    return service


def notify_channel(service: str) -> str:
    """The PostgreSQL NOTIFY channel the service's relay listens on: ``peony_outbox_<service>``."""
    return f"peony_outbox_{_check_service(service)}"


class EventTooLarge(InvalidArgument):
    """The request would produce an event larger than its stream accepts."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            message=f"the request would produce a {event_type} event of {size} bytes; events are "
            f"limited to {limit} bytes (make the request smaller)",
            reason="EVENT_TOO_LARGE",
        )
        self.metadata = {"event_type": event_type, "size": str(size), "limit": str(limit)}


def set_max_event_bytes(service: str, limit: int) -> None:
    """The largest event (payload + headers) ``service`` may write to its outbox."""
    if limit < 1024:
        raise ValueError("an event limit below 1 KiB leaves no room for an envelope")
    _max_event_bytes[_check_service(service)] = limit


def max_event_bytes(service: str) -> int:
    return _max_event_bytes.get(service, DEFAULT_MAX_EVENT_BYTES)


def message_size(payload: bytes, headers: Mapping[str, str]) -> int:
    """Bytes of a NATS message as the server counts them against max_payload and a stream's
    max_msg_size: the payload plus the header block (``NATS/1.0``, one ``key: value`` line each)."""
    if not headers:
        return len(payload)
    block = 10 + 2  # "NATS/1.0\r\n" ... "\r\n"
    for key, value in headers.items():
        block += len(str(key).encode()) + 2 + len(str(value).encode()) + 2
    return len(payload) + block


def _row(service: str, envelope: EventEnvelope, limit: int) -> dict:
    headers = {
        HEADER_MSG_ID: envelope.event_id,
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_TENANT: envelope.tenant,
    }
    if envelope.trace_parent:
        headers["traceparent"] = envelope.trace_parent
    if envelope.trace_state:
        headers["tracestate"] = envelope.trace_state
    payload = envelope.SerializeToString(deterministic=True)
    size = message_size(payload, headers)
    if size > limit:
        raise EventTooLarge(envelope.event_type, size, limit)
    return {
        "event_id": uuid.UUID(envelope.event_id),
        "tenant_id": envelope.tenant,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "subject": subject_for(service, envelope.event_type),
        "event_type": envelope.event_type,
        "payload": payload,
        "headers": headers,
    }


def outbox_rows(service: str, envelopes: list[EventEnvelope], *, max_bytes: int | None = None) -> list[dict]:
    """The outbox rows of ``envelopes`` (the relay's columns; ``seq`` and the times left to the
    database), for a caller that writes them itself in the same transaction as its change — e.g.
    one SQL function applying a whole command — and queues ``pg_notify(notify_channel(service))``.

    Raises :class:`EventTooLarge` as :func:`add_all_to_outbox` does."""
    limit = max_event_bytes(service) if max_bytes is None else max_bytes
    return [_row(service, e, limit) for e in envelopes]


async def add_to_outbox(
    session: AsyncSession, service: str, envelope: EventEnvelope, *, max_bytes: int | None = None
) -> None:
    """Insert ``envelope`` into ``service``'s outbox inside the caller's transaction (no commit)."""
    await add_all_to_outbox(session, service, [envelope], max_bytes=max_bytes)


async def add_all_to_outbox(
    session: AsyncSession, service: str, envelopes: list[EventEnvelope], *, max_bytes: int | None = None
) -> None:
    """Insert several envelopes with one statement (in order: ``seq`` follows the list) and one
    notification — a command that emits four events costs two round trips, not eight.

    Raises :class:`EventTooLarge` before writing anything when one of them is larger than
    ``max_bytes`` (default: the service's limit, :func:`max_event_bytes`).
    """
    if not envelopes:
        return
    rows = outbox_rows(service, envelopes, max_bytes=max_bytes)
    await session.execute(
        _ADD_AND_NOTIFY,
        {
            **{column: [row[column] for row in rows] for column in _ARRAY_COLUMNS},
            "headers": [json.dumps(row["headers"]) for row in rows],
            "channel": notify_channel(service),
        },
    )


# Any number of outbox rows and the relay's wake-up in ONE statement whose SQL text never changes
# (each column an array, ``unnest … WITH ORDINALITY`` makes the rows in the list's order, so
# ``seq`` follows it): prepared once per connection. A multi-row ``INSERT … VALUES`` is a new SQL
# text — compiled by SQLAlchemy and prepared by PostgreSQL again — for every distinct number of
# events, which a batch writer (notify's dispatcher: one event per message) pays on most batches.
# The NOTIFY is delivered on commit; several identical ones in a transaction fold into one.
_ARRAY_COLUMNS = (
    "event_id",
    "tenant_id",
    "aggregate_type",
    "aggregate_id",
    "subject",
    "event_type",
    "payload",
)
_ADD_AND_NOTIFY = text(
    """
    WITH added AS (
        INSERT INTO outbox (event_id, tenant_id, aggregate_type, aggregate_id, subject, event_type,
                            payload, headers)
        SELECT r.event_id, r.tenant_id, r.aggregate_type, r.aggregate_id, r.subject, r.event_type,
               r.payload, CAST(r.headers AS jsonb)
        FROM unnest(CAST(:event_id AS uuid[]), CAST(:tenant_id AS text[]), CAST(:aggregate_type AS text[]),
                    CAST(:aggregate_id AS text[]), CAST(:subject AS text[]), CAST(:event_type AS text[]),
                    CAST(:payload AS bytea[]), CAST(:headers AS text[]))
             WITH ORDINALITY AS r(event_id, tenant_id, aggregate_type, aggregate_id, subject, event_type,
                                  payload, headers, position)
        ORDER BY r.position
        RETURNING seq
    )
    SELECT pg_notify(:channel, '')
    """
)


async def purge_published(engine: AsyncEngine, *, older_than: timedelta, limit: int = 10_000) -> int:
    """Delete up to ``limit`` outbox rows published more than ``older_than`` ago; returns how many.

    Run it periodically (several replicas may: rows are locked with SKIP LOCKED).
    """
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE published_at IS NOT NULL"
                " AND published_at < now() - make_interval(secs => :secs)"
                " ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED)"
            ),
            {"secs": older_than.total_seconds(), "limit": limit},
        )
        return int(result.rowcount or 0)


async def purge_inbox(engine: AsyncEngine, *, older_than: timedelta, limit: int = 10_000) -> int:
    """Delete up to ``limit`` inbox rows processed more than ``older_than`` ago; returns how many.

    Keep them at least as long as a copy of the event can still arrive: the producing stream's
    ``max_age`` (30 days by default).
    """
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "DELETE FROM inbox WHERE (consumer, event_id) IN (SELECT consumer, event_id FROM inbox"
                " WHERE processed_at < now() - make_interval(secs => :secs) LIMIT :limit"
                " FOR UPDATE SKIP LOCKED)"
            ),
            {"secs": older_than.total_seconds(), "limit": limit},
        )
        return int(result.rowcount or 0)
