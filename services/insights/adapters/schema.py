"""Versioned DDL of the insights tables, run by the service at start (``migrate``).

Each version is a list of statements; ``schema_versions`` records the versions applied. A version
is never edited once released: a change is a new version (ALTER TABLE ... ADD COLUMN, a new table).
``{db}`` is the warehouse's database and ``{suffix}`` the table-set suffix: "" for the live tables,
``_rebuild`` for the set a rebuild fills before swapping it in.

Facts are ReplacingMergeTree tables whose sorting key ends in the event id: a redelivered event
writes a row with the same key, which merges away, and every query reads ``FINAL`` so a copy not
merged yet is never counted twice.
"""

from __future__ import annotations

from services.insights.adapters.warehouse import Warehouse

FACT_TABLES = (
    "facts",
    "checkout_lines",
    "member_rollup",
    "member_months",
    "appointments",
    "appointment_months",
    "member_points",
)

# One row per event: what every KPI counts. Columns are generic (amount, points, label...) and
# their meaning per event kind is in services/insights/domain/facts.py.
_FACTS = """
CREATE TABLE IF NOT EXISTS {db}.facts{suffix} (
    tenant LowCardinality(String),
    kind LowCardinality(String),
    store String,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID,
    member String,
    subject String,
    amount_minor Int64,
    amount2_minor Int64,
    points Int64,
    quantity Int64,
    flag UInt8,
    label String,
    ref_time DateTime64(3, 'UTC'),
    seq UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant, kind, store, occurred_at, event_id)
"""

# One row per checkout line (revenue by item/category/staff).
_LINES = """
CREATE TABLE IF NOT EXISTS {db}.checkout_lines{suffix} (
    tenant LowCardinality(String),
    store String,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID,
    line_no UInt16,
    checkout String,
    member String,
    item String,
    category String,
    staff String,
    quantity Int32,
    net_minor Int64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant, store, occurred_at, event_id, line_no)
"""

# Per (tenant, member, store): what the member-level KPIs need, pre-aggregated at insert time so
# retention and points liability read one row per member instead of every fact. Both columns are
# IDEMPOTENT aggregates (a set union and a max), so a redelivered event added twice changes
# nothing: no FINAL, no dedup needed, and the sink may write this table before the facts.
#   visits:      the member's checkout times at the store (UTC, second precision: any zone's
#                local day/month is exact at query time)
#   points_last: (stream seq, points available after) of the member's latest points event; the
#                max of the tuple is the latest (same rule as argMax(quantity, seq) over the facts)
_MEMBER_ROLLUP = """
CREATE TABLE IF NOT EXISTS {db}.member_rollup{suffix} (
    tenant LowCardinality(String),
    member String,
    store String,
    visits SimpleAggregateFunction(groupUniqArrayArray, Array(DateTime('UTC'))),
    points_last SimpleAggregateFunction(max, Tuple(UInt64, Int64))
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, member, store)
"""

# Fills the member rollup from facts already stored (schema upgrade, and the benchmark's facts
# generated straight into the table). Idempotent aggregates: re-running it changes nothing.
_MEMBER_ROLLUP_BACKFILL = """
INSERT INTO {db}.member_rollup{suffix} (tenant, member, store, visits, points_last)
SELECT tenant, member, if(kind = 'CheckoutCompleted', store, ''),
    groupUniqArrayIf(toDateTime(occurred_at, 'UTC'), kind = 'CheckoutCompleted'),
    max(if(kind = 'CheckoutCompleted', (toUInt64(0), toInt64(0)), (seq, quantity)))
FROM {db}.facts{suffix} FINAL
WHERE member != '' AND kind IN ('CheckoutCompleted', 'PointsEarned', 'PointsRedeemed', 'PointsExpired')
GROUP BY tenant, member, if(kind = 'CheckoutCompleted', store, '')
SETTINGS do_not_merge_across_partitions_select_final = 1
"""

# Per (tenant, member), all stores: the months the member visited, for retention cohorts over the
# whole chain (one row per member instead of one per member and store). Idempotent (set unions).
# A visit's local month equals its UTC month in every zone (offsets -12 h..+14 h) unless the visit
# is within 14 h of a UTC month boundary: those few keep their (store, exact time) in ``edges`` and
# get their local month at query time, so the figure stays exact in any zone.
_MEMBER_MONTHS = """
CREATE TABLE IF NOT EXISTS {db}.member_months{suffix} (
    tenant LowCardinality(String),
    member String,
    months SimpleAggregateFunction(groupUniqArrayArray, Array(Date)),
    edges SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, DateTime('UTC'))))
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, member)
"""

