"""The SQL of each metric in the catalogue, over the ``facts`` and ``checkout_lines`` tables.

Every value reaches ClickHouse as a bound parameter (``{name:Type}``); only identifiers (the
database and table names, from configuration) and fixed fragments are part of the SQL text.
Local days: each fact's day is taken in its store's IANA zone (facts without a store, e.g. points,
in the tenant's first store's zone, else Asia/Shanghai) with one ``multiIf`` branch per zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.errors import NotFound
from services.insights.adapters.warehouse import Warehouse
from services.insights.domain.catalogue import Metric, Period
from services.insights.domain.utilisation import (
    Availability,
    Schedules,
    room_minutes,
    staff_availability,
    staffed_availability,
)

DEFAULT_ZONE = "Asia/Shanghai"
# Booked minutes cached per (query, month): at most this many months' shares, each of at most this
# many (bucket, resource) rows (~100 bytes each: a dashboard's 12 months x 5,500 resources ~7 MB).
_BOOKED_CACHE_ENTRIES = 256
_BOOKED_CACHE_MONTH_ROWS = 20_000


def _valid_zone(name: str) -> str:
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_ZONE


@dataclass
class Scope:
    tenant: str
    stores: list[str] | None  # None: every store
    tier: str
    period: Period
    granularity: str  # total | day | week | month
    zones: dict[str, list[str]] = field(default_factory=dict)  # zone -> stores
    default_zone: str = DEFAULT_ZONE


def bucket_start(day: date, granularity: str, period: Period) -> date:
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return period.start


def buckets(period: Period, granularity: str) -> list[date]:
    out: list[date] = []
    day = period.start
    while day <= period.end:
        b = bucket_start(day, granularity, period)
        if not out or out[-1] != b:
            out.append(b)
        day += timedelta(days=1)
    return out


def _ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    """The q-quantile by the nearest-rank method (0 for no values)."""
    if not sorted_values:
        return 0
    return int(sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)])


def average_minor(total: int, count: int) -> int:
    """Average in whole minor units, halves rounded up."""
    return (2 * total + count) // (2 * count) if count else 0


class MetricQueries:
    def __init__(self, warehouse: Warehouse, suffix: str = "") -> None:
        self._wh = warehouse
        db = warehouse.database
        self.facts = f"{db}.facts{suffix}"
        self.lines = f"{db}.checkout_lines{suffix}"
        self.member_rollup = f"{db}.member_rollup{suffix}"
        self.member_months = f"{db}.member_months{suffix}"
        self.member_points = f"{db}.member_points{suffix}"
        self.appointments = f"{db}.appointments{suffix}"
        self.appointment_months = f"{db}.appointment_months{suffix}"
        # Available minutes of staff and rooms by query, while the tenant's schedule facts stay
        # the same (schedules change rarely; replaying years of them per call is the slow part).
        self._available_cache: dict[tuple, tuple[dict, dict]] = {}
        # Booked minutes by (query, UTC month): a month's figure stays valid while nothing is
        # inserted into its appointment_months partition (see _month_versions).
        self._booked_cache: dict[tuple, dict[tuple[date, str, str, str], int]] = {}

    async def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # A fact's copies share its event time, hence its month partition: FINAL need not merge
        # across partitions (much faster over years of facts, same answer).
        return await self._wh.query(f"{sql} SETTINGS do_not_merge_across_partitions_select_final = 1", params)

    # ------------------------------------------------------------------ scope

    async def store_zones(self, tenant: str) -> dict[str, str]:
        """Every store of the tenant the events told us about, with its current zone."""
        rows = await self._query(
            f"SELECT store, argMax(label, (occurred_at, seq)) FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind IN ('StoreCreated', 'StoreUpdated')"
            " GROUP BY store ORDER BY store",
            {"tenant": tenant},
        )
        return {store: _valid_zone(zone or DEFAULT_ZONE) for store, zone in rows}

    async def store_options(self, tenant: str) -> list[tuple[str, str, str]]:
        """(store, display name, zone) of every store of the tenant, for pickers."""
        rows = await self._query(
            f"SELECT store, argMax(subject, (occurred_at, seq)), argMax(label, (occurred_at, seq))"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
            " AND kind IN ('StoreCreated', 'StoreUpdated') GROUP BY store ORDER BY store",
            {"tenant": tenant},
        )
        return [(s, name, _valid_zone(zone or DEFAULT_ZONE)) for s, name, zone in rows]

    async def scope(
        self, tenant: str, stores: Sequence[str] | None, tier: str, period: Period, granularity: str
    ) -> Scope:
        known = await self.store_zones(tenant)
        if stores:
            missing = [s for s in stores if s not in known]
            if missing:
                raise NotFound(f"store {missing[0]} not found", reason="STORE_NOT_FOUND")
        zones: dict[str, list[str]] = {}
        for store, zone in known.items():
            zones.setdefault(zone, []).append(store)
        default = next(iter(known.values()), DEFAULT_ZONE)
        return Scope(tenant, list(stores) if stores else None, tier, period, granularity, zones, default)

    # ------------------------------------------------------------------ SQL pieces

    def _params(self, scope: Scope) -> dict[str, Any]:
        p: dict[str, Any] = {
            "tenant": scope.tenant,
            "start": scope.period.start.isoformat(),
            "end": scope.period.end.isoformat(),
            # UTC bounds wide enough for any zone (the local-day filter is exact)
            "utc_from": (scope.period.start - timedelta(days=1)).isoformat(),
            "utc_to": (scope.period.end + timedelta(days=2)).isoformat(),
            "stores": scope.stores or [],
            "tier": scope.tier,
            "default_zone": scope.default_zone,
        }
        for i, (zone, stores) in enumerate(sorted(scope.zones.items())):
            p[f"zone_{i}"] = zone
            p[f"zone_stores_{i}"] = stores
        return p

    def local_day(self, scope: Scope, time_col: str, store_col: str = "store") -> str:
        branches = []
        for i, _ in enumerate(sorted(scope.zones)):
            branches.append(f"{store_col} IN {{zone_stores_{i}:Array(String)}}")
            branches.append(f"toDate({time_col}, {{zone_{i}:String}})")
        fallback = f"toDate({time_col}, {{default_zone:String}})"
        return f"multiIf({', '.join([*branches, fallback])})" if branches else fallback

    def in_period(self, scope: Scope, time_col: str, store_col: str = "store") -> str:
        return (
            f"{time_col} >= toDateTime64({{utc_from:String}}, 3, 'UTC')"
            f" AND {time_col} < toDateTime64({{utc_to:String}}, 3, 'UTC')"
            f" AND {self.local_day(scope, time_col, store_col)}"
            " BETWEEN toDate({start:String}) AND toDate({end:String})"
        )

    def bucket(self, scope: Scope, time_col: str, store_col: str = "store") -> str:
        day = self.local_day(scope, time_col, store_col)
        return {
            "day": day,
            "week": f"toMonday({day})",
            "month": f"toStartOfMonth({day})",
        }.get(scope.granularity, "toDate({start:String})")

    def store_filter(self, scope: Scope, store_col: str = "store") -> str:
        return f" AND {store_col} IN {{stores:Array(String)}}" if scope.stores is not None else ""

    def member_tiers(self, until: str = "") -> str:
        """member -> current tier (registration tier, then each TierChanged, in stream order)."""
        cutoff = f" AND occurred_at <= {until}" if until else ""
        return (
            f"SELECT member, argMax(label, (occurred_at, seq)) AS tier FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind IN ('MemberRegistered', 'TierChanged')"
            f" AND label != ''{cutoff} GROUP BY member"
        )

    def tier_filter(self, scope: Scope, member_col: str = "member") -> str:
        if not scope.tier:
            return ""
        return (
            f" AND {member_col} IN (SELECT member FROM ({self.member_tiers()}) WHERE tier = {{tier:String}})"
        )

    def home_store_filter(self, scope: Scope, member_col: str = "member") -> str:
        """For facts without a store (points): members whose home store is in the scope."""
        if scope.stores is None:
            return ""
        return (
            f" AND {member_col} IN (SELECT member FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
            " AND kind = 'MemberRegistered' AND store IN {stores:Array(String)})"
        )

    async def _by_bucket(self, scope: Scope, sql: str, width: int) -> dict[date, list[int]]:
        rows = await self._query(sql, self._params(scope))
        return {date.fromisoformat(r[0]): [int(v or 0) for v in r[1 : 1 + width]] for r in rows}

    def _series(self, scope: Scope, found: dict[date, list[int]], width: int) -> list[tuple[date, list[int]]]:
        return [(b, found.get(b, [0] * width)) for b in buckets(scope.period, scope.granularity)]

    # ------------------------------------------------------------------ metrics

    async def rows(self, metric: Metric, scope: Scope) -> list[list[Any]]:
        return await getattr(self, f"_m_{metric.id}")(scope)

    async def _m_new_members(self, scope: Scope) -> list[list[Any]]:
        where = (
            f"tenant = {{tenant:String}} AND kind = 'MemberRegistered'{self.store_filter(scope)}"
            f"{self.tier_filter(scope)}"
        )
        b = self.bucket(scope, "occurred_at")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, count() FROM {self.facts} FINAL WHERE {where}"
            f" AND {self.in_period(scope, 'occurred_at')} GROUP BY b",
            1,
        )
        before_rows = await self._query(
            f"SELECT count() FROM {self.facts} FINAL WHERE {where}"
            f" AND {self.local_day(scope, 'occurred_at')} < toDate({{start:String}})",
            self._params(scope),
        )
        members = int(before_rows[0][0]) if before_rows else 0
        out = []
        for b, (new,) in self._series(scope, found, 1):
            out.append([b.isoformat(), new, members, _ratio(new, members)])
            members += new
        return out

    async def _m_member_revenue(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "occurred_at")
        tier = self.tier_filter(scope)
        # With a tier filter, "members" are that tier's members; walk-ins stay walk-ins.
        is_member = f"(member != ''{tier})" if tier else "member != ''"
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b,"
            f" sumIf(amount_minor, {is_member}), sumIf(amount_minor, member = ''),"
            f" countIf({is_member}), countIf(member = '')"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}} AND kind = 'CheckoutCompleted'"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'occurred_at')} GROUP BY b",
            4,
        )
        out = []
        for b_, (mem, non, mem_n, non_n) in self._series(scope, found, 4):
            out.append(
                [
                    b_.isoformat(),
                    mem,
                    non,
                    mem_n,
                    non_n,
                    average_minor(mem, mem_n),
                    average_minor(non, non_n),
                    _ratio(mem, mem + non),
                ]
            )
        return out

    async def _m_top_ups(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "occurred_at")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, count(), sum(amount_minor), sum(amount2_minor)"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}} AND kind = 'TopUpCompleted'"
            f"{self.store_filter(scope)}{self.tier_filter(scope)}"
            f" AND {self.in_period(scope, 'occurred_at')} GROUP BY b",
            3,
        )
        return [[b_.isoformat(), *v] for b_, v in self._series(scope, found, 3)]

    async def _m_points(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "occurred_at", "''")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, sumIf(points, kind = 'PointsEarned'),"
            " sumIf(points, kind = 'PointsRedeemed'), sumIf(points, kind = 'PointsExpired')"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
            " AND kind IN ('PointsEarned', 'PointsRedeemed', 'PointsExpired')"
            f"{self.home_store_filter(scope)}{self.tier_filter(scope)}"
            f" AND {self.in_period(scope, 'occurred_at', chr(39) * 2)} GROUP BY b",
            3,
        )
        return [[b_.isoformat(), *v, _ratio(v[1], v[0])] for b_, v in self._series(scope, found, 3)]

    async def _m_liability(self, scope: Scope) -> list[list[Any]]:
        params = self._params(scope)
        stored = await self._query(
            f"SELECT sum(amount_minor) FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'BalanceChanged'",
            params,
        )
        # Each member's points balance after their latest points event (stream order): the max
        # (seq, balance) of member_points, one row per member instead of every points fact.
        points = await self._query(
            "SELECT sum(last.2) FROM (SELECT member, max(points_last) AS last"
            f" FROM {self.member_points} WHERE tenant = {{tenant:String}} GROUP BY member)",
            params,
        )
        return [[int(stored[0][0] or 0), int(points[0][0] or 0)]]

    async def _m_bookings(self, scope: Scope) -> list[list[Any]]:
        # Outcomes by the appointment's start day (ref_time); booked by the booking's start too.
        b = self.bucket(scope, "ref_time")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, countIf(kind = 'AppointmentBooked'),"
            " countIf(kind = 'AppointmentCompleted'), countIf(kind = 'AppointmentNoShow'),"
            " countIf(kind = 'AppointmentCancelled'), countIf(kind = 'AppointmentCancelled' AND flag = 1)"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}} AND kind IN ('AppointmentBooked',"
            " 'AppointmentCompleted', 'AppointmentNoShow', 'AppointmentCancelled')"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'ref_time')} GROUP BY b",
            5,
        )
        return [[b_.isoformat(), *v, _ratio(v[2], v[1] + v[2])] for b_, v in self._series(scope, found, 5)]

    async def _m_retention(self, scope: Scope) -> list[list[Any]]:
        # One pass over the member rollup (one row per member and store, holding the visit
        # times), its visits array-joined so the local month is a plain column expression: each
        # member's set of local visit months; the cohort is the first of them.
        if scope.stores is None:
            # The whole chain: one row per member (member_months), the few visits near a UTC
            # month boundary placed in their store's local month here.
            edge_month = f"toStartOfMonth({self.local_day(scope, 'e.2', 'e.1')})"
            # FINAL folds a member's rows (set unions) in key order: ~5x faster than a GROUP BY
            # member hashing 1 M members at the scale (bench/README.md), same answer.
            per_member = (
                "SELECT member, arrayDistinct(arrayConcat(mm.months,"
                f" arrayMap(e -> {edge_month}, mm.edges))) AS months,"
                f" arrayMin(months) AS cohort FROM {self.member_months} AS mm FINAL"
                f" WHERE tenant = {{tenant:String}}{self.tier_filter(scope)}"
            )
        else:
            per_member = (
                f"SELECT member, groupUniqArray(toStartOfMonth({self.local_day(scope, 'visit')}))"
                f" AS months, arrayMin(months) AS cohort FROM {self.member_rollup} ARRAY JOIN visits AS visit"
                f" WHERE tenant = {{tenant:String}} AND store != ''{self.store_filter(scope)}"
                f"{self.tier_filter(scope)} GROUP BY member"
            )
        rows = await self._query(
            "SELECT toString(cohort) AS c, count(),"
            + ", ".join(f"countIf(has(months, addMonths(cohort, {k})))" for k in range(1, 7))
            + f" FROM ({per_member})"
            " WHERE cohort BETWEEN toStartOfMonth(toDate({start:String})) AND toDate({end:String})"
            " GROUP BY c ORDER BY c",
            self._params(scope),
        )
        out = []
        for r in rows:
            size = int(r[1])
            out.append([r[0], size, *(_ratio(int(x), size) for x in r[2:8])])
        return out

    async def _lines_by(self, scope: Scope, column: str) -> list[list[Any]]:
        rows = await self._query(
            f"SELECT {column} AS k, sum(net_minor), sum(quantity) FROM {self.lines} FINAL"
            f" WHERE tenant = {{tenant:String}}{self.store_filter(scope)}"
            f" AND {self.in_period(scope, 'occurred_at')} GROUP BY k ORDER BY sum(net_minor) DESC, k",
            self._params(scope),
        )
        return [[r[0], int(r[1]), int(r[2])] for r in rows]

    async def _m_revenue_by_category(self, scope: Scope) -> list[list[Any]]:
        return await self._lines_by(scope, "category")

    async def _m_revenue_by_staff(self, scope: Scope) -> list[list[Any]]:
        return await self._lines_by(scope, "staff")

    async def _m_tier_distribution(self, scope: Scope) -> list[list[Any]]:
        # Each bucket as of its end (the next bucket's first local day, or the day after the
        # period), in one pass: the buckets' ends are array-joined onto the tier events.
        starts = buckets(scope.period, scope.granularity)
        ends = [*starts[1:], scope.period.end + timedelta(days=1)]
        as_of = {e.isoformat(): s.isoformat() for s, e in zip(starts, ends, strict=True)}
        params = {**self._params(scope), "ends": list(as_of)}
        home = ""
        if scope.stores is not None:
            home = (
                f" AND member IN (SELECT member FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
                " AND kind = 'MemberRegistered' AND store IN {stores:Array(String)})"
            )
        rows = await self._query(
            "SELECT e, tier, count() FROM ("
            " SELECT e, member, argMax(label, (occurred_at, seq)) AS tier"
            f" FROM {self.facts} FINAL ARRAY JOIN {{ends:Array(String)}} AS e"
            " WHERE tenant = {tenant:String} AND kind IN ('MemberRegistered', 'TierChanged') AND label != ''"
            f" AND occurred_at < toDateTime64(e, 3, {{default_zone:String}}){home}"
            " GROUP BY e, member) GROUP BY e, tier ORDER BY e, tier",
            params,
        )
        return [[as_of[r[0]], r[1], int(r[2])] for r in rows]

    async def _m_referrals(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "r.occurred_at", "r.store")
        in_period = self.in_period(scope, "r.occurred_at", "r.store")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, count(), countIf(r.member IN (SELECT member FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'ReferralRewardEarned'))"
            f" FROM {self.facts} AS r FINAL WHERE r.tenant = {{tenant:String}}"
            " AND r.kind = 'MemberRegistered'"
            f" AND r.subject != ''{self.store_filter(scope, 'r.store')} AND {in_period} GROUP BY b",
            2,
        )
        return [[b_.isoformat(), *v, _ratio(v[1], v[0])] for b_, v in self._series(scope, found, 2)]

    async def _m_satisfaction(self, scope: Scope) -> list[list[Any]]:
        rows = await self._query(
            f"SELECT toString(quantity) AS r, count() FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'FeedbackSubmitted'"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'occurred_at')} GROUP BY r ORDER BY r",
            self._params(scope),
        )
        return [[r[0], int(r[1])] for r in rows]

    async def _m_revenue_by_service(self, scope: Scope) -> list[list[Any]]:
        return await self._lines_by(scope, "item")

    async def _m_visits(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "occurred_at")
        found = await self._by_bucket(
            scope,
            "SELECT b, count(), sum(n), countIf(n >= 2) FROM ("
            f" SELECT toString({b}) AS b, member, count() AS n FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'CheckoutCompleted' AND member != ''"
            f"{self.store_filter(scope)}{self.tier_filter(scope)} AND {self.in_period(scope, 'occurred_at')}"
            " GROUP BY b, member) GROUP BY b",
            3,
        )
        return [
            [b_.isoformat(), v[0], v[1], _ratio(v[1], v[0]), v[2], _ratio(v[2], v[0])]
            for b_, v in self._series(scope, found, 3)
        ]

    async def _m_lapsed_members(self, scope: Scope) -> list[list[Any]]:
        day = self.local_day(scope, "occurred_at")
        rows = await self._query(
            "SELECT countIf(last >= toDate({end:String}) - 89),"
            " countIf(last < toDate({end:String}) - 89) FROM ("
            f" SELECT member, max({day}) AS last FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'CheckoutCompleted' AND member != ''"
            f" AND {day} <= toDate({{end:String}}){self.home_store_filter(scope)}{self.tier_filter(scope)}"
            " GROUP BY member)",
            self._params(scope),
        )
        return [[int(rows[0][0]), int(rows[0][1])]]

    async def _m_packages(self, scope: Scope) -> list[list[Any]]:
        b = self.bucket(scope, "occurred_at")
        found = await self._by_bucket(
            scope,
            f"SELECT toString({b}) AS b, countIf(kind = 'PackageSold'),"
            " sumIf(amount_minor, kind = 'PackageSold'), sumIf(quantity, kind = 'PackageSessionConsumed'),"
            " sumIf(amount_minor, kind = 'PackageSessionConsumed')"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
            " AND kind IN ('PackageSold', 'PackageSessionConsumed')"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'occurred_at')} GROUP BY b",
            4,
        )
        return [[b_.isoformat(), *v] for b_, v in self._series(scope, found, 4)]

    async def _m_vouchers(self, scope: Scope) -> list[list[Any]]:
        params = self._params(scope)
        # Issued vouchers carry no store: they count for the member's home store.
        issued = await self._query(
            f"SELECT label, count() FROM {self.facts} FINAL WHERE tenant = {{tenant:String}}"
            f" AND kind = 'VoucherIssued'{self.home_store_filter(scope)}"
            f" AND {self.in_period(scope, 'occurred_at', chr(39) * 2)} GROUP BY label",
            params,
        )
        redeemed = await self._query(
            f"SELECT label, count(), sum(amount_minor) FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String}"
            f" AND kind = 'VoucherRedeemed'{self.store_filter(scope)}"
            f" AND {self.in_period(scope, 'occurred_at')} GROUP BY label",
            params,
        )
        out: dict[str, list[int]] = {}
        for label, n in issued:
            out.setdefault(label, [0, 0, 0])[0] = int(n)
        for label, n, discount in redeemed:
            row = out.setdefault(label, [0, 0, 0])
            row[1], row[2] = int(n), int(discount)
        return [[label, *v] for label, v in sorted(out.items())]

    async def _m_complaints(self, scope: Scope) -> list[list[Any]]:
        opened = await self._by_bucket(
            scope,
            f"SELECT toString({self.bucket(scope, 'occurred_at')}) AS b, count() FROM {self.facts} FINAL"
            " WHERE tenant = {tenant:String} AND kind = 'ComplaintOpened'"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'occurred_at')} GROUP BY b",
            1,
        )
        # Answers by the day their complaint was opened (ref_time); response times in seconds.
        rows = await self._query(
            f"SELECT toString({self.bucket(scope, 'ref_time')}) AS b,"
            " arraySort(groupArray(quantity)), sum(flag)"
            f" FROM {self.facts} FINAL WHERE tenant = {{tenant:String}} AND kind = 'ComplaintResolved'"
            f"{self.store_filter(scope)} AND {self.in_period(scope, 'ref_time')} GROUP BY b",
            self._params(scope),
        )
        answered = {date.fromisoformat(r[0]): ([int(x) for x in r[1]], int(r[2])) for r in rows}
        out = []
        for b_ in buckets(scope.period, scope.granularity):
            times, breaches = answered.get(b_, ([], 0))
            out.append(
                [
                    b_.isoformat(),
                    opened.get(b_, [0])[0],
                    len(times),
                    nearest_rank(times, 0.5),
                    nearest_rank(times, 0.9),
                    breaches,
                ]
            )
        return out

    # ------------------------------------------------------------------ utilisation

    def _bucket_ranges(self, scope: Scope) -> list[tuple[date, date, date]]:
        """(bucket key, first day, last day) of each bucket, clipped to the period."""
        starts = buckets(scope.period, scope.granularity)
        out = []
        for i, b in enumerate(starts):
            first = max(b, scope.period.start)
            last = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else scope.period.end
            out.append((b, first, min(last, scope.period.end)))
        return out

    async def _schedules(self, scope: Scope) -> Schedules:
        """Every schedule fact of the stores in scope, replayed in stream order. No FINAL: each
        fact is idempotent (a redelivered copy, next to the original in that order, changes nothing)."""
        zone_of = {s: z for z, stores in scope.zones.items() for s in stores}
        rows = await self._query(
            "SELECT kind, store, subject, flag, quantity, label, toUnixTimestamp64Milli(occurred_at)"
            f" FROM {self.facts} WHERE tenant = {{tenant:String}}"
            " AND kind IN ('StaffScheduleChanged', 'ScheduleExceptionChanged', 'RoomChanged')"
            f"{self.store_filter(scope)} ORDER BY occurred_at, seq",
            self._params(scope),
        )
        schedules = Schedules()
        for kind, store, subject, flag, quantity, label, at_ms in rows:
            zone = ZoneInfo(zone_of.get(store, scope.default_zone))
            day = datetime.fromtimestamp(int(at_ms) / 1000, UTC).astimezone(zone).date()
            schedules.apply(kind, store, subject, int(flag), int(quantity), label, day)
        return schedules

    def _booked_months(self, scope: Scope) -> list[date]:
        """The UTC months of appointment_months that can hold a service in the period: an
        appointment's start lies within a day of its services', the period's UTC bounds within a
        day of its local days."""
        first = (scope.period.start - timedelta(days=2)).replace(day=1)
        last = scope.period.end + timedelta(days=3)
        months = [first]
        while (months[-1].year, months[-1].month) < (last.year, last.month):
            months.append((months[-1] + timedelta(days=32)).replace(day=1))
        return months

    async def _month_versions(self) -> dict[str, tuple[str, int]]:
        """Per partition (YYYYMM) of appointment_months: (table uuid, highest block number of its
        active parts). Every insert into a partition makes a part with a higher block number; a
        merge keeps the highest, and a rebuild's swap brings another table (uuid). So a month whose
        version is unchanged holds the same rows as when its figure was cached."""
        database, name = self.appointment_months.split(".", 1)
        rows = await self._wh.query(
            "SELECT partition, toString(max(max_block_number)),"
            " toString((SELECT any(uuid) FROM system.tables"
            " WHERE database = {db:String} AND name = {t:String}))"
            " FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active"
            " GROUP BY partition",
            {"db": database, "t": name},
        )
        return {partition: (uuid, int(block)) for partition, block, uuid in rows}

    async def _booked_minutes(self, scope: Scope) -> dict[tuple[date, str, str, str], int]:
        """(bucket, store, resource, kind) -> minutes of the services of appointments not
        cancelled, as their latest booking or reschedule placed them, by the service's local start day.
        Reads appointment_months: only the period's UTC months (partition pruning), each
        appointment's typed lines in the month its latest version starts in (the sink retracts it
        from a month it left and on cancellation). Each month's share is cached while its
        partition is unchanged (_month_versions), so a call recomputes only the months written to
        since (under live ingest, the current one)."""
        versions = await self._month_versions()  # before the rows: a later insert only misses the cache
        query_key = (
            scope.tenant,
            tuple(scope.stores) if scope.stores is not None else None,
            scope.period,
            scope.granularity,
            tuple(sorted((z, tuple(s)) for z, s in scope.zones.items())),
            scope.default_zone,
        )
        out: dict[tuple[date, str, str, str], int] = {}
        missing: dict[date, tuple] = {}
        for month in self._booked_months(scope):
            key = (*query_key, month, versions.get(f"{month.year}{month.month:02d}"))
            cached = self._booked_cache.get(key)
            if cached is None:
                missing[month] = key
                continue
            for k, minutes in cached.items():
                out[k] = out.get(k, 0) + minutes
        if not missing:
            return out
        line_start = "fromUnixTimestamp64Milli(line.3, 'UTC')"
        rows = await self._query(
            f"SELECT toString(month) AS m, toString({self.bucket(scope, line_start)}) AS b, store,"
            " line.1 AS resource, line.2 AS resource_kind, sum(line.4)"
            # FINAL folds each (month, appointment)'s rows (parts not merged yet, redelivered
            # copies, retractions) into one before the WHERE (not moved to PREWHERE under FINAL),
            # so `live` is that of the appointment's latest row in the month.
            " FROM (SELECT month, store, tupleElement(state, 5) AS lines"
            f" FROM {self.appointment_months} FINAL"
            f" WHERE tenant = {{tenant:String}}{self.store_filter(scope)}"
            " AND month IN {months:Array(Date)} AND tupleElement(state, 3) = 1"
            # a service starts within a day of its appointment: a start +-1 day of the period bounds it
            " AND tupleElement(state, 4) >= toDateTime64({utc_from:String}, 3, 'UTC') - INTERVAL 1 DAY"
            " AND tupleElement(state, 4) < toDateTime64({utc_to:String}, 3, 'UTC') + INTERVAL 1 DAY)"
            " ARRAY JOIN lines AS line"
            f" WHERE {self.in_period(scope, line_start)} GROUP BY m, b, store, resource, resource_kind",
            {**self._params(scope), "months": [m.isoformat() for m in missing]},
        )
        found: dict[date, dict[tuple[date, str, str, str], int]] = {m: {} for m in missing}
        for m, b, store, r, k, minutes in rows:
            found[date.fromisoformat(m)][(date.fromisoformat(b), store, r, k)] = int(minutes)
        for month, shares in found.items():
            for k, minutes in shares.items():
                out[k] = out.get(k, 0) + minutes
            if (
                len(shares) <= _BOOKED_CACHE_MONTH_ROWS
            ):  # a month by day over thousands of resources is not kept
                if len(self._booked_cache) >= _BOOKED_CACHE_ENTRIES:
                    self._booked_cache.pop(next(iter(self._booked_cache)))
                self._booked_cache[missing[month]] = shares
        return out

    async def _utilisation(self, scope: Scope) -> list[tuple[date, str, str, str, int, int]]:
        """(bucket, store, resource, kind, booked, available) of every resource with either."""
        booked = await self._booked_minutes(scope)
        available, _ = await self._available_minutes(scope)
        out: dict[tuple[date, str, str, str], list[int]] = {key: [m, 0] for key, m in booked.items()}
        for key, minutes in available.items():
            out.setdefault(key, [0, 0])[1] = minutes
        return sorted((*key, booked_, available_) for key, (booked_, available_) in out.items())

    async def _available_minutes(
        self, scope: Scope
    ) -> tuple[dict[tuple[date, str, str, str], int], dict[tuple[date, str, str], int]]:
        """(bucket, store, resource, kind) -> available minutes, and their sums by (bucket, store,
        kind); cached until a schedule fact of the tenant arrives (their count and latest
        sequence are the cache key's version)."""
        version = await self._query(
            f"SELECT count(), max(seq), max(occurred_at) FROM {self.facts} WHERE tenant = {{tenant:String}}"
            " AND kind IN ('StaffScheduleChanged', 'ScheduleExceptionChanged', 'RoomChanged')",
            self._params(scope),
        )
        key = (
            scope.tenant,
            tuple(scope.stores) if scope.stores is not None else None,
            scope.period,
            scope.granularity,
            tuple(sorted((z, tuple(s)) for z, s in scope.zones.items())),
            scope.default_zone,
            tuple(version[0]) if version else (),
        )
        found = self._available_cache.get(key)
        if found is not None:
            return found
        schedules = await self._schedules(scope)
        staff_by_store: dict[str, list] = {}
        for s in schedules.staff.values():
            staff_by_store.setdefault(s.store, []).append(s)
        # Each resource's closed form once, then every bucket is arithmetic on it.
        window = (scope.period.start, scope.period.end)
        staff = [(s, staff_availability(s, *window)) for s in schedules.staff.values()]
        staffed = {store: staffed_availability(members, *window) for store, members in staff_by_store.items()}
        empty = Availability((), {})
        available: dict[tuple[date, str, str, str], int] = {}
        for b, first, last in self._bucket_ranges(scope):
            for s, availability in staff:
                available[(b, s.store, s.name, "staff")] = availability.minutes(first, last)
            for r in schedules.rooms.values():
                available[(b, r.store, r.name, "room")] = room_minutes(
                    r, staffed.get(r.store, empty), first, last
                )
        by_store: dict[tuple[date, str, str], int] = {}
        for (b, store, _, kind), minutes in available.items():
            by_store[(b, store, kind)] = by_store.get((b, store, kind), 0) + minutes
        if len(self._available_cache) >= 32:  # a handful of dashboards' worth
            self._available_cache.pop(next(iter(self._available_cache)))
        self._available_cache[key] = (available, by_store)
        return available, by_store

    async def _m_utilisation(self, scope: Scope) -> list[list[Any]]:
        per_store: dict[tuple[date, str, str], list[int]] = {}
        for (b, store, _, kind), minutes in (await self._booked_minutes(scope)).items():
            per_store.setdefault((b, store, kind), [0, 0])[0] += minutes
        _, available = await self._available_minutes(scope)
        for key, minutes in available.items():
            per_store.setdefault(key, [0, 0])[1] = minutes
        return [
            [b.isoformat(), store, kind, booked, available_, _ratio(booked, available_)]
            for (b, store, kind), (booked, available_) in sorted(per_store.items())
        ]

    async def _m_resource_utilisation(self, scope: Scope) -> list[list[Any]]:
        return [
            [b.isoformat(), store, resource, kind, booked, available, _ratio(booked, available)]
            for b, store, resource, kind, booked, available in await self._utilisation(scope)
        ]
