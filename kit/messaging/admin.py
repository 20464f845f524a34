"""Inspecting and repairing a service's outbox (what `peony outbox ...` runs).

Parked rows are events the relay could never publish as they are (see ``kit.messaging.relay``);
``retry_parked`` puts them back in line once the cause is fixed (a stream's limit raised, say).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.messaging.outbox import notify_channel
from kit.telemetry import OutboxStats

__all__ = ["OutboxRow", "find_row", "outbox_stats", "parked_rows", "retry_parked"]


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: str
    event_type: str
    tenant_id: str
    aggregate_type: str
    aggregate_id: str
    subject: str
    size: int
    attempts: int
    rejections: int
    created_at: datetime
    published_at: datetime | None
    parked_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    headers: dict[str, str]

    @property
    def state(self) -> str:
        if self.published_at is not None:
            return "published"
        return "parked" if self.parked_at is not None else "pending"


_COLUMNS = (
    "seq, event_id::text AS event_id, event_type, tenant_id, aggregate_type, aggregate_id, subject,"
    " octet_length(payload) AS size, attempts, rejections, created_at, published_at, parked_at,"
    " next_attempt_at, last_error, headers"
)


def _row(r) -> OutboxRow:  # r: a SQLAlchemy Row
    return OutboxRow(**{**r._mapping, "headers": dict(r.headers or {})})


async def outbox_stats(engine: AsyncEngine) -> OutboxStats:
    """Unpublished rows waiting (and the oldest's time) and parked rows."""
    async with engine.connect() as conn:
        r = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending,"
                    " min(created_at) FILTER (WHERE parked_at IS NULL) AS oldest,"
                    " count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked"
                    " FROM outbox WHERE published_at IS NULL"
                )
            )
        ).one()
    return OutboxStats(pending=r.pending, oldest_pending_at=r.oldest, parked=r.parked)


async def parked_rows(engine: AsyncEngine, *, limit: int = 100) -> list[OutboxRow]:
    """The parked rows, oldest first."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608 - constant column list
                " WHERE published_at IS NULL AND parked_at IS NOT NULL ORDER BY seq LIMIT :n"
            ),
            {"n": limit},
        )
        return [_row(r) for r in result]


async def find_row(engine: AsyncEngine, event_id: str) -> OutboxRow | None:
    """The outbox row of ``event_id`` (a UUID), or None."""
    async with engine.connect() as conn:
        r = (
            await conn.execute(
                text(f"SELECT {_COLUMNS} FROM outbox WHERE event_id = :id"),  # noqa: S608
                {"id": uuid.UUID(event_id)},
            )
        ).one_or_none()
    return None if r is None else _row(r)


async def retry_parked(engine: AsyncEngine, service: str, event_id: str | None = None) -> int:
    """Un-park ``event_id`` (or every parked row when None): the relay tries it again at once,
    with a fresh count of rejections. Returns how many rows were un-parked."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "UPDATE outbox SET parked_at = NULL, rejections = 0, next_attempt_at = now()"
                " WHERE published_at IS NULL AND parked_at IS NOT NULL"
                " AND (CAST(:id AS uuid) IS NULL OR event_id = CAST(:id AS uuid))"
            ),
            {"id": None if event_id is None else str(uuid.UUID(event_id))},
        )
        count = int(result.rowcount or 0)
        if count:
            await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(service)})
    return count
