"""Every KPI of the catalogue against the expectation computed from the seed: months of a chain's
history (cli/history.py) published to JetStream as the services' relays publish them, consumed by
the real insights service. The expectations below are computed in plain Python from the same
envelopes, in each store's time zone."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from peony.insights.v1 import insights_service_pb2 as ipb

from tests.integration.insights.conftest import publish_history
from tests.support.wallet import md

pytestmark = pytest.mark.integration

END = datetime(2026, 6, 30, 12, tzinfo=UTC)
START_DATE, END_DATE = "2025-12-01", "2026-06-30"


def month(d: date) -> str:
    return d.replace(day=1).isoformat()


@pytest.fixture(scope="module")
async def chain(infra, insights):
    tenant = f"h-{uuid.uuid4().hex[:8]}"
    events = await publish_history(
        infra, "insights-history-test", tenant, stores=3, members=80, days=200, end=END, seed=11
    )
    zones = {e.store: ZoneInfo(e.time_zone) for _, e in events if type(e).__name__ == "StoreCreated"}
    default = zones[min(zones)]

    # wait until the last event of each stream is in
    async def total_events() -> int:
        r = await query(insights, tenant, "member_revenue")
        return sum(values(r.rows[0])[3:5])

    checkouts = sum(1 for _, e in events if type(e).__name__ == "CheckoutCompleted")
    deadline = asyncio.get_running_loop().time() + 90
    while await total_events() != checkouts and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.5)  # the other streams' consumers: same pace, give them a moment

    def local(envelope, store: str = "", when=None) -> date:
        instant = (when or envelope.occurred_at).ToDatetime(tzinfo=UTC)
        return instant.astimezone(zones.get(store, default)).date()

    return tenant, events, zones, local


async def query(insights, tenant: str, metric: str, **kw):
    kw.setdefault("start_date", START_DATE)
    kw.setdefault("end_date", END_DATE)
    return await insights.stub.QueryMetric(ipb.QueryMetricRequest(metric=metric, **kw), metadata=md(tenant))


def values(row) -> list:
    return [getattr(v, v.WhichOneof("value")) for v in row.values]


def in_period(d: date) -> bool:
    return date.fromisoformat(START_DATE) <= d <= date.fromisoformat(END_DATE)


def of(events, name: str):
    return [(env, e) for env, e in events if type(e).__name__ == name]


def current_tiers(events) -> dict[str, str]:
    tiers = {}
    for _, e in events:
        if type(e).__name__ == "MemberRegistered":
            tiers[e.member] = e.tier_id
        elif type(e).__name__ == "TierChanged":
            tiers[e.member] = e.to_tier_id
    return tiers


async def test_new_members_by_month_and_by_tier(insights, chain):
    tenant, events, _, local = chain
    by_month = Counter(
        month(local(env, e.home_store))
        for env, e in of(events, "MemberRegistered")
        if in_period(local(env, e.home_store))
    )
    rows = (await query(insights, tenant, "new_members", granularity=ipb.GRANULARITY_MONTH)).rows
    assert {values(r)[0]: values(r)[1] for r in rows if values(r)[1]} == dict(by_month)
    assert len(by_month) >= 6
    gold = {m for m, t in current_tiers(events).items() if t == "gold"}
    expected = sum(
        1
        for env, e in of(events, "MemberRegistered")
        if e.member in gold and in_period(local(env, e.home_store))
    )
    got = values((await query(insights, tenant, "new_members", tier="gold")).rows[0])[1]
    assert got == expected and expected > 0


async def test_revenue_member_vs_walk_in_and_per_store(insights, chain):
    tenant, events, zones, local = chain
    store = sorted(zones)[1]
    for stores in ([], [store]):
        sums = defaultdict(int)
        counts = defaultdict(int)
        for env, e in of(events, "CheckoutCompleted"):
            if (stores and e.store not in stores) or not in_period(local(env, e.store)):
                continue
            key = "m" if e.member else "w"
            sums[key] += e.total_minor
            counts[key] += 1
        row = values((await query(insights, tenant, "member_revenue", stores=stores)).rows[0])
        assert row[1:5] == [sums["m"], sums["w"], counts["m"], counts["w"]], stores
        assert row[5] == (2 * sums["m"] + counts["m"]) // (2 * counts["m"])


async def test_top_ups_points_and_liability(insights, chain):
    tenant, events, _, local = chain
    ups = [
        (e.amount_minor, e.bonus_released_minor)
        for env, e in of(events, "TopUpCompleted")
        if in_period(local(env, e.store))
    ]
    row = values((await query(insights, tenant, "top_ups")).rows[0])
    assert row[1:] == [len(ups), sum(a for a, _ in ups), sum(b for _, b in ups)]
    issued = sum(e.points for env, e in of(events, "PointsEarned") if in_period(local(env)))
    redeemed = sum(e.points for env, e in of(events, "PointsRedeemed") if in_period(local(env)))
    row = values((await query(insights, tenant, "points")).rows[0])
    assert row[1:4] == [issued, redeemed, 0] and issued > 0
    assert row[4] == round(redeemed / issued, 6)
    owed = sum(e.delta_minor for _, e in of(events, "BalanceChanged"))
    last_points = {}
    for _, e in events:
        if type(e).__name__ in ("PointsEarned", "PointsRedeemed"):
            last_points[e.member] = e.points_available
    row = values((await query(insights, tenant, "liability")).rows[0])
    assert row == [owed, sum(last_points.values())]


async def test_bookings_and_no_show_rate_by_start_month(insights, chain):
    tenant, events, _, local = chain
    expected = defaultdict(lambda: [0, 0, 0, 0, 0])
    names = ("AppointmentBooked", "AppointmentCompleted", "AppointmentNoShow", "AppointmentCancelled")
    for env, e in events:
        kind = type(e).__name__
        if kind not in names:
            continue
        d = local(env, e.store, e.start_time)
        if not in_period(d):
            continue
        row = expected[month(d)]
        row[names.index(kind)] += 1
        if kind == "AppointmentCancelled" and e.late_cancel:
            row[4] += 1
    rows = (await query(insights, tenant, "bookings", granularity=ipb.GRANULARITY_MONTH)).rows
    got = {values(r)[0]: values(r)[1:] for r in rows if any(values(r)[1:6])}
    assert {k: v[:5] for k, v in got.items()} == dict(expected)
    assert sum(v[2] for v in expected.values()) > 0  # the seed has no-shows
    for k, v in got.items():
        assert v[5] == (round(v[2] / (v[1] + v[2]), 6) if v[1] + v[2] else 0.0), k


def expected_retention(events, local, store: str | None = None) -> dict[str, list]:
    """Cohort (first local visit month) -> [size, share retained 1..6 months later]."""
    visits = defaultdict(set)
    for env, e in of(events, "CheckoutCompleted"):
        if e.member and (store is None or e.store == store):
            d = local(env, e.store)
            visits[e.member].add((d.year, d.month))
    cohorts = defaultdict(list)
    for member, months in visits.items():
        cohorts[min(months)].append(member)
    expected = {}
    for (y, m), members in cohorts.items():
        if not in_period(date(y, m, 1)) and date(y, m, 1) < date.fromisoformat(START_DATE).replace(day=1):
            continue
        shares = []
        for k in range(1, 7):
            yy, mm = divmod(m - 1 + k, 12)
            target = (y + yy, mm + 1)
            shares.append(round(sum(1 for x in members if target in visits[x]) / len(members), 6))
        expected[date(y, m, 1).isoformat()] = [len(members), *shares]
    return expected


async def test_retention_cohorts(insights, chain):
    tenant, events, _, local = chain
    expected = expected_retention(events, local)
    rows = (await query(insights, tenant, "retention")).rows
    assert {values(r)[0]: values(r)[1:] for r in rows} == expected
    assert len(expected) >= 4 and any(v[3] for v in expected.values())  # some 3-month retention
    # One store (the other path: per-store visits): its visits only, cohorts by its first visit.
    store = next(e.store for _, e in of(events, "CheckoutCompleted") if e.member)
    rows = (await query(insights, tenant, "retention", stores=[store])).rows
    assert {values(r)[0]: values(r)[1:] for r in rows} == expected_retention(events, local, store)


async def test_lines_referrals_satisfaction_and_tiers(insights, chain):
    tenant, events, _, local = chain
    staff = defaultdict(lambda: [0, 0])
    for env, e in of(events, "CheckoutCompleted"):
        if in_period(local(env, e.store)):
            for line in e.lines:
                staff[line.serving_staff][0] += line.net_minor
                staff[line.serving_staff][1] += line.quantity
    rows = (await query(insights, tenant, "revenue_by_staff")).rows
    assert {values(r)[0]: values(r)[1:] for r in rows} == dict(staff) and len(
        staff
    ) == 7  # 6 staff and the walk-in lines without one

    converted = {e.referee for _, e in of(events, "ReferralRewardEarned")}
    referred = [
        e.member
        for env, e in of(events, "MemberRegistered")
        if e.referrer and in_period(local(env, e.home_store))
    ]
    row = values((await query(insights, tenant, "referrals")).rows[0])
    assert row[1:3] == [len(referred), sum(1 for m in referred if m in converted)] and referred

    ratings = Counter(
        str(e.rating) for env, e in of(events, "FeedbackSubmitted") if in_period(local(env, e.store))
    )
    rows = (await query(insights, tenant, "satisfaction")).rows
    assert {values(r)[0]: values(r)[1] for r in rows} == dict(ratings) and len(ratings) >= 3

    tiers = Counter(current_tiers(events).values())
    rows = (await query(insights, tenant, "tier_distribution")).rows
    assert {values(r)[1]: values(r)[2] for r in rows} == dict(tiers) and len(tiers) == 3
    assert {values(r)[0] for r in rows} == {START_DATE}

    # over time: each month as of its end (the day after, local midnight in the first store's zone)
    rows = (await query(insights, tenant, "tier_distribution", granularity=ipb.GRANULARITY_MONTH)).rows
    default = sorted({e.store: 0 for _, e in of(events, "StoreCreated")})[0]
    zone = next(ZoneInfo(e.time_zone) for _, e in of(events, "StoreCreated") if e.store == default)
    months = sorted({values(r)[0] for r in rows})
    assert len(months) == 7
    for i, start in enumerate(months):
        end = months[i + 1] if i + 1 < len(months) else "2026-07-01"
        cutoff = datetime.fromisoformat(end).replace(tzinfo=zone)
        tier_then: dict[str, str] = {}
        for env, e in events:
            if env.occurred_at.ToDatetime(tzinfo=UTC) >= cutoff:
                continue
            if type(e).__name__ == "MemberRegistered":
                tier_then[e.member] = e.tier_id
            elif type(e).__name__ == "TierChanged":
                tier_then[e.member] = e.to_tier_id
        got = {values(r)[1]: values(r)[2] for r in rows if values(r)[0] == start}
        assert got == dict(Counter(tier_then.values())), start


def nearest_rank(values: list[int], q: float) -> int:
    import math

    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)] if values else 0


async def test_services_visits_repurchase_and_lapsed(insights, chain):
    tenant, events, _, local = chain
    items = defaultdict(lambda: [0, 0])
    visits = Counter()
    last_visit: dict[str, date] = {}
    for env, e in of(events, "CheckoutCompleted"):
        d = local(env, e.store)
        if in_period(d):
            for line in e.lines:
                items[line.item][0] += line.net_minor
                items[line.item][1] += line.quantity
            if e.member:
                visits[e.member] += 1
        if e.member and d <= date.fromisoformat(END_DATE):
            last_visit[e.member] = max(last_visit.get(e.member, d), d)
    rows = (await query(insights, tenant, "revenue_by_service")).rows
    assert {values(r)[0]: values(r)[1:] for r in rows} == dict(items) and len(items) >= 5

    row = values((await query(insights, tenant, "visits")).rows[0])
    repeat = sum(1 for n in visits.values() if n >= 2)
    assert row[1:] == [
        len(visits),
        sum(visits.values()),
        round(sum(visits.values()) / len(visits), 6),
        repeat,
        round(repeat / len(visits), 6),
    ]
    assert repeat > 0

    cutoff = date.fromisoformat(END_DATE).toordinal() - 89
    active = sum(1 for d in last_visit.values() if d.toordinal() >= cutoff)
    row = values((await query(insights, tenant, "lapsed_members")).rows[0])
    assert row == [active, len(last_visit) - active] and active and len(last_visit) - active


async def test_packages_and_vouchers(insights, chain):
    tenant, events, _, local = chain
    sold = [(e.price_minor) for env, e in of(events, "PackageSold") if in_period(local(env, e.store))]
    used = [
        (e.sessions, e.recognized_minor)
        for env, e in of(events, "PackageSessionConsumed")
        if in_period(local(env, e.store))
    ]
    row = values((await query(insights, tenant, "packages")).rows[0])
    assert (
        row[1:] == [len(sold), sum(sold), sum(s for s, _ in used), sum(r for _, r in used)] and sold and used
    )

    templates = defaultdict(lambda: [0, 0, 0])
    for env, e in of(events, "VoucherIssued"):
        if in_period(local(env)):
            templates[e.template][0] += 1
    for env, e in of(events, "VoucherRedeemed"):
        if in_period(local(env, e.store)):
            templates[e.template][1] += 1
            templates[e.template][2] += e.discount_minor
    rows = (await query(insights, tenant, "vouchers")).rows
    assert {values(r)[0]: values(r)[1:] for r in rows} == dict(templates) and len(templates) == 2


async def test_complaint_response_times_by_month(insights, chain):
    tenant, events, _, local = chain
    opened = Counter(
        month(local(env, e.store))
        for env, e in of(events, "ComplaintOpened")
        if in_period(local(env, e.store))
    )
    answered = defaultdict(list)
    breaches = Counter()
    for env, e in of(events, "ComplaintResolved"):
        d = local(env, e.store, e.open_time)
        if in_period(d):
            answered[month(d)].append(e.first_response_time.seconds - e.open_time.seconds)
            breaches[month(d)] += int(e.sla_breached)
    expected = {
        m: [
            opened[m],
            len(answered[m]),
            nearest_rank(answered[m], 0.5),
            nearest_rank(answered[m], 0.9),
            breaches[m],
        ]
        for m in set(opened) | set(answered)
    }
    rows = (await query(insights, tenant, "complaints", granularity=ipb.GRANULARITY_MONTH)).rows
    got = {values(r)[0]: values(r)[1:] for r in rows if any(values(r)[1:])}
    assert got == expected and sum(breaches.values()) > 0
