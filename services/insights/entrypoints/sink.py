"""Writes events as fact rows: one batch insert per table per consumer batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from kit.messaging.envelope import EventEnvelope
from services.insights.adapters.warehouse import Warehouse
from services.insights.domain.facts import FACT_COLUMNS, LINE_COLUMNS, facts_of

_KIND, _TENANT, _STORE, _AT, _MEMBER, _SUBJECT, _QUANTITY, _LABEL, _REF_TIME, _SEQ = (
    FACT_COLUMNS.index(c)
    for c in (
        "kind",
        "tenant",
        "store",
        "occurred_at",
        "member",
        "subject",
        "quantity",
        "label",
        "ref_time",
        "seq",
    )
)
_POINTS_KINDS = frozenset({"PointsEarned", "PointsRedeemed", "PointsExpired"})
MEMBER_ROLLUP_COLUMNS = ("tenant", "member", "store", "visits", "points_last")
MEMBER_MONTHS_COLUMNS = ("tenant", "member", "months", "edges")
APPOINTMENTS_COLUMNS = ("tenant", "store", "appointment", "latest", "cancelled")
_APPOINTMENT_VERSIONS = frozenset({"AppointmentBooked", "AppointmentRescheduled"})
_NO_VERSION = ("1970-01-01 00:00:00.000", 0, "1970-01-01 00:00:00.000", "")  # below every real one
_EDGE = timedelta(hours=14)  # the widest zone offset: nearer a UTC month boundary, the local month may differ


def member_rollup_rows(facts: Sequence[tuple]) -> list[tuple]:
    """The member rollup's rows for a batch of fact rows (see schema._MEMBER_ROLLUP)."""
    rows = []
    for f in facts:
        if not f[_MEMBER]:
            continue
        if f[_KIND] == "CheckoutCompleted":
            # DateTime64(3) text -> whole seconds (flooring never leaves the local day)
            rows.append((f[_TENANT], f[_MEMBER], f[_STORE], [f[_AT][:19]], (0, 0)))
        elif f[_KIND] in _POINTS_KINDS:
            rows.append((f[_TENANT], f[_MEMBER], "", [], (f[_SEQ], f[_QUANTITY])))
    return rows


def member_months_rows(facts: Sequence[tuple]) -> list[tuple]:
    """The member months' rows for a batch of fact rows (see schema._MEMBER_MONTHS)."""
    rows = []
    for f in facts:
        if f[_KIND] != "CheckoutCompleted" or not f[_MEMBER]:
            continue
        at = datetime.fromisoformat(f[_AT][:19])
        early, late = at - _EDGE, at + _EDGE
        if (early.year, early.month) == (late.year, late.month):
            rows.append((f[_TENANT], f[_MEMBER], [at.strftime("%Y-%m-01")], []))
        else:
            rows.append((f[_TENANT], f[_MEMBER], [], [(f[_STORE], f[_AT][:19])]))
    return rows


def appointment_rows(facts: Sequence[tuple]) -> list[tuple]:
    """The appointments table's rows for a batch of fact rows (see schema._APPOINTMENTS)."""
    rows = []
    for f in facts:
        if f[_KIND] in _APPOINTMENT_VERSIONS:
            latest = (f[_AT], f[_SEQ], f[_REF_TIME], f[_LABEL])
            rows.append((f[_TENANT], f[_STORE], f[_SUBJECT], latest, 0))
        elif f[_KIND] == "AppointmentCancelled":
            rows.append((f[_TENANT], f[_STORE], f[_SUBJECT], _NO_VERSION, 1))
    return rows


class FactSink:
    def __init__(self, warehouse: Warehouse, suffix: str = "") -> None:
        self._wh = warehouse
        self.facts = f"{warehouse.database}.facts{suffix}"
        self.lines = f"{warehouse.database}.checkout_lines{suffix}"
        self.member_rollup = f"{warehouse.database}.member_rollup{suffix}"
        self.member_months = f"{warehouse.database}.member_months{suffix}"
        self.appointments = f"{warehouse.database}.appointments{suffix}"

    @staticmethod
    def prepare(envelope: EventEnvelope, seq: int) -> tuple[tuple, list[tuple]]:
        return facts_of(envelope, seq)

    async def write(self, prepared: Sequence[object]) -> None:
        facts, lines = [], []
        for row, row_lines in prepared:  # type: ignore[misc]
            facts.append(row)
            lines.extend(row_lines)
        # Lines and rollups first: a crash between the inserts leaves no fact without its lines or
        # rollup, and the redelivery writes all again (facts and lines: same keys, merged away and
        # read FINAL; the rollups' aggregates are idempotent: set unions and maxima).
        await self._wh.insert(self.lines, LINE_COLUMNS, lines)
        await self._wh.insert(self.member_rollup, MEMBER_ROLLUP_COLUMNS, member_rollup_rows(facts))
        await self._wh.insert(self.member_months, MEMBER_MONTHS_COLUMNS, member_months_rows(facts))
        await self._wh.insert(self.appointments, APPOINTMENTS_COLUMNS, appointment_rows(facts))
        await self._wh.insert(self.facts, FACT_COLUMNS, facts)
