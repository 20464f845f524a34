"""Insights end to end: members' events in their own format (history), money moved through the
real wallet's gRPC API, the real insights service consuming JetStream into chDB, KPIs read back
through its gRPC API — checked against figures computed from the seed, and the liabilities against
the wallet's own finance views."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from peony.insights.v1 import insights_service_pb2 as ipb
from peony.members.v1 import events_pb2 as mev
from peony.wallet.v1 import checkout_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb

from kit.messaging import connect, new_envelope, subject_for
from kit.messaging.outbox import HEADER_MSG_ID
from tests.integration.insights.conftest import Insights
from tests.support.stack import Infra
from tests.support.wallet import Wallet, add_member, md, reason_of, rid, running_wallet

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC)


@pytest.fixture(scope="module")
async def wallet(infra: Infra) -> AsyncIterator[Wallet]:
    async with running_wallet(infra, "wallet_insights") as w:
        yield w


async def publish_members_event(
    infra: Infra,
    tenant: str,
    event,
    aggregate: str,
    when: datetime,
    *,
    event_id: str | None = None,
    msg_id: bool = True,
) -> str:
    """A members event exactly as the members service's relay publishes it."""
    envelope = new_envelope(
        event,
        tenant=tenant,
        aggregate_type="member",
        aggregate_id=aggregate,
        occurred_at=when,
        event_id=event_id,
    )
    nc, js = await connect(infra.nats_url, name="insights-test")
    try:
        headers = {HEADER_MSG_ID: envelope.event_id} if msg_id else {}
        await js.publish(
            subject_for("members", envelope.event_type),
            envelope.SerializeToString(),
            headers=headers,
            stream="PEONY_MEMBERS",
        )
    finally:
        await nc.close()
    return envelope.event_id


async def query(insights: Insights, tenant: str, metric: str, roles=("hq_admin",), token_stores=None, **kw):
    """``token_stores``: the caller's store scope (store-bound roles); ``stores=`` the filter."""
    return await insights.stub.QueryMetric(
        ipb.QueryMetricRequest(metric=metric, **kw),
        metadata=md(tenant, roles, stores=token_stores),
    )


def values(row) -> list:
    return [getattr(v, v.WhichOneof("value")) for v in row.values]


