"""The storage adapter's contract, run against every backend: chDB in-process always, a ClickHouse
server when PEONY_CLICKHOUSE_URL names one (skipped otherwise). Same SQL, same answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest

from services.insights.adapters.schema import VERSIONS, create_tables, migrate, swap_in
from services.insights.adapters.warehouse import ChdbWarehouse, ServerWarehouse, Warehouse
from services.insights.domain.catalogue import Period
from services.insights.domain.facts import FACT_COLUMNS
from services.insights.entrypoints.sink import APPOINTMENT_MONTHS_COLUMNS, FactSink, appointment_month_rows
from services.insights.service_layer.queries import MetricQueries, Scope
from tests.integration.insights.conftest import CHDB_DIR

SERVER_URL = os.environ.get("PEONY_CLICKHOUSE_URL", "")


@pytest.fixture(params=["chdb", "server"])
async def warehouse(request) -> AsyncIterator[Warehouse]:
    database = f"contract_{uuid.uuid4().hex[:8]}"
    if request.param == "server":
        if not SERVER_URL:
            pytest.skip("PEONY_CLICKHOUSE_URL is not set: no ClickHouse server to run the contract against")
        base = SERVER_URL.rsplit("/", 1)[0] if SERVER_URL.count("/") > 2 else SERVER_URL
        wh: Warehouse = await ServerWarehouse(f"{base}/{database}").open()
    else:
        wh = await ChdbWarehouse(CHDB_DIR, database).open()
    try:
        yield wh
    finally:
        await wh.command(f"DROP DATABASE IF EXISTS {database}")
        await wh.close()


def fact(event_id: str, *, tenant: str = "t", member: str = "", amount: int = 0, label: str = "") -> tuple:
    return (
        tenant,
        "CheckoutCompleted",
        "stores/s1",
        "2026-01-02 03:04:05.678",
        event_id,
        member,
        "",
        amount,
        0,
        0,
        0,
        0,
        label,
        "1970-01-01 00:00:00.000",
        1,
    )


async def test_ddl_is_versioned_and_idempotent(warehouse):
    latest = max(v for v, _ in VERSIONS)
    assert await migrate(warehouse) == latest
    assert await migrate(warehouse) == latest
    rows = await warehouse.query(f"SELECT version FROM {warehouse.database}.schema_versions FINAL ORDER BY 1")
    assert rows == [(v,) for v, _ in VERSIONS]


def points_fact(event_id: str, seq: int, available: int, member: str = "members/m1") -> tuple:
    row = list(fact(event_id, member=member))
    row[FACT_COLUMNS.index("kind")] = "PointsEarned"
    row[FACT_COLUMNS.index("store")] = ""
    row[FACT_COLUMNS.index("quantity")] = available
    row[FACT_COLUMNS.index("seq")] = seq
    return tuple(row)


async def member_rollup(warehouse: Warehouse) -> list[tuple]:
    return await warehouse.query(
        "SELECT member, store, arraySort(groupUniqArrayArray(visits)), max(points_last)"
        f" FROM {warehouse.database}.member_rollup GROUP BY member, store ORDER BY member, store"
    )


async def test_upgrade_to_the_member_rollup_backfills_it_from_stored_facts(warehouse):
    """Facts stored under schema version 1 appear in the rollup that version 2 adds."""
    db = warehouse.database
    await warehouse.command(
        f"CREATE TABLE {db}.schema_versions (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for statement in VERSIONS[0][1]:
        await warehouse.command(statement.format(db=db, suffix=""))
    await warehouse.command(f"INSERT INTO {db}.schema_versions (version) VALUES (1)")
    facts = [
        fact(str(uuid.uuid4()), member="members/m1", amount=100),
        points_fact(str(uuid.uuid4()), seq=7, available=30),
        points_fact(str(uuid.uuid4()), seq=9, available=12),
    ]
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, facts)
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, facts[:1])  # a redelivered copy
    assert await migrate(warehouse) == max(v for v, _ in VERSIONS)
    assert await member_rollup(warehouse) == [
        ("members/m1", "", [], [9, 12]),
        ("members/m1", "stores/s1", ["2026-01-02 03:04:05"], [0, 0]),
    ]


async def test_member_rollup_ignores_redelivered_events(warehouse):
    """The sink writes the rollup before the facts; a batch written three times counts once."""
    await migrate(warehouse)
    sink = FactSink(warehouse)
    batch = [
        (fact(str(uuid.uuid4()), member="members/m1"), []),
        (points_fact(str(uuid.uuid4()), seq=9, available=12), []),
        (points_fact(str(uuid.uuid4()), seq=7, available=30), []),  # older: not the balance
    ]
    for _ in range(3):
        await sink.write(batch)
    assert await member_rollup(warehouse) == [
        ("members/m1", "", [], [9, 12]),
        ("members/m1", "stores/s1", ["2026-01-02 03:04:05"], [0, 0]),
    ]


async def test_inserts_and_bound_parameters_round_trip_any_text(warehouse):
    await migrate(warehouse)
    tricky = ["O'Brien \\ 张三", "a,b\nc", "]'; DROP TABLE x; --"]
    ids = [str(uuid.uuid4()) for _ in tricky]
    await warehouse.insert(
        f"{warehouse.database}.facts",
        FACT_COLUMNS,
        [fact(i, label=t, amount=n) for n, (i, t) in enumerate(zip(ids, tricky, strict=True))],
    )
    rows = await warehouse.query(
        f"SELECT label, amount_minor FROM {warehouse.database}.facts FINAL"
        " WHERE tenant = {t:String} AND label IN {labels:Array(String)} ORDER BY amount_minor",
        {"t": "t", "labels": tricky},
    )
    assert rows == [(t, n) for n, t in enumerate(tricky)]


async def test_a_second_write_of_an_event_is_counted_once(warehouse):
    await migrate(warehouse)
    event_id = str(uuid.uuid4())
    for _ in range(3):  # redelivered twice
        await warehouse.insert(f"{warehouse.database}.facts", FACT_COLUMNS, [fact(event_id, amount=500)])
    rows = await warehouse.query(
        f"SELECT count(), sum(amount_minor) FROM {warehouse.database}.facts FINAL WHERE tenant = 't'"
    )
    assert [tuple(map(int, r)) for r in rows] == [(1, 500)]


async def test_swap_makes_the_rebuilt_tables_live(warehouse):
    await migrate(warehouse)
    await warehouse.insert(f"{warehouse.database}.facts", FACT_COLUMNS, [fact(str(uuid.uuid4()), amount=1)])
    await create_tables(warehouse, "_rebuild")
    await warehouse.insert(
        f"{warehouse.database}.facts_rebuild", FACT_COLUMNS, [fact(str(uuid.uuid4()), amount=7)]
    )
    await swap_in(warehouse, "_rebuild")
    rows = await warehouse.query(f"SELECT sum(amount_minor) FROM {warehouse.database}.facts FINAL")
    assert int(rows[0][0]) == 7
    tables = await warehouse.query(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": warehouse.database},
    )
    assert ("facts_rebuild",) not in tables


async def test_member_months_keep_visits_near_a_month_boundary_exact(warehouse):
    """A visit 20:00 UTC on 31 Jan is February in Shanghai: it stays an exact time (``edges``);
    a mid-month visit is its month. Written three times, counted once."""
    await migrate(warehouse)
    sink = FactSink(warehouse)
    late_january = list(fact(str(uuid.uuid4()), member="members/m1"))
    late_january[FACT_COLUMNS.index("occurred_at")] = "2026-01-31 20:00:00.000"
    batch = [(fact(str(uuid.uuid4()), member="members/m1"), []), (tuple(late_january), [])]
    for _ in range(3):
        await sink.write(batch)
    rows = await warehouse.query(
        "SELECT member, arraySort(groupUniqArrayArray(months)), groupUniqArrayArray(edges)"
        f" FROM {warehouse.database}.member_months GROUP BY member"
    )
    assert rows == [("members/m1", ["2026-01-01"], [["stores/s1", "2026-01-31 20:00:00"]])]


def appointment_fact(kind: str, appointment: str, *, at: str, seq: int, start: str, lines: str = "") -> tuple:
    row = list(fact(str(uuid.uuid4())))
    row[FACT_COLUMNS.index("kind")] = kind
    row[FACT_COLUMNS.index("subject")] = appointment
    row[FACT_COLUMNS.index("occurred_at")] = at
    row[FACT_COLUMNS.index("seq")] = seq
    row[FACT_COLUMNS.index("ref_time")] = start
    row[FACT_COLUMNS.index("label")] = lines
    return tuple(row)


APPOINTMENT_EVENTS = [
    appointment_fact(
        "AppointmentBooked",
        "a1",
        at="2026-01-02 03:04:05.000",
        seq=1,
        start="2026-01-09 02:00:00.000",
        lines='[["staff/x","staff",1767924000000,60]]',
    ),
    # the same millisecond: the stream sequence decides which version is the latest
    appointment_fact(
        "AppointmentRescheduled",
        "a1",
        at="2026-01-03 00:00:00.000",
        seq=5,
        start="2026-01-10 02:00:00.000",
        lines='[["staff/y","staff",1768010400000,45]]',
    ),
    appointment_fact(
        "AppointmentRescheduled",
        "a1",
        at="2026-01-03 00:00:00.000",
        seq=4,
        start="2026-01-11 02:00:00.000",
        lines='[["staff/z","staff",1768096800000,30]]',
    ),
    appointment_fact(
        "AppointmentBooked",
        "a2",
        at="2026-01-02 04:00:00.000",
        seq=2,
        start="2026-01-09 04:00:00.000",
        lines='[["room/r","room",1767931200000,90]]',
    ),
    appointment_fact(
        "AppointmentCancelled", "a2", at="2026-01-04 00:00:00.000", seq=6, start="2026-01-09 04:00:00.000"
    ),
]


async def appointments(warehouse: Warehouse) -> list[tuple]:
    return await warehouse.query(
        "SELECT appointment, tupleElement(latest, 3), tupleElement(latest, 4), cancelled"
        f" FROM {warehouse.database}.appointments FINAL ORDER BY appointment"
    )


EXPECTED_APPOINTMENTS = [
    ("a1", "2026-01-10 02:00:00.000", '[["staff/y","staff",1768010400000,45]]', 0),
    ("a2", "2026-01-09 04:00:00.000", '[["room/r","room",1767931200000,90]]', 1),
]


async def test_appointments_rollup_keeps_the_latest_version_whatever_the_order_and_copies(warehouse):
    """Written by the sink out of order, each batch three times: one row per appointment, its
    latest version by (occurred_at, seq), cancelled once any cancellation arrived."""
    await migrate(warehouse)
    db = warehouse.database
    await warehouse.command(f"SYSTEM STOP MERGES {db}.appointments")  # every write stays a part
    sink = FactSink(warehouse)
    for _ in range(3):
        for event in reversed(APPOINTMENT_EVENTS):
            await sink.write([(event, [])])
    assert await appointments(warehouse) == EXPECTED_APPOINTMENTS
    # utilisation's filters run after FINAL folded the parts: on the appointment as a whole
    # (a1's older versions start on the 9th and the 11th, its latest on the 10th; a2 is cancelled)
    kept = await warehouse.query(
        f"SELECT appointment FROM {db}.appointments FINAL WHERE cancelled = 0"
        " AND tupleElement(latest, 3) >= toDateTime64('2026-01-10 00:00:00', 3, 'UTC')"
        " AND tupleElement(latest, 3) < toDateTime64('2026-01-11 00:00:00', 3, 'UTC')"
    )
    assert kept == [("a1",)]
    unfolded = await warehouse.query(f"SELECT count() FROM {db}.appointments WHERE cancelled = 0")
    assert unfolded[0][0] > 1


async def test_upgrade_to_the_appointments_rollup_backfills_it_from_stored_facts(warehouse):
    """Facts stored before schema version 4 (a redelivered copy among them) appear in its rollup."""
    db = warehouse.database
    await warehouse.command(
        f"CREATE TABLE {db}.schema_versions (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for version, statements in VERSIONS[:3]:
        for statement in statements:
            await warehouse.command(statement.format(db=db, suffix=""))
        await warehouse.command(f"INSERT INTO {db}.schema_versions (version) VALUES ({version})")
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, APPOINTMENT_EVENTS)
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, APPOINTMENT_EVENTS[1:2])
    assert await migrate(warehouse) == max(v for v, _ in VERSIONS)
    assert await appointments(warehouse) == EXPECTED_APPOINTMENTS


# An appointment moved across UTC months and back, and one moved then cancelled (stream order).
MONTH_MOVES = [
    appointment_fact(
        "AppointmentBooked",
        "a3",
        at="2026-01-05 00:00:00.000",
        seq=10,
        start="2026-01-30 09:00:00.000",
        lines='[["staff/x","staff",1769763600000,60],["room/r","room",1769763600000,60]]',
    ),
    appointment_fact(
        "AppointmentRescheduled",
        "a3",
        at="2026-01-06 00:00:00.000",
        seq=11,
        start="2026-02-02 09:00:00.000",
        lines='[["staff/x","staff",1770022800000,60]]',
    ),
    appointment_fact(
        "AppointmentBooked",
        "a4",
        at="2026-01-06 00:00:00.000",
        seq=12,
        start="2026-02-10 09:00:00.000",
        lines='[["staff/y","staff",1770714000000,30]]',
    ),
    appointment_fact(
        "AppointmentRescheduled",
        "a3",
        at="2026-01-07 00:00:00.000",
        seq=13,
        start="2026-01-31 09:00:00.000",
        lines='[["staff/z","staff",1769850000000,45]]',
    ),
    appointment_fact(
        "AppointmentRescheduled",
        "a4",
        at="2026-01-08 00:00:00.000",
        seq=14,
        start="2026-03-03 09:00:00.000",
        lines='[["staff/y","staff",1772528400000,30]]',
    ),
    appointment_fact(
        "AppointmentCancelled", "a4", at="2026-01-09 00:00:00.000", seq=15, start="2026-03-03 09:00:00.000"
    ),
]
# Only a3's latest version, in its month; a4 (cancelled) nowhere; every month it left retracted.
EXPECTED_LIVE_MONTHS = [("2026-01-01", "a3", [["staff/z", "staff", 1769850000000, 45]])]


async def live_months(warehouse: Warehouse) -> list[tuple]:
    return await warehouse.query(
        "SELECT toString(month), appointment, tupleElement(state, 5)"
        f" FROM {warehouse.database}.appointment_months FINAL WHERE tupleElement(state, 3) = 1"
        " ORDER BY month, appointment"
    )


async def test_appointment_months_follow_reschedules_across_months_and_cancellations(warehouse):
    """Each event its own batch, every batch delivered twice, then all of them redelivered (stale
    versions after newer ones): one live row, in the month of the latest version."""
    await migrate(warehouse)
    db = warehouse.database
    await warehouse.command(f"SYSTEM STOP MERGES {db}.appointment_months")  # every write stays a part
    sink = FactSink(warehouse)
    for event in MONTH_MOVES:
        await sink.write([(event, [])])
        await sink.write([(event, [])])
    assert await live_months(warehouse) == EXPECTED_LIVE_MONTHS
    for event in MONTH_MOVES:
        await sink.write([(event, [])])
    await sink.write([(event, []) for event in reversed(MONTH_MOVES)])
    assert await live_months(warehouse) == EXPECTED_LIVE_MONTHS
    unfolded = await warehouse.query(
        f"SELECT count() FROM {db}.appointment_months WHERE tupleElement(state, 3) = 1"
    )
    assert unfolded[0][0] > 1  # the older live rows are still there, retracted by newer ones


async def test_appointment_months_in_one_batch_and_after_a_crash_between_inserts(warehouse):
    """All events in one batch give the same rows; so does a batch whose appointment_months rows
    were written before a crash (the appointments rollup not yet), then redelivered whole."""
    await migrate(warehouse)
    sink = FactSink(warehouse)
    first, rest = MONTH_MOVES[:2], MONTH_MOVES[2:]
    await sink.write([(event, []) for event in first])
    # the crash: rest's appointment_months rows only, computed from the state the sink reads
    state = await sink._appointment_states(rest)
    await warehouse.insert(
        sink.appointment_months, APPOINTMENT_MONTHS_COLUMNS, appointment_month_rows(rest, state)
    )
    await sink.write([(event, []) for event in rest])  # the redelivery
    assert await live_months(warehouse) == EXPECTED_LIVE_MONTHS


async def test_upgrade_to_appointment_months_backfills_it_from_the_appointments_rollup(warehouse):
    """Appointments stored before schema version 5 appear in their latest version's month."""
    db = warehouse.database
    await warehouse.command(
        f"CREATE TABLE {db}.schema_versions (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for version, statements in VERSIONS[:4]:
        for statement in statements:
            await warehouse.command(statement.format(db=db, suffix=""))
        await warehouse.command(f"INSERT INTO {db}.schema_versions (version) VALUES ({version})")
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, MONTH_MOVES)
    await warehouse.command(VERSIONS[3][1][1].format(db=db, suffix=""))  # v4's backfill of the rollup
    assert await migrate(warehouse) == max(v for v, _ in VERSIONS)
    assert await live_months(warehouse) == EXPECTED_LIVE_MONTHS