_MEMBER_MONTHS_BACKFILL = """
INSERT INTO {db}.member_months{suffix} (tenant, member, months, edges)
SELECT tenant, member, groupUniqArrayIf(toStartOfMonth(toDate(at, 'UTC')), NOT edge),
    groupUniqArrayIf((store, at), edge)
FROM (SELECT tenant, member, store, toDateTime(occurred_at, 'UTC') AS at,
        toStartOfMonth(at - INTERVAL 14 HOUR) != toStartOfMonth(at + INTERVAL 14 HOUR) AS edge
    FROM {db}.facts{suffix} FINAL WHERE kind = 'CheckoutCompleted' AND member != ''
    SETTINGS do_not_merge_across_partitions_select_final = 1)
GROUP BY tenant, member
"""

# Per (tenant, store, appointment): its latest booking/reschedule and whether it was ever
# cancelled, for utilisation's booked minutes (one row per appointment once merged, instead of an
# argMax over every version of every appointment in the facts). Both columns are IDEMPOTENT
# aggregates (max), so a redelivered event changes nothing and no FINAL is needed:
#   latest:    max of (occurred_at, stream seq, start, resource lines) over the appointment's
#              AppointmentBooked/Rescheduled: the latest version (same order as
#              argMax(label, (occurred_at, seq)) over the facts); a cancellation adds the minimum
#   cancelled: 1 once an AppointmentCancelled arrived
_APPOINTMENTS = """
CREATE TABLE IF NOT EXISTS {db}.appointments{suffix} (
    tenant LowCardinality(String),
    store String,
    appointment String,
    latest SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), UInt64, DateTime64(3, 'UTC'), String)),
    cancelled SimpleAggregateFunction(max, UInt8)
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, store, appointment)
"""

_APPOINTMENTS_BACKFILL = """
INSERT INTO {db}.appointments{suffix} (tenant, store, appointment, latest, cancelled)
SELECT tenant, store, subject,
    max(if(kind = 'AppointmentCancelled',
        (toDateTime64(0, 3, 'UTC'), toUInt64(0), toDateTime64(0, 3, 'UTC'), ''),
        (occurred_at, seq, ref_time, label))),
    max(toUInt8(kind = 'AppointmentCancelled'))
FROM {db}.facts{suffix}
WHERE kind IN ('AppointmentBooked', 'AppointmentRescheduled', 'AppointmentCancelled')
GROUP BY tenant, store, subject
"""

# Per (tenant, UTC start month, store, appointment): utilisation's booked minutes read only the
# period's months (partition and primary-key pruning) and typed resource lines (no JSON at query
# time), instead of every appointment of the tenant. An appointment's row sits in the month its
# latest version starts in; the sink keeps that true across reschedules and cancellations with
# RETRACTIONS: when a version moves the appointment out of a month (or a cancellation ends it),
# the sink writes a row with live = 0 in the month it left, carrying the newer version, so the
# max over the month's rows is the retraction. The sink learns the month an appointment is in
# from the appointments rollup above (read before the batch is written; the rollup is written
# after this table, so a redelivered batch sees the same state or its own version and writes the
# same rows again). ``state`` is an idempotent max, compared as a tuple:
#   (version time, stream seq, live, start, lines)
#   version = the booking/reschedule's (occurred_at, seq); a cancellation's retraction carries
#             2299-12-31 (above every version: a cancelled appointment stays cancelled)
#   live    = 1: the appointment's latest version starts this month; 0: retracted
#   lines   = [(resource, kind, start ms UTC, minutes)] (facts.py: the JSON label, typed)
_APPOINTMENT_MONTHS = """
CREATE TABLE IF NOT EXISTS {db}.appointment_months{suffix} (
    tenant LowCardinality(String),
    month Date,
    store String,
    appointment String,
    state SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), UInt64, UInt8, DateTime64(3, 'UTC'),
        Array(Tuple(String, String, Int64, Int64))))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (tenant, month, store, appointment)
"""

