"""Writes events as fact rows: one batch insert per table per consumer batch."""

from __future__ import annotations

from collections.abc import Sequence

from kit.messaging.envelope import EventEnvelope
from services.insights.adapters.warehouse import Warehouse
from services.insights.domain.facts import FACT_COLUMNS, LINE_COLUMNS, facts_of


class FactSink:
    def __init__(self, warehouse: Warehouse, suffix: str = "") -> None:
        self._wh = warehouse
        self.facts = f"{warehouse.database}.facts{suffix}"
        self.lines = f"{warehouse.database}.checkout_lines{suffix}"

    @staticmethod
    def prepare(envelope: EventEnvelope, seq: int) -> tuple[tuple, list[tuple]]:
        return facts_of(envelope, seq)

    async def write(self, prepared: Sequence[object]) -> None:
        facts, lines = [], []
        for row, row_lines in prepared:  # type: ignore[misc]
            facts.append(row)
            lines.extend(row_lines)
        # Lines first: a crash between the two inserts leaves no fact without its lines, and the
        # redelivery writes both again (same keys: merged away, read FINAL).
        await self._wh.insert(self.lines, LINE_COLUMNS, lines)
        await self._wh.insert(self.facts, FACT_COLUMNS, facts)
