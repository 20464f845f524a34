"""The PII audit trail: who read which member's unmasked personal data, and when.

Reads are the hottest path in the platform, so a read only appends to an in-memory batch; a
worker inserts batches every `flush_interval_s` (and on shutdown). A crash can lose at most the
last interval's records — the trade we make to keep an audit row write off every read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from services.members.adapters.tables import pii_access_log

log = get_logger("peony.audit")


COLUMNS = ["tenant_id", "actor", "member_id", "rpc", "trace_id", "read_at"]


class PiiAuditTrail:
    def __init__(self, engine: AsyncEngine, *, flush_interval_s: float = 0.5, max_batch: int = 20_000):
        self._engine = engine
        self._interval = flush_interval_s
        self._max_batch = max_batch
        # Raw tuples: the read path pays for an append, the flush for everything else.
        self._pending: list[tuple[str, str, str, str, int, float]] = []
        self._task: asyncio.Task[None] | None = None

    def record(self, *, tenant: str, actor: str, member_id: str, rpc: str) -> None:
        ctx = trace.get_current_span().get_span_context()
        self._pending.append((tenant, actor, member_id, rpc, ctx.trace_id, time.time()))

    async def flush(self) -> int:
        written = 0
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            records = [
                (
                    tenant,
                    actor,
                    uuid.UUID(member_id),
                    rpc,
                    f"{trace_id:032x}" if trace_id else "",
                    datetime.fromtimestamp(at, UTC),
                )
                for tenant, actor, member_id, rpc, trace_id, at in batch
            ]
            try:
                async with self._engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    # COPY: one round trip and no per-row statement work, for thousands of rows a second.
                    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                        pii_access_log.name, records=records, columns=COLUMNS
                    )
                    await conn.commit()
            except Exception:
                self._pending[:0] = batch  # keep them; the next flush retries
                raise
            written += len(batch)
        return written

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("could not write the PII audit trail; will retry", pending=len(self._pending))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pii-audit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