async def eventually(fn, expect, timeout: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await fn()
        if got == expect or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
async def seeded(infra: Infra, wallet: Wallet, insights: Insights):
    """Two stores, three members (one registered 40 days ago), top-ups and checkouts."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    for store, zone in (("s1", "Asia/Shanghai"), ("s2", "Asia/Shanghai")):
        await publish_members_event(
            infra,
            tenant,
            mev.StoreCreated(store=f"stores/{store}", display_name=store, time_zone=zone),
            store,
            TODAY - timedelta(days=90),
        )
    members = []
    for home, age_days in (("s1", 40), ("s1", 2), ("s2", 1)):
        m = await add_member(wallet.engine, tenant, home)
        members.append(m)
        await publish_members_event(
            infra,
            tenant,
            mev.MemberRegistered(member=m, home_store=f"stores/{home}", tier_id="regular"),
            m.split("/")[1],
            TODAY - timedelta(days=age_days),
        )
    m1, m2, m3 = members
    h = md(tenant)
    await wallet.stub.SetPaymentPin(
        wpb.SetPaymentPinRequest(member=m1, pin="204816", request_id=rid()), metadata=h
    )
    await wallet.stub.TopUp(
        wpb.TopUpRequest(
            member=m1, amount_minor=50_000, tender=ledger_pb2.TENDER_CASH, store="stores/s1", request_id=rid()
        ),
        metadata=h,
    )
    await wallet.stub.TopUp(
        wpb.TopUpRequest(
            member=m3, amount_minor=20_000, tender=ledger_pb2.TENDER_CASH, store="stores/s2", request_id=rid()
        ),
        metadata=h,
    )

    async def checkout(member: str, store: str, price: int, category: str, tender=None) -> None:
        """``tender`` None: paid from stored value."""
        await wallet.stub.Checkout(
            wpb.CheckoutRequest(
                member=member,
                store=store,
                lines=[
                    checkout_pb2.CheckoutLine(
                        item="services/x", category=category, quantity=1, list_price_minor=price
                    )
                ],
                stored_value_minor=price if tender is None else 0,
                payment_pin="204816" if tender is None else "",
                tenders=[]
                if tender is None
                else [checkout_pb2.TenderAmount(tender=tender, amount_minor=price)],
                request_id=rid(),
            ),
            metadata=h,
        )

    await checkout(m1, "stores/s1", 15_000, "facial")
    await checkout(m2, "stores/s1", 8_000, "massage", ledger_pb2.TENDER_WECHAT_PAY)
    await checkout("", "stores/s1", 6_001, "facial", ledger_pb2.TENDER_CASH)
    await checkout("", "stores/s2", 3_000, "nails", ledger_pb2.TENDER_CASH)

    # Wait for the facts: every checkout counted.
    async def tickets():
        r = await query(insights, tenant, "member_revenue")
        return sum(values(r.rows[0])[3] + values(r.rows[0])[4] for _ in [0]) if r.rows else 0

    assert await eventually(tickets, 4) == 4
    return tenant, members


async def test_member_and_non_member_revenue(insights, seeded):
    tenant, _ = seeded
    row = values((await query(insights, tenant, "member_revenue")).rows[0])
    # members: 15000 + 8000 in 2 tickets; walk-ins: 6001 + 3000 in 2 tickets (average rounded half up)
    assert row[1:] == [23_000, 9_001, 2, 2, 11_500, 4_501, round(23_000 / 32_001, 6)]
    s2 = values((await query(insights, tenant, "member_revenue")).rows[0])
    assert s2[1] == 23_000
    only_s2 = values(
        (
            await insights.stub.QueryMetric(
                ipb.QueryMetricRequest(metric="member_revenue", stores=["stores/s2"]), metadata=md(tenant)
            )
        ).rows[0]
    )
    assert only_s2[1:5] == [0, 3_000, 0, 1]


async def test_new_members_in_the_period_and_growth(insights, seeded):
    tenant, _ = seeded
    row = values((await query(insights, tenant, "new_members")).rows[0])  # last 30 days
    assert row[1:] == [2, 1, 2.0]
    by_day = (await query(insights, tenant, "new_members", granularity=ipb.GRANULARITY_DAY)).rows
    assert len(by_day) == 30 and sum(values(r)[1] for r in by_day) == 2


async def test_top_ups_and_revenue_by_category(insights, seeded):
    tenant, _ = seeded
    row = values((await query(insights, tenant, "top_ups")).rows[0])
    assert row[1:3] == [2, 70_000]
    cats = {values(r)[0]: values(r)[1:] for r in (await query(insights, tenant, "revenue_by_category")).rows}
    assert cats == {"facial": [21_001, 2], "massage": [8_000, 1], "nails": [3_000, 1]}


async def test_liability_equals_the_wallets_finance_views(insights, wallet, seeded):
    tenant, _ = seeded
    h = md(tenant)
    sv = await wallet.stub.GetStoredValueLiability(wpb.GetStoredValueLiabilityRequest(), metadata=h)
    owed = sv.total_principal_minor + sv.total_bonus_minor
    points = (
        await wallet.stub.GetPointsLiability(wpb.GetPointsLiabilityRequest(), metadata=h)
    ).points_liability
    assert owed == 70_000 - 15_000

    async def liability():
        return values((await query(insights, tenant, "liability")).rows[0])

    assert await eventually(liability, [owed, points.points_outstanding]) == [owed, points.points_outstanding]


async def test_redelivered_and_copied_events_are_counted_once(infra, insights, seeded):
    tenant, members = seeded
    before = values((await query(insights, tenant, "new_members")).rows[0])
    event = mev.MemberRegistered(member=members[2], home_store="stores/s2", tier_id="regular")
    # A copy of an event already counted (the same id, past NATS' dedupe: no Nats-Msg-Id)...
    event_id = str(uuid.uuid4())
    for _ in range(3):
        await publish_members_event(
            infra, tenant, event, "x", TODAY - timedelta(hours=1), event_id=event_id, msg_id=False
        )
    # ...and a marker event after it, so we know the copies were consumed.
    await publish_members_event(
        infra, tenant, mev.StoreCreated(store="stores/s9", time_zone="Asia/Shanghai"), "s9", TODAY
    )

    async def s9_known():
        try:
            await query(insights, tenant, "new_members", stores=["stores/s9"])
            return True
        except grpc.aio.AioRpcError:
            return False

    assert await eventually(s9_known, True)
    after = values((await query(insights, tenant, "new_members")).rows[0])
    assert after[1] == before[1] + 1  # the three copies count as one registration


async def test_export_csv_has_a_bom_and_xlsx_opens(insights, seeded):
    tenant, _ = seeded
    got = await insights.stub.ExportMetric(
        ipb.ExportMetricRequest(metric="revenue_by_category", locale="zh-CN"), metadata=md(tenant)
    )
    assert got.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0] == ["分类", "营业额", "数量"] and rows[1] == ["facial", "21001", "2"]
    x = await insights.stub.ExportMetric(
        ipb.ExportMetricRequest(metric="top_ups", format=ipb.EXPORT_FORMAT_XLSX), metadata=md(tenant)
    )
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(x.content)).active
    assert [c.value for c in sheet[2]][1:3] == [2, 70_000]


async def test_paging_and_tampered_tokens(insights, seeded):
    tenant, _ = seeded
    first = await query(insights, tenant, "new_members", granularity=ipb.GRANULARITY_DAY, page_size=10)
    assert len(first.rows) == 10 and first.next_page_token
    second = await query(
        insights,
        tenant,
        "new_members",
        granularity=ipb.GRANULARITY_DAY,
        page_size=10,
        page_token=first.next_page_token,
    )
    assert values(second.rows[0])[0] > values(first.rows[-1])[0]
    for token in (first.next_page_token[:-2] + "AA", "garbage"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await query(
                insights,
                tenant,
                "new_members",
                granularity=ipb.GRANULARITY_DAY,
                page_size=10,
                page_token=token,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a token of another filter is refused too
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await query(
            insights,
            tenant,
            "new_members",
            granularity=ipb.GRANULARITY_WEEK,
            page_size=10,
            page_token=first.next_page_token,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_bad_input_gets_a_clear_status(insights, seeded):
    tenant, _ = seeded
    cases = [
        ({"metric": "no_such_metric"}, grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_METRIC"),
        (
            {"metric": "top_ups", "start_date": "2026-02-01", "end_date": "2026-01-01"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "PERIOD_REVERSED",
        ),
        (
            {"metric": "top_ups", "start_date": "2026-13-01"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            {"metric": "top_ups", "start_date": "2020-01-01", "end_date": "2026-01-01"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "PERIOD_TOO_LONG",
        ),
        ({"metric": "top_ups", "stores": ["bogus"]}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ({"metric": "top_ups", "stores": ["stores/not-ours"]}, grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"),
    ]
    for kw, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await insights.stub.QueryMetric(ipb.QueryMetricRequest(**kw), metadata=md(tenant))
        assert (err.value.code(), reason_of(err.value)) == (code, reason), kw
    # another tenant's store is not found in this tenant
    other = f"t-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await insights.stub.QueryMetric(
            ipb.QueryMetricRequest(metric="top_ups", stores=["stores/s1"]), metadata=md(other)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # store-bound callers: only their stores; never the tenant-wide liability; beauticians not at all
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await query(
            insights,
            tenant,
            "top_ups",
            roles=("store_manager",),
            token_stores=["stores/s1"],
            stores=["stores/s2"],
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = values(
        (
            await query(
                insights, tenant, "member_revenue", roles=("store_manager",), token_stores=["stores/s2"]
            )
        ).rows[0]
    )
    assert mine[1:5] == [0, 3_000, 0, 1]
    for roles, stores, metric in (
        (("store_manager",), ["stores/s1"], "liability"),
        (("beautician",), ["stores/s1"], "top_ups"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await query(insights, tenant, metric, roles=roles, token_stores=stores)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await insights.stub.ListMetrics(ipb.ListMetricsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_rebuild_from_the_event_log_gives_the_same_figures(infra, insights, seeded):
    from kit.messaging import connect
    from services.insights.adapters.warehouse import ChdbWarehouse
    from services.insights.entrypoints.consumers import STREAMS
    from services.insights.service_layer.rebuild import rebuild
    from tests.integration.insights.conftest import CHDB_DIR

    tenant, _ = seeded
    metrics = (
        "new_members",
        "member_revenue",
        "top_ups",
        "points",
        "liability",
        "revenue_by_category",
        "retention",
        "tier_distribution",
    )

    async def figures():
        return {m: [values(r) for r in (await query(insights, tenant, m)).rows] for m in metrics}

    before = await figures()
    warehouse = await ChdbWarehouse(CHDB_DIR, insights.database).open()  # the service's own tables
    nc, js = await connect(infra.nats_url, name="insights-rebuild-test")
    try:
        replayed = await rebuild(warehouse, js, STREAMS)
    finally:
        await nc.close()
        await warehouse.close()
    assert replayed >= 14  # at least this tenant's events
    assert await figures() == before
    assert before["member_revenue"][0][1] == 23_000