async def member_points(warehouse: Warehouse) -> list[tuple]:
    return await warehouse.query(
        f"SELECT member, max(points_last) FROM {warehouse.database}.member_points"
        " GROUP BY member ORDER BY member"
    )


async def test_member_points_keep_the_latest_balance_whatever_the_order_and_copies(warehouse):
    """Points liability's table: the balance after each member's latest points event, a batch
    written three times and an older event after a newer one changing nothing."""
    await migrate(warehouse)
    sink = FactSink(warehouse)
    batch = [
        (points_fact(str(uuid.uuid4()), seq=9, available=12), []),
        (points_fact(str(uuid.uuid4()), seq=7, available=30), []),  # older: not the balance
        (points_fact(str(uuid.uuid4()), seq=3, available=5, member="members/m2"), []),
    ]
    for _ in range(3):
        await sink.write(batch)
    assert await member_points(warehouse) == [("members/m1", [9, 12]), ("members/m2", [3, 5])]


async def test_upgrade_to_member_points_backfills_it_from_the_member_rollup(warehouse):
    """Balances stored before schema version 6 (in member_rollup) appear in member_points."""
    db = warehouse.database
    await warehouse.command(
        f"CREATE TABLE {db}.schema_versions (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for version, statements in VERSIONS[:5]:
        for statement in statements:
            await warehouse.command(statement.format(db=db, suffix=""))
        await warehouse.command(f"INSERT INTO {db}.schema_versions (version) VALUES ({version})")
    facts = [
        points_fact(str(uuid.uuid4()), seq=7, available=30),
        points_fact(str(uuid.uuid4()), seq=9, available=12),
    ]
    await warehouse.insert(f"{db}.facts", FACT_COLUMNS, facts)
    await warehouse.command(VERSIONS[1][1][1].format(db=db, suffix=""))  # v2's backfill of member_rollup
    assert await migrate(warehouse) == max(v for v, _ in VERSIONS)
    assert await member_points(warehouse) == [("members/m1", [9, 12])]


async def test_booked_minutes_cached_per_month_follow_every_later_write(warehouse):
    """Utilisation's booked minutes are cached per month while the month's partition is unchanged:
    a reschedule written after a cached answer moves the minutes at once, and a rebuild's swapped
    tables (another table, its own parts) are never answered from the old cache."""
    await migrate(warehouse)
    sink = FactSink(warehouse)
    metric_queries = MetricQueries(warehouse)
    scope = Scope("t", None, "", Period(date(2026, 1, 1), date(2026, 3, 31)), "month", {}, "UTC")
    await sink.write([(event, []) for event in MONTH_MOVES[:2]])  # a3 booked on Jan 30, moved to Feb 2
    moved = {(date(2026, 2, 1), "stores/s1", "staff/x", "staff"): 60}
    assert await metric_queries._booked_minutes(scope) == moved
    assert await metric_queries._booked_minutes(scope) == moved  # from the cache
    await sink.write([(MONTH_MOVES[3], [])])  # a3 moved back to Jan 31
    back = {(date(2026, 1, 1), "stores/s1", "staff/z", "staff"): 45}
    assert await metric_queries._booked_minutes(scope) == back
    # a rebuild: a fresh table set filled with the first two events only, swapped in
    await create_tables(warehouse, "_rebuild")
    await FactSink(warehouse, "_rebuild").write([(event, []) for event in MONTH_MOVES[:2]])
    await swap_in(warehouse, "_rebuild")
    assert await metric_queries._booked_minutes(scope) == moved
