"""Staff and room utilisation (issue 14) against the expectation computed from the seed: a chain's
history (cli/history.py: staff schedules with breaks, a change of hours, leave, extra shifts, a
deleted exception, rooms of capacity 1 and 2, bookings, reschedules and cancellations) published to
JetStream as booking's relay publishes it, consumed by the real insights service, read through
gRPC. The expectation is computed here independently, minute by minute with sets, in each store's
time zone; then the tables are rebuilt from the streams and give the same figures."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from peony.insights.v1 import insights_service_pb2 as ipb

from kit.messaging import connect
from tests.integration.insights.conftest import publish_history
from tests.support.wallet import md

pytestmark = pytest.mark.integration

END = datetime(2026, 6, 30, 12, tzinfo=UTC)
START_DATE, END_DATE = "2026-02-01", "2026-06-30"
FIRST, LAST = date.fromisoformat(START_DATE), date.fromisoformat(END_DATE)


def values(row) -> list:
    return [getattr(v, v.WhichOneof("value")) for v in row.values]


async def query(insights, tenant: str, metric: str, **kw):
    kw.setdefault("start_date", START_DATE)
    kw.setdefault("end_date", END_DATE)
    kw.setdefault("page_size", 5000)
    return await insights.stub.QueryMetric(ipb.QueryMetricRequest(metric=metric, **kw), metadata=md(tenant))


def minutes(hhmm: str) -> int:
    return 1440 if hhmm == "24:00" else int(hhmm[:2]) * 60 + int(hhmm[3:])


def span(start: str, end: str) -> set[int]:
    return set(range(minutes(start), minutes(end))) if start else set(range(1440))


@pytest.fixture(scope="module")
async def chain(infra, insights):
    tenant = f"u-{uuid.uuid4().hex[:8]}"
    events = await publish_history(
        infra, "insights-utilisation-test", tenant, stores=3, members=70, days=160, end=END, seed=23
    )
    zones = {e.store: ZoneInfo(e.time_zone) for _, e in events if type(e).__name__ == "StoreCreated"}
    expected = expectation(events, zones)
    # Wait until every resource's booked minutes are in (the booking stream is consumed last).
    deadline = asyncio.get_running_loop().time() + 120
    while asyncio.get_running_loop().time() < deadline:
        if await by_resource(insights, tenant) == expected:
            break
        await asyncio.sleep(0.5)
    return tenant, events, zones, expected


def expectation(events, zones) -> dict[tuple[str, str, str], list[int]]:
    """(store, resource, kind) -> [booked, available] over [FIRST, LAST], computed with sets."""
    versions = defaultdict(list)  # staff -> [(local day, active, hours, breaks)]
    rooms = defaultdict(list)  # room -> [(local day, capacity or 0)]
    exceptions = {}  # name -> event (the latest; deleted ones dropped)
    store_of = {}
    for env, e in sorted(events, key=lambda x: x[0].occurred_at.ToDatetime()):  # stable: stream order
        kind = type(e).__name__
        if kind not in ("StaffScheduleChanged", "ScheduleExceptionChanged", "RoomChanged"):
            continue
        day = env.occurred_at.ToDatetime(tzinfo=UTC).astimezone(zones[e.store]).date()
        if kind == "StaffScheduleChanged":
            store_of[e.staff] = e.store
            versions[e.staff].append((day, e.active, list(e.weekly_hours), list(e.breaks)))
        elif kind == "RoomChanged":
            store_of[e.room] = e.store
            rooms[e.room].append((day, e.capacity if e.active else 0))
        elif e.removed:
            exceptions.pop(e.schedule_exception, None)
        else:
            exceptions[e.schedule_exception] = e

    def working(staff: str, day: date) -> set[int]:
        in_effect = [v for v in versions[staff] if v[0] <= day]
        if not in_effect or not in_effect[-1][1]:
            return set()
        _, _, hours, breaks = in_effect[-1]
        wd = day.isoweekday()
        free = set().union(*(span(h.start_time, h.end_time) for h in hours if h.day_of_week == wd))
        free -= set().union(*(span(b.start_time, b.end_time) for b in breaks if b.day_of_week == wd))
        off = set()
        for x in exceptions.values():
            if x.staff == staff and x.start_date <= day.isoformat() <= x.end_date:
                if x.kind == "extra_shift":
                    free |= span(x.start_time, x.end_time)
                else:
                    off |= span(x.start_time, x.end_time)
        return free - off

    out: dict[tuple[str, str, str], list[int]] = {}
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    for staff in versions:
        out[(store_of[staff], staff, "staff")] = [0, sum(len(working(staff, d)) for d in days)]
    for room, changes in rooms.items():
        store = store_of[room]
        colleagues = [s for s in versions if store_of[s] == store]
        available = 0
        for d in days:
            in_effect = [c for c in changes if c[0] <= d]
            capacity = in_effect[-1][1] if in_effect else 0
            available += capacity * len(set().union(*(working(s, d) for s in colleagues)))
        out[(store, room, "room")] = [0, available]
    # Booked: each appointment's latest booking or reschedule, unless cancelled.
    latest, cancelled = {}, set()
    for _, e in events:  # publish order is each stream's order
        kind = type(e).__name__
        if kind in ("AppointmentBooked", "AppointmentRescheduled"):
            latest[e.appointment] = e
        elif kind == "AppointmentCancelled":
            cancelled.add(e.appointment)
    for appointment, e in latest.items():
        if appointment in cancelled:
            continue
        for s in e.services:
            start = s.start_time.ToDatetime(tzinfo=UTC)
            if not FIRST <= start.astimezone(zones[e.store]).date() <= LAST:
                continue
            booked = (s.end_time.seconds - s.start_time.seconds) // 60
            for resource, kind in ((s.staff, "staff"), (s.room, "room")):
                if resource:
                    out.setdefault((e.store, resource, kind), [0, 0])[0] += booked
    return out


async def by_resource(insights, tenant: str, **kw) -> dict[tuple[str, str, str], list[int]]:
    rows = (await query(insights, tenant, "resource_utilisation", **kw)).rows
    return {tuple(values(r)[1:4]): values(r)[4:6] for r in rows}


async def test_utilisation_per_resource_equals_the_schedule_and_bookings(insights, chain):
    tenant, events, _, expected = chain
    assert await by_resource(insights, tenant) == expected
    # the seed exercises what the figure depends on
    kinds = {type(e).__name__ for _, e in events}
    assert {"AppointmentRescheduled", "AppointmentCancelled", "ScheduleExceptionChanged"} <= kinds
    assert all(v[1] > 0 for k, v in expected.items() if k[2] == "staff")
    assert sum(v[0] for v in expected.values()) > 0
    rows = (await query(insights, tenant, "resource_utilisation")).rows
    for r in rows:
        booked, available, rate = values(r)[4:7]
        assert rate == (round(booked / available, 6) if available else 0.0)


async def test_utilisation_per_store_by_month_and_store_filter(insights, chain):
    tenant, _, zones, expected = chain
    rows = (await query(insights, tenant, "utilisation", granularity=ipb.GRANULARITY_MONTH)).rows
    got = defaultdict(lambda: [0, 0])
    months = set()
    for r in rows:
        period, store, kind, booked, available, _ = values(r)
        months.add(period)
        got[(store, kind)][0] += booked
        got[(store, kind)][1] += available
    totals = defaultdict(lambda: [0, 0])
    for (store, _, kind), (booked, available) in expected.items():
        totals[(store, kind)][0] += booked
        totals[(store, kind)][1] += available
    assert dict(got) == dict(totals)
    assert months == {"2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"}
    store = sorted(zones)[2]  # Europe/Berlin
    rows = (await query(insights, tenant, "utilisation", stores=[store])).rows
    assert {values(r)[1] for r in rows} == {store}
    assert {values(r)[2]: values(r)[3:5] for r in rows} == {
        k[1]: v for k, v in totals.items() if k[0] == store
    }


async def test_utilisation_bad_input(insights, chain):
    tenant, _, zones, _ = chain
    bad = [
        ({"start_date": "2026-06-30", "end_date": "2026-06-01"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"start_date": "2026-13-01"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"stores": ["stores/not-this-tenants"]}, grpc.StatusCode.NOT_FOUND),
        ({"stores": ["../etc"]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"page_token": "tampered"}, grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for metric in ("utilisation", "resource_utilisation"):
        for kw, code in bad:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await query(insights, tenant, metric, **kw)
            assert err.value.code() == code, (metric, kw)
    # a store of this tenant is no key to another tenant's figures
    other = f"u-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await query(insights, other, "utilisation", stores=[sorted(zones)[0]])
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await query(insights, other, "resource_utilisation")).rows


async def test_redelivered_booking_events_never_double_count(infra, insights, chain):
    """The whole booking stream written a second time through the live sink (what a consumer
    killed between its inserts and its acks gets redelivered): the appointments rollup folds the
    copies, so booked minutes stay exact, per resource and per store."""
    from services.insights.adapters.warehouse import ChdbWarehouse
    from services.insights.entrypoints.sink import FactSink
    from services.insights.service_layer.rebuild import replay_stream
    from tests.integration.insights.conftest import CHDB_DIR

    tenant, _, _, expected = chain
    monthly = [values(r) for r in (await query(insights, tenant, "utilisation")).rows]
    warehouse = await ChdbWarehouse(CHDB_DIR, insights.database).open()
    nc, js = await connect(infra.nats_url, name="insights-utilisation-redelivery")
    try:
        written, _ = await replay_stream(js, "booking", FactSink(warehouse))
    finally:
        await nc.close()
        await warehouse.close()
    assert written > 0
    assert await by_resource(insights, tenant) == expected
    assert [values(r) for r in (await query(insights, tenant, "utilisation")).rows] == monthly


async def test_rebuild_gives_the_same_utilisation(infra, insights, chain):
    from services.insights.adapters.warehouse import ChdbWarehouse
    from services.insights.entrypoints.consumers import STREAMS
    from services.insights.service_layer.rebuild import rebuild
    from tests.integration.insights.conftest import CHDB_DIR

    tenant, _, _, expected = chain

    async def figures():
        monthly = await query(insights, tenant, "utilisation", granularity=ipb.GRANULARITY_WEEK)
        return [values(r) for r in monthly.rows], await by_resource(insights, tenant)

    before = await figures()
    assert before[1] == expected
    warehouse = await ChdbWarehouse(CHDB_DIR, insights.database).open()
    nc, js = await connect(infra.nats_url, name="insights-utilisation-rebuild")
    try:
        await rebuild(warehouse, js, STREAMS)
    finally:
        await nc.close()
        await warehouse.close()
    assert await figures() == before
