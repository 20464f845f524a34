"""Finance views and ReverseTransaction over real gRPC, PostgreSQL and NATS JetStream.

Every test runs in its own tenant, so the tenant-wide views see only that test's postings.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2, points_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from services.wallet.entrypoints import app as wallet_app
from services.wallet.entrypoints.grpc_finance import FinanceRpc
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration


def rid() -> str:
    return str(uuid.uuid4())


def md(tenant: str, roles=("hq_admin",)):
    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=tenant, subject='user:t', roles=list(roles))}"),
    )


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


async def refused(call, code: grpc.StatusCode, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert (err.value.code(), reason_of(err.value)) == (code, reason)


def stamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


@pytest.fixture(scope="module")
async def wallet(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_finance"))
    config = load_config(
        "wallet",
        {
            "PEONY_WALLET_DATABASE_URL": url,
            "PEONY_WALLET_MEMBERS_READ_THROUGH": "off",  # no members service here
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_WALLET_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    # Until WalletServicer lists FinanceRpc among its bases, serve a subclass that does.
    original = wallet_app.WalletServicer
    if not issubclass(original, FinanceRpc):
        wallet_app.WalletServicer = type("WalletServicerWithFinance", (FinanceRpc, original), {})
    try:
        runner = await wallet_app.build(config)
    finally:
        wallet_app.WalletServicer = original
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    engine = create_async_engine(url)
    try:
        yield pb_grpc.WalletServiceStub(channel), engine
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


class Tenant:
    """One test's tenant: its own members, tokens and tenant-wide views."""

    def __init__(self, stub, engine):
        self.stub, self.engine = stub, engine
        self.id = f"fin-{uuid.uuid4().hex[:12]}"

    @property
    def md(self):
        return md(self.id)

    async def member(self, pin: str = "") -> str:
        member_id = str(uuid.uuid4())
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id,"
                    " discount_bps, points_multiplier_permille, registered_time)"
                    " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
                ),
                {"t": self.id, "m": member_id},
            )
            await seed_stores(conn, self.id)
        m = f"members/{member_id}"
        if pin:
            await self.stub.SetPaymentPin(
                pb.SetPaymentPinRequest(member=m, pin=pin, request_id=rid()), metadata=self.md
            )
        return m

    async def top_up(self, m: str, amount: int, store: str, plan: str = "") -> pb.TopUpResponse:
        return await self.stub.TopUp(
            pb.TopUpRequest(
                member=m,
                amount_minor=amount,
                tender=ledger_pb2.TENDER_CASH,
                store=store,
                plan=plan,
                request_id=rid(),
            ),
            metadata=self.md,
        )

    async def hold(self, m: str, amount: int, store: str) -> pb.AuthorizeHoldResponse:
        return await self.stub.AuthorizeHold(
            pb.AuthorizeHoldRequest(
                hold=ledger_pb2.Hold(member=m, amount_minor=amount, store=store),
                payment_pin="204816",
                request_id=rid(),
            ),
            metadata=self.md,
        )

    async def plan(self, plan_id: str, pay: int, bonus: int, monthly: int = 0) -> None:
        await self.stub.CreateTopUpPlan(
            pb.CreateTopUpPlanRequest(
                top_up_plan_id=plan_id,
                top_up_plan=stored_value_pb2.TopUpPlan(
                    display_name=plan_id,
                    pay_minor=pay,
                    bonus_minor=bonus,
                    bonus_release=stored_value_pb2.BONUS_RELEASE_MONTHLY
                    if monthly
                    else stored_value_pb2.BONUS_RELEASE_IMMEDIATE,
                    release_months=monthly or 1,
                ),
                request_id=rid(),
            ),
            metadata=self.md,
        )

    async def reverse(self, name: str, request_id: str | None = None) -> pb.ReverseTransactionResponse:
        return await self.stub.ReverseTransaction(
            pb.ReverseTransactionRequest(
                name=name, reason="entered in error", request_id=request_id or rid()
            ),
            metadata=self.md,
        )

    async def sv_liability(self, as_of: datetime | None = None) -> pb.GetStoredValueLiabilityResponse:
        request = pb.GetStoredValueLiabilityRequest(as_of=stamp(as_of) if as_of else None)
        return await self.stub.GetStoredValueLiability(request, metadata=self.md)

    async def scalar(self, sql: str, **params):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), {"t": self.id, **params})).scalar_one()

    async def member_accounts(self, *kinds: str) -> int:
        """What the tenant owes on the members' accounts of these kinds, from the balances."""
        return await self.scalar(
            "SELECT coalesce(-sum(balance), 0) FROM accounts WHERE tenant_id = :t AND kind = ANY(:k)",
            k=list(kinds),
        )


