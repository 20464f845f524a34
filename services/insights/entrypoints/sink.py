"""Writes events as fact rows: one batch insert per table per consumer batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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
MEMBER_POINTS_COLUMNS = ("tenant", "member", "points_last")
APPOINTMENTS_COLUMNS = ("tenant", "store", "appointment", "latest", "cancelled")
_APPOINTMENT_VERSIONS = frozenset({"AppointmentBooked", "AppointmentRescheduled"})
_EPOCH = "1970-01-01 00:00:00.000"
_NO_VERSION = (_EPOCH, 0, _EPOCH, "")  # below every real one
APPOINTMENT_MONTHS_COLUMNS = ("tenant", "month", "store", "appointment", "state")
_CANCELLED_VERSION = "2299-12-31 00:00:00.000"  # a cancellation's retraction beats every version
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


def member_points_rows(facts: Sequence[tuple]) -> list[tuple]:
    """The member points' rows for a batch of fact rows (see schema._MEMBER_POINTS)."""
    return [
        (f[_TENANT], f[_MEMBER], (f[_SEQ], f[_QUANTITY]))
        for f in facts
        if f[_MEMBER] and f[_KIND] in _POINTS_KINDS
    ]


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


AppointmentKey = tuple[str, str, str]  # tenant, store, appointment


@dataclass
class AppointmentState:
    """What the appointments rollup says of one appointment: its latest version (occurred_at,
    seq) and that version's start (None: no version seen), and whether it was cancelled."""

    version: tuple[str, int] | None
    start: str
    cancelled: bool


def _month(at: str) -> str:
    """The UTC month of a DateTime64(3) text (appointment_months' partition)."""
    return at[:7] + "-01"


def appointment_month_rows(
    facts: Sequence[tuple], current: dict[AppointmentKey, AppointmentState]
) -> list[tuple]:
    """The appointment_months rows for a batch of fact rows (see schema._APPOINTMENT_MONTHS), given
    ``current``: the state of the batch's appointments before it (updated in place, in order).

    A version older than the one known is stale (its months were already settled by the newer
    one) and writes nothing; the latest version known again (a redelivery) writes its live row
    again, the same row. A version that moves the appointment to another month retracts it from
    the month it leaves; a cancellation retracts it from the month it is in."""
    rows: list[tuple] = []
    for f in facts:
        kind = f[_KIND]
        if kind not in _APPOINTMENT_VERSIONS and kind != "AppointmentCancelled":
            continue
        tenant, store, appointment = key = (f[_TENANT], f[_STORE], f[_SUBJECT])
        state = current.get(key) or AppointmentState(None, "", False)
        if kind == "AppointmentCancelled":
            if state.version is not None:
                retraction = (_CANCELLED_VERSION, 0, 0, state.start, [])
                rows.append((tenant, _month(state.start), store, appointment, retraction))
            current[key] = AppointmentState(state.version, state.start, True)
            continue
        version = (f[_AT], int(f[_SEQ]))
        if state.cancelled or (state.version is not None and state.version > version):
            continue
        start = f[_REF_TIME]
        lines = [tuple(line) for line in json.loads(f[_LABEL])] if f[_LABEL] else []
        rows.append((tenant, _month(start), store, appointment, (*version, 1, start, lines)))
        if state.version is not None and _month(state.start) != _month(start):
            rows.append((tenant, _month(state.start), store, appointment, (*version, 0, state.start, [])))
        current[key] = AppointmentState(version, start, False)
    return rows


class FactSink:
    def __init__(self, warehouse: Warehouse, suffix: str = "") -> None:
        self._wh = warehouse
        self.facts = f"{warehouse.database}.facts{suffix}"
        self.lines = f"{warehouse.database}.checkout_lines{suffix}"
        self.member_rollup = f"{warehouse.database}.member_rollup{suffix}"
        self.member_months = f"{warehouse.database}.member_months{suffix}"
        self.member_points = f"{warehouse.database}.member_points{suffix}"
        self.appointments = f"{warehouse.database}.appointments{suffix}"
        self.appointment_months = f"{warehouse.database}.appointment_months{suffix}"

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
        await self._wh.insert(self.member_points, MEMBER_POINTS_COLUMNS, member_points_rows(facts))
        # appointment_months before the appointments rollup it reads its state from: a crash
        # between the two leaves the rollup as it was, so the redelivery writes the same rows.
        current = await self._appointment_states(facts)
        await self._wh.insert(
            self.appointment_months, APPOINTMENT_MONTHS_COLUMNS, appointment_month_rows(facts, current)
        )
        await self._wh.insert(self.appointments, APPOINTMENTS_COLUMNS, appointment_rows(facts))
        await self._wh.insert(self.facts, FACT_COLUMNS, facts)

    async def _appointment_states(self, facts: Sequence[tuple]) -> dict[AppointmentKey, AppointmentState]:
        """The appointments rollup's state of the batch's appointments (one point lookup per
        tenant: the rollup is ordered by tenant, store, appointment)."""
        wanted: dict[str, set[tuple[str, str]]] = {}
        for f in facts:
            if f[_KIND] in _APPOINTMENT_VERSIONS or f[_KIND] == "AppointmentCancelled":
                wanted.setdefault(f[_TENANT], set()).add((f[_STORE], f[_SUBJECT]))
        current: dict[AppointmentKey, AppointmentState] = {}
        # the table name is configuration; every value is a bound parameter. Only the version's
        # (time, seq, start) subcolumns are read, not its resource lines.
        lookup = (
            "SELECT store, appointment, max((latest.1, latest.2, latest.3)), max(cancelled)"  # noqa: S608
            f" FROM {self.appointments} WHERE tenant = {{tenant:String}}"
            " AND store IN {stores:Array(String)} AND appointment IN {appointments:Array(String)}"
            " GROUP BY store, appointment"
        )
        for tenant, pairs in wanted.items():
            rows = await self._wh.query(
                lookup,
                {
                    "tenant": tenant,
                    "stores": sorted({store for store, _ in pairs}),
                    "appointments": sorted({appointment for _, appointment in pairs}),
                },
            )
            for store, appointment, (at, seq, start), cancelled in rows:
                if (store, appointment) not in pairs:
                    continue
                version = None if at == _EPOCH and int(seq) == 0 else (at, int(seq))
                current[(tenant, store, appointment)] = AppointmentState(version, start, bool(int(cancelled)))
        return current