# From the appointments rollup (schema upgrade, the benchmark's generated facts, a rebuild's
# fresh tables): each appointment not cancelled, live in its latest version's start month.
_APPOINTMENT_MONTHS_BACKFILL = """
INSERT INTO {db}.appointment_months{suffix} (tenant, month, store, appointment, state)
SELECT tenant, toStartOfMonth(toDate(tupleElement(latest, 3), 'UTC')), store, appointment,
    (tupleElement(latest, 1), tupleElement(latest, 2), toUInt8(1), tupleElement(latest, 3),
     JSONExtract(tupleElement(latest, 4), 'Array(Tuple(String, String, Int64, Int64))'))
FROM {db}.appointments{suffix} FINAL
WHERE cancelled = 0 AND tupleElement(latest, 1) > toDateTime64(0, 3, 'UTC')
"""

# Per (tenant, member): the latest points balance, as member_rollup's store = '' rows hold it, in a
# table of its own so points liability reads one row per member (~1 M at the scale)
# instead of scanning member_rollup's ~16 M (member, store) rows for them. Idempotent max.
_MEMBER_POINTS = """
CREATE TABLE IF NOT EXISTS {db}.member_points{suffix} (
    tenant LowCardinality(String),
    member String,
    points_last SimpleAggregateFunction(max, Tuple(UInt64, Int64))
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, member)
"""

_MEMBER_POINTS_BACKFILL = """
INSERT INTO {db}.member_points{suffix} (tenant, member, points_last)
SELECT tenant, member, max(points_last) FROM {db}.member_rollup{suffix}
WHERE store = '' GROUP BY tenant, member
"""

VERSIONS: list[tuple[int, list[str]]] = [
    (1, [_FACTS, _LINES]),
    (2, [_MEMBER_ROLLUP, _MEMBER_ROLLUP_BACKFILL]),
    (3, [_MEMBER_MONTHS, _MEMBER_MONTHS_BACKFILL]),
    (4, [_APPOINTMENTS, _APPOINTMENTS_BACKFILL]),
    (5, [_APPOINTMENT_MONTHS, _APPOINTMENT_MONTHS_BACKFILL]),
    (6, [_MEMBER_POINTS, _MEMBER_POINTS_BACKFILL]),
]

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.schema_versions (version UInt32, applied_at DateTime DEFAULT now())
ENGINE = ReplacingMergeTree ORDER BY version
"""


def table(db: str, name: str, suffix: str = "") -> str:
    return f"{db}.{name}{suffix}"


async def backfill_rollups(warehouse: Warehouse, suffix: str = "") -> None:
    """Rollups from the facts already in the ``suffix`` table set (idempotent)."""
    for statement in (
        _MEMBER_ROLLUP_BACKFILL,
        _MEMBER_MONTHS_BACKFILL,
        _APPOINTMENTS_BACKFILL,
        _APPOINTMENT_MONTHS_BACKFILL,  # after the appointments rollup: it reads it
        _MEMBER_POINTS_BACKFILL,  # after the member rollup: it reads it
    ):
        await warehouse.command(statement.format(db=warehouse.database, suffix=suffix))


async def create_tables(warehouse: Warehouse, suffix: str = "") -> None:
    """Every version's statements for one table set (idempotent: IF NOT EXISTS)."""
    for _, statements in VERSIONS:
        for statement in statements:
            await warehouse.command(statement.format(db=warehouse.database, suffix=suffix))


async def migrate(warehouse: Warehouse) -> int:
    """Apply the versions not applied yet to the live tables; returns the schema version."""
    db = warehouse.database
    await warehouse.command(_VERSIONS_TABLE.format(db=db))
    applied = {int(v) for (v,) in await warehouse.query(f"SELECT version FROM {db}.schema_versions FINAL")}
    for version, statements in VERSIONS:
        if version in applied:
            continue
        for statement in statements:
            await warehouse.command(statement.format(db=db, suffix=""))
        await warehouse.command(
            f"INSERT INTO {db}.schema_versions (version) VALUES ({{v:UInt32}})", {"v": version}
        )
    return max(v for v, _ in VERSIONS)


async def drop_tables(warehouse: Warehouse, suffix: str) -> None:
    for name in FACT_TABLES:
        await warehouse.command(f"DROP TABLE IF EXISTS {table(warehouse.database, name, suffix)}")


async def swap_in(warehouse: Warehouse, suffix: str) -> None:
    """Make the ``suffix`` table set the live one (atomic per table), then drop the old set."""
    db = warehouse.database
    for name in FACT_TABLES:
        await warehouse.command(f"EXCHANGE TABLES {table(db, name)} AND {table(db, name, suffix)}")
    await drop_tables(warehouse, suffix)
