"""Retention of the kit's bookkeeping tables, run inside every service process.

Published outbox rows, inbox rows and idempotency keys only matter for a while: the outbox until
JetStream has the event (kept a week for forensics), the inbox as long as a copy of an event can
still arrive (the producing stream's 30-day max age, plus margin), idempotency keys as long as a
client may still retry (30 days). Deletes run in small batches with SKIP LOCKED, so several
replicas can run this at once without blocking each other or the hot path.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.messaging.outbox import purge_inbox, purge_published
from kit.workers import PeriodicWorker

log = get_logger("peony.retention")

OUTBOX_RETENTION = timedelta(days=7)
INBOX_RETENTION = timedelta(days=35)
IDEMPOTENCY_RETENTION = timedelta(days=30)


async def purge_idempotency_keys(engine: AsyncEngine, *, older_than: timedelta, limit: int = 10_000) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys"
                " WHERE created_at < now() - make_interval(secs => :secs)"
                " LIMIT :limit FOR UPDATE SKIP LOCKED)"
            ),
            {"secs": older_than.total_seconds(), "limit": limit},
        )
        return int(result.rowcount or 0)


class RetentionWorker(PeriodicWorker):
    name = "retention"

    def __init__(self, engine: AsyncEngine, *, interval_s: float = 3600.0):
        super().__init__(interval_s=interval_s)
        self._engine = engine

    async def tick(self) -> dict[str, int]:
        return await self.run_once()

    async def run_once(self) -> dict[str, int]:
        removed = {"outbox": 0, "inbox": 0, "idempotency_keys": 0}
        for table, purge, keep in (
            ("outbox", purge_published, OUTBOX_RETENTION),
            ("inbox", purge_inbox, INBOX_RETENTION),
            ("idempotency_keys", purge_idempotency_keys, IDEMPOTENCY_RETENTION),
        ):
            while True:  # batches of 10k until nothing is left, so one run catches up after downtime
                n = await purge(self._engine, older_than=keep)
                removed[table] += n
                if n < 10_000:
                    break
        if any(removed.values()):
            log.info("retention purge", **removed)
        return removed
