"""Writing events to the transactional outbox.

``add_to_outbox`` inserts the event in the caller's transaction (it never commits) and queues a
``pg_notify`` on the service's channel in that same transaction; PostgreSQL delivers notifications
only on commit, so the relay wakes exactly when the event becomes visible (and never for a
rolled-back one).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.messaging.envelope import EventEnvelope, subject_for
from kit.messaging.tables import outbox_table

__all__ = [
    "HEADER_EVENT_TYPE",
    "HEADER_MSG_ID",
    "HEADER_TENANT",
    "add_all_to_outbox",
    "add_to_outbox",
    "notify_channel",
    "purge_inbox",
    "purge_published",
]

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_EVENT_TYPE = "Peony-Event-Type"
HEADER_TENANT = "Peony-Tenant"

_SERVICE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# A private MetaData: the statement only needs the table's name and columns.
_outbox = outbox_table(MetaData())


def _check_service(service: str) -> str:
    if not _SERVICE.match(service):
        raise ValueError(f"invalid service name {service!r}: lowercase letters, digits and _")
    return service


def notify_channel(service: str) -> str:
    """The PostgreSQL NOTIFY channel the service's relay listens on: ``peony_outbox_<service>``."""
    return f"peony_outbox_{_check_service(service)}"


def _row(service: str, envelope: EventEnvelope) -> dict:
    headers = {
        HEADER_MSG_ID: envelope.event_id,
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_TENANT: envelope.tenant,
    }
    if envelope.trace_parent:
        headers["traceparent"] = envelope.trace_parent
    if envelope.trace_state:
        headers["tracestate"] = envelope.trace_state
    return {
        "event_id": uuid.UUID(envelope.event_id),
        "tenant_id": envelope.tenant,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "subject": subject_for(service, envelope.event_type),
        "event_type": envelope.event_type,
        "payload": envelope.SerializeToString(deterministic=True),
        "headers": headers,
    }


async def add_to_outbox(session: AsyncSession, service: str, envelope: EventEnvelope) -> None:
    """Insert ``envelope`` into ``service``'s outbox inside the caller's transaction (no commit)."""
    await add_all_to_outbox(session, service, [envelope])


async def add_all_to_outbox(session: AsyncSession, service: str, envelopes: list[EventEnvelope]) -> None:
    """Insert several envelopes with one statement (in order: ``seq`` follows the list) and one
    notification — a command that emits four events costs two round trips, not eight."""
    if not envelopes:
        return
    channel = notify_channel(service)
    await session.execute(_outbox.insert().values([_row(service, e) for e in envelopes]))
    # Delivered on commit; several identical notifications in one transaction fold into one.
    await session.execute(select(func.pg_notify(channel, "")))


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
