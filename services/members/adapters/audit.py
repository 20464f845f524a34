"""The PII audit trail: who read which member's unmasked personal data, and when.

Reads are the hottest path in the platform, so a read only appends to an in-memory batch; a
worker inserts batches every `flush_interval_s` (and on shutdown). A crash can lose at most the
last interval's records — the trade we make to keep an audit row write off every read.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.workers import PeriodicWorker
from services.members.adapters.tables import pii_access_log

COLUMNS = ["tenant_id", "actor", "member_id", "rpc", "trace_id", "read_at"]


class PiiAuditTrail(PeriodicWorker):
    name = "pii-audit"
    final_tick = True  # flush what is buffered when the service stops

    def __init__(self, engine: AsyncEngine, *, flush_interval_s: float = 0.5, max_batch: int = 20_000):
        super().__init__(interval_s=flush_interval_s)
        self._engine = engine
        self._max_batch = max_batch
        # Raw tuples: the read path pays for an append, the flush for everything else.
        self._pending: list[tuple[str, str, str, str, int, float]] = []

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

    async def tick(self) -> int:
        return await self.flush()