def rows_of(resp) -> dict[str, tuple]:
    return {r.store: (r.principal_minor, r.bonus_minor, r.locked_bonus_minor) for r in resp.rows}


async def assert_ledger_invariants(engine) -> None:
    async with engine.connect() as conn:
        drift = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM account_balances a WHERE balance <>"
                    " (SELECT coalesce(sum(amount), 0) FROM postings p"
                    " WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id)"
                )
            )
        ).scalar_one()
        unbalanced = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM postings GROUP BY tenant_id, transaction_id, unit"
                    " HAVING sum(amount) <> 0) x"
                )
            )
        ).scalar_one()
        lots_vs_ledger = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM accounts a WHERE a.kind = 'points' AND -a.balance <>"
                    " (SELECT coalesce(sum(remaining), 0) FROM point_lots l"
                    " WHERE l.tenant_id = a.tenant_id AND l.member_id::text = a.owner)"
                )
            )
        ).scalar_one()
    assert (drift, unbalanced, lots_vs_ledger) == (0, 0, 0)


async def test_stored_value_liability_per_store_ties_to_the_member_accounts(wallet):
    tenant = Tenant(*wallet)
    await tenant.plan("p50", 50_000, 5_000)
    await tenant.plan("p12", 12_000, 1_200, monthly=12)
    m1 = await tenant.member(pin="204816")
    m2 = await tenant.member()
    m3 = await tenant.member()
    first = await tenant.top_up(m1, 100_000, "stores/s1")
    await tenant.top_up(m2, 50_000, "stores/s2", plan="topUpPlans/p50")
    monthly = await tenant.top_up(m3, 12_000, "stores/s1", plan="topUpPlans/p12")
    locked = monthly.wallet.locked_bonus_minor
    assert locked > 0
    captured = await tenant.hold(m1, 30_000, "stores/s2")  # spent at s2
    await tenant.stub.CaptureHold(
        pb.CaptureHoldRequest(name=captured.hold.name, request_id=rid()), metadata=tenant.md
    )
    await tenant.hold(m1, 10_000, "stores/s2")  # still reserved: stays a liability

    now = await tenant.sv_liability()
    released = monthly.wallet.bonus_minor
    # Stored value is owed by the store that sold it: m1's capture at s2 spends value s1 sold.
    assert rows_of(now) == {
        "stores/s1": (100_000 - 30_000 + 12_000, released, locked),
        "stores/s2": (50_000, 5_000, 0),
    }
    assert now.currency_code == "CNY"
    assert now.total_principal_minor == sum(r.principal_minor for r in now.rows) == 132_000
    assert now.total_bonus_minor == sum(r.bonus_minor for r in now.rows) == 5_000 + released
    # The rows add up exactly to what the members' accounts say is owed (held value included).
    assert now.total_principal_minor + now.total_bonus_minor == await tenant.member_accounts(
        "sv_principal", "sv_bonus", "sv_held"
    )

    # as_of: only postings of transactions created by then count.
    then = await tenant.sv_liability(first.transaction.create_time.ToDatetime(UTC))
    assert rows_of(then) == {"stores/s1": (100_000, 0, 0)}
    assert then.total_principal_minor == 100_000 and then.total_bonus_minor == 0
    before = await tenant.sv_liability(datetime.now(UTC) - timedelta(days=1))
    assert list(before.rows) == [] and before.total_principal_minor == 0

    # The monthly plan's top-up scheduled bonus releases: it cannot be reversed exactly.
    await refused(
        tenant.reverse(monthly.transaction.name), grpc.StatusCode.FAILED_PRECONDITION, "NOT_REVERSIBLE"
    )
    await refused(
        tenant.stub.GetStoredValueLiability(
            pb.GetStoredValueLiabilityRequest(), metadata=md(tenant.id, ("member",))
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_PERMISSION",
    )
    await assert_ledger_invariants(tenant.engine)


async def test_points_liability_is_valued_at_the_redemption_rate(wallet):
    tenant = Tenant(*wallet)
    m = await tenant.member()
    granted = await tenant.stub.GrantPoints(
        pb.GrantPointsRequest(
            member=m, points=750, source=points_pb2.LOT_SOURCE_ACTIVITY, reason="launch", request_id=rid()
        ),
        metadata=tenant.md,
    )
    await tenant.stub.AdjustPoints(
        pb.AdjustPointsRequest(member=m, delta=-50, reason="typo", request_id=rid()), metadata=tenant.md
    )
    got = await tenant.stub.GetPointsLiability(pb.GetPointsLiabilityRequest(), metadata=tenant.md)
    assert got.points_liability.points_outstanding == 700 == await tenant.member_accounts("points")
    assert got.points_liability.valued_minor == 700  # 100 points = ¥1 = 100 fen
    assert got.points_liability.points_pending == 0
    at_grant = await tenant.stub.GetPointsLiability(
        pb.GetPointsLiabilityRequest(as_of=granted.transaction.create_time), metadata=tenant.md
    )
    assert at_grant.points_liability.points_outstanding == 750


async def test_package_deferred_revenue_and_inter_store_clearing(wallet):
    tenant = Tenant(*wallet)
    stub = tenant.stub
    await stub.CreatePackageProduct(
        pb.CreatePackageProductRequest(
            package_product_id="facial10",
            package_product=packages_pb2.PackageProduct(
                display_name="Facial x10",
                price_minor=100_000,
                items=[
                    packages_pb2.PackageItem(service="services/facial", sessions=10, list_price_minor=12_000)
                ],
            ),
            request_id=rid(),
        ),
        metadata=tenant.md,
    )
    m = await tenant.member()
    start = datetime.now(UTC) - timedelta(seconds=5)
    sold = await stub.SellPackage(
        pb.SellPackageRequest(
            member=m,
            product="packageProducts/facial10",
            store="stores/s1",
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=100_000)],
            request_id=rid(),
        ),
        metadata=tenant.md,
    )
    card = sold.member_package.name

    async def consume(store: str, sessions: int):
        return await stub.ConsumePackageSession(
            pb.ConsumePackageSessionRequest(
                package=card, service="services/facial", store=store, sessions=sessions, request_id=rid()
            ),
            metadata=tenant.md,
        )

    await consume("stores/s2", 2)
    await consume("stores/s1", 1)  # same store: nothing to clear
    await consume("stores/s3", 1)
    end = datetime.now(UTC) + timedelta(seconds=5)

    deferred = await stub.GetPackageDeferredRevenue(pb.GetPackageDeferredRevenueRequest(), metadata=tenant.md)
    assert [(r.store, r.deferred_minor, r.sessions_outstanding) for r in deferred.rows] == [
        ("stores/s1", 60_000, 6)
    ]
    assert deferred.total_deferred_minor == 60_000
    at_sale = await stub.GetPackageDeferredRevenue(
        pb.GetPackageDeferredRevenueRequest(as_of=sold.transaction.create_time), metadata=tenant.md
    )
    assert [(r.store, r.deferred_minor, r.sessions_outstanding) for r in at_sale.rows] == [
        ("stores/s1", 100_000, 10)
    ]

    clearing = await stub.GetInterStoreClearing(
        pb.GetInterStoreClearingRequest(start_time=stamp(start), end_time=stamp(end)), metadata=tenant.md
    )
    assert [
        (e.sold_store, e.consumed_store, e.amount_minor, e.package_minor, e.stored_value_minor)
        for e in clearing.entries
    ] == [("stores/s1", "stores/s2", 20_000, 20_000, 0), ("stores/s1", "stores/s3", 10_000, 10_000, 0)]
    earlier = await stub.GetInterStoreClearing(
        pb.GetInterStoreClearingRequest(start_time=stamp(start - timedelta(days=1)), end_time=stamp(start)),
        metadata=tenant.md,
    )
    assert list(earlier.entries) == []
    await refused(
        stub.GetInterStoreClearing(
            pb.GetInterStoreClearingRequest(start_time=stamp(start)), metadata=tenant.md
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    # Package card reversals go through the package RPCs.
    await refused(
        tenant.reverse(sold.transaction.name), grpc.StatusCode.FAILED_PRECONDITION, "NOT_REVERSIBLE"
    )
    await assert_ledger_invariants(tenant.engine)


async def test_reversing_a_top_up_restores_balances_exactly_once(wallet):
    tenant = Tenant(*wallet)
    await tenant.plan("p10", 10_000, 1_000)
    m = await tenant.member()
    await tenant.top_up(m, 30_000, "stores/s2")
    topped = await tenant.top_up(m, 10_000, "stores/s1", plan="topUpPlans/p10")
    request_id = rid()
    reversed_ = await tenant.reverse(topped.transaction.name, request_id)
    assert reversed_.reversal.kind == ledger_pb2.TRANSACTION_KIND_REVERSAL
    assert reversed_.reversal.reverses == topped.transaction.name
    assert reversed_.reversed.reversed_by == reversed_.reversal.name
    assert sorted((p.account, p.amount) for p in reversed_.reversal.postings) == sorted(
        (p.account, -p.amount) for p in topped.transaction.postings
    )
    assert (reversed_.wallet.principal_minor, reversed_.wallet.bonus_minor) == (30_000, 0)
    assert rows_of(await tenant.sv_liability()) == {"stores/s2": (30_000, 0, 0)}

    before = await tenant.scalar("SELECT count(*) FROM postings WHERE tenant_id = :t")
    assert await tenant.reverse(topped.transaction.name, request_id) == reversed_  # a retry replays
    await refused(
        tenant.reverse(topped.transaction.name), grpc.StatusCode.FAILED_PRECONDITION, "ALREADY_REVERSED"
    )
    await refused(
        tenant.reverse(reversed_.reversal.name), grpc.StatusCode.FAILED_PRECONDITION, "NOT_REVERSIBLE"
    )
    assert await tenant.scalar("SELECT count(*) FROM postings WHERE tenant_id = :t") == before

    # Two reversals racing: exactly one wins, the other is ALREADY_REVERSED (never INTERNAL).
    raced = await tenant.top_up(m, 5_000, "stores/s1")
    outcomes = await asyncio.gather(
        *(tenant.reverse(raced.transaction.name) for _ in range(3)), return_exceptions=True
    )
    wins = [o for o in outcomes if not isinstance(o, Exception)]
    losses = [(o.code(), reason_of(o)) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(wins) == 1 and losses == [(grpc.StatusCode.FAILED_PRECONDITION, "ALREADY_REVERSED")] * 2

    # Stored value already spent cannot be taken back.
    spent = await tenant.top_up(m, 5_000, "stores/s1")
    await tenant.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin="204816", request_id=rid()), metadata=tenant.md
    )
    await tenant.hold(m, 34_000, "stores/s1")
    await refused(
        tenant.reverse(spent.transaction.name), grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE"
    )

    # Wrong member in the name, bad names, missing permission.
    other = await tenant.member()
    tx_id = spent.transaction.name.rsplit("/", 1)[1]
    await refused(
        tenant.reverse(f"{other}/transactions/{tx_id}"), grpc.StatusCode.NOT_FOUND, "TRANSACTION_NOT_FOUND"
    )
    await refused(
        tenant.reverse("transactions/not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"
    )
    await refused(
        tenant.stub.ReverseTransaction(
            pb.ReverseTransactionRequest(name=spent.transaction.name, reason="x", request_id=rid()),
            metadata=md(tenant.id, ("member",)),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_PERMISSION",
    )
    events = await tenant.scalar(
        "SELECT count(*) FROM outbox WHERE tenant_id = :t AND event_type LIKE '%TransactionReversed'",
    )
    assert events >= 2
    await assert_ledger_invariants(tenant.engine)


async def test_points_grants_and_deductions_reverse_exactly(wallet):
    tenant = Tenant(*wallet)
    m = await tenant.member()
    grant = await tenant.stub.GrantPoints(
        pb.GrantPointsRequest(
            member=m, points=300, source=points_pb2.LOT_SOURCE_REFERRAL, reason="friend", request_id=rid()
        ),
        metadata=tenant.md,
    )
    deduction = await tenant.stub.AdjustPoints(
        pb.AdjustPointsRequest(member=m, delta=-120, reason="typo", request_id=rid()), metadata=tenant.md
    )
    await refused(
        tenant.reverse(grant.transaction.name), grpc.StatusCode.FAILED_PRECONDITION, "POINTS_ALREADY_SPENT"
    )
    restored = await tenant.reverse(deduction.transaction.name)
    assert restored.wallet.points_available == 300
    lot_remaining = await tenant.scalar("SELECT remaining FROM point_lots WHERE tenant_id = :t")
    assert lot_remaining == 300
    taken_back = await tenant.reverse(grant.transaction.name)
    assert taken_back.wallet.points_available == 0
    assert await tenant.scalar("SELECT remaining FROM point_lots WHERE tenant_id = :t") == 0
    got = await tenant.stub.GetPointsLiability(pb.GetPointsLiabilityRequest(), metadata=tenant.md)
    assert got.points_liability.points_outstanding == 0

    adjusted_up = await tenant.stub.AdjustPoints(
        pb.AdjustPointsRequest(member=m, delta=40, reason="goodwill", request_id=rid()), metadata=tenant.md
    )
    assert (await tenant.reverse(adjusted_up.transaction.name)).wallet.points_available == 0
    await assert_ledger_invariants(tenant.engine)


async def test_checkout_is_reversed_by_refund_checkout_not_here(wallet):
    tenant = Tenant(*wallet)
    m = await tenant.member()
    bill = await tenant.stub.Checkout(
        pb.CheckoutRequest(
            member=m,
            store="stores/s1",
            lines=[
                checkout_pb2.CheckoutLine(
                    item="services/facial", category="facial", quantity=1, list_price_minor=15_000
                )
            ],
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_WECHAT_PAY, amount_minor=15_000)],
            request_id=rid(),
        ),
        metadata=tenant.md,
    )
    tx = bill.checkout.transaction
    assert tx
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tenant.reverse(tx)
    assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_REVERSIBLE")
    assert "RefundCheckout" in err.value.details()
    await assert_ledger_invariants(tenant.engine)
