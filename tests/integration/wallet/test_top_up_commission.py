"""Commission on top-ups (充值提成) and the commission report by item, store, position, payment
type and source (issue 12, point 5), over real gRPC, PostgreSQL and NATS JetStream: a top-up's
`sold_by` earns a record by the commission rules (category `top_up`, item `topUpPlans/{plan}`
or `storedValue`, paid with its tender), exactly once per request id; package sales and checkout
lines keep their position and payment type; bad input is refused and writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import checkout_pb2, commission_pb2, ledger_pb2, packages_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from tests.integration.wallet.test_package_commission import field_of
from tests.support.wallet import add_member, count_rows, md, rid, running_wallet

pytestmark = pytest.mark.integration

C = commission_pb2
CASH, WECHAT, SV = ledger_pb2.TENDER_CASH, ledger_pb2.TENDER_WECHAT_PAY, ledger_pb2.TENDER_STORED_VALUE
PACKAGE_PRICE = 10_000
WRITES = ("ledger_transactions", "commission_records", "stored_value_lots", "outbox", "idempotency_keys")


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_top_up_commission") as w:
        yield w


async def new_tenant(w) -> str:
    """A tenant of its own with the rules below, a top-up plan `gold` and a package product."""
    tenant = f"topup-{uuid.uuid4().hex[:8]}"
    admin = md(tenant)
    rules = {
        # every top-up: 2 %
        "top-ups-2": C.CommissionRule(category="top_up", basis=C.COMMISSION_BASIS_PERCENT, percent_bps=200),
        # a top-up paid by WeChat Pay: 1 %
        "top-ups-wechat-1": C.CommissionRule(
            category="top_up", tender=WECHAT, basis=C.COMMISSION_BASIS_PERCENT, percent_bps=100, priority=10
        ),
        # the front desk's top-ups: 3 %
        "front-desk-3": C.CommissionRule(
            category="top_up",
            staff_position="front_desk",
            basis=C.COMMISSION_BASIS_PERCENT,
            percent_bps=300,
            priority=5,
        ),
        # the gold plan (pay ¥5,000): ¥50 fixed
        "gold-plan": C.CommissionRule(
            item="topUpPlans/gold", basis=C.COMMISSION_BASIS_FIXED, fixed_minor=5_000, priority=20
        ),
        # package cards sold by consultants: 5 %
        "consultant-packages": C.CommissionRule(
            category="package",
            staff_position="consultant",
            basis=C.COMMISSION_BASIS_PERCENT,
            percent_bps=500,
        ),
        # facials served: 10 %
        "facials": C.CommissionRule(category="facial", basis=C.COMMISSION_BASIS_PERCENT, percent_bps=1000),
    }
    for rule_id, rule in rules.items():
        await w.stub.CreateCommissionRule(
            pb.CreateCommissionRuleRequest(
                commission_rule=rule, commission_rule_id=rule_id, request_id=rid()
            ),
            metadata=admin,
        )
    await w.stub.CreateTopUpPlan(
        pb.CreateTopUpPlanRequest(
            top_up_plan_id="gold",
            top_up_plan=stored_value_pb2.TopUpPlan(
                display_name="充5000送800", pay_minor=500_000, bonus_minor=80_000, currency_code="CNY"
            ),
            request_id=rid(),
        ),
        metadata=admin,
    )
    await w.stub.CreatePackageProduct(
        pb.CreatePackageProductRequest(
            package_product_id="facial-5",
            package_product=packages_pb2.PackageProduct(
                display_name="Facial x5",
                price_minor=PACKAGE_PRICE,
                items=[
                    packages_pb2.PackageItem(service="services/facial", sessions=5, list_price_minor=3_000)
                ],
            ),
            request_id=rid(),
        ),
        metadata=admin,
    )
    return tenant


def top_up(member: str, amount: int, *, tender=CASH, sold_by="", position="", plan="", store="stores/s1"):
    return pb.TopUpRequest(
        member=member,
        amount_minor=amount,
        currency_code="CNY",
        tender=tender,
        plan=plan,
        store=store,
        sold_by=sold_by,
        staff_position=position,
        request_id=rid(),
    )


async def records(w, tenant: str, staff: str) -> list[C.CommissionRecord]:
    got = await w.stub.ListCommissionRecords(
        pb.ListCommissionRecordsRequest(staff=staff, page_size=50), metadata=md(tenant)
    )
    return sorted(got.commission_records, key=lambda r: (r.create_time.ToDatetime(), r.name))


def period() -> tuple[Timestamp, Timestamp]:
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    end.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    return start, end


async def report(w, tenant: str, *dims: int, source: int = 0, store: str = ""):
    start, end = period()
    return await w.stub.GetCommissionReport(
        pb.GetCommissionReportRequest(
            start_time=start, end_time=end, group_by=list(dims), source=source, store=store
        ),
        metadata=md(tenant),
    )


async def test_a_top_up_earns_its_sellers_commission_by_the_rules_once(wallet):
    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)

    cash = await w.stub.TopUp(top_up(m, 100_000, sold_by="staff/ann"), metadata=md(tenant))
    [rec] = await records(w, tenant, "staff/ann")
    tx_id = cash.transaction.name.rsplit("/", 1)[1]
    assert (rec.transaction, rec.checkout, rec.package, rec.line_index) == (
        f"transactions/{tx_id}",
        "",
        "",
        0,
    )
    assert (rec.rule, rec.base_minor, rec.amount_minor) == ("commissionRules/top-ups-2", 100_000, 2_000)
    assert (rec.item, rec.category, rec.tender, rec.source, rec.store) == (
        "storedValue",
        "top_up",
        CASH,
        C.COMMISSION_SOURCE_TOP_UP,
        "stores/s1",
    )

    # The same request again (a client retry): the recorded response, no second record.
    again = top_up(m, 100_000, sold_by="staff/ann")
    first = await w.stub.TopUp(again, metadata=md(tenant))
    assert await w.stub.TopUp(again, metadata=md(tenant)) == first
    assert len(await records(w, tenant, "staff/ann")) == 2

    # By payment type, by position, by plan (item); without a seller, no record.
    await w.stub.TopUp(top_up(m, 50_000, tender=WECHAT, sold_by="staff/bo"), metadata=md(tenant))
    await w.stub.TopUp(top_up(m, 20_000, sold_by="staff/cy", position="front_desk"), metadata=md(tenant))
    await w.stub.TopUp(top_up(m, 500_000, sold_by="staff/di", plan="topUpPlans/gold"), metadata=md(tenant))
    before = await count_rows(w.engine, tenant, ("commission_records",))
    await w.stub.TopUp(top_up(m, 30_000), metadata=md(tenant))
    assert await count_rows(w.engine, tenant, ("commission_records",)) == before
    [bo] = await records(w, tenant, "staff/bo")
    [cy] = await records(w, tenant, "staff/cy")
    [di] = await records(w, tenant, "staff/di")
    assert (bo.rule, bo.amount_minor, bo.tender) == ("commissionRules/top-ups-wechat-1", 500, WECHAT)
    assert (cy.rule, cy.amount_minor, cy.staff_position) == (
        "commissionRules/front-desk-3",
        600,
        "front_desk",
    )
    assert (di.rule, di.amount_minor, di.item) == ("commissionRules/gold-plan", 5_000, "topUpPlans/gold")

    by_staff = await report(w, tenant)
    assert [(r.staff, r.sales_minor, r.commission_minor, r.record_count) for r in by_staff.rows] == [
        ("staff/ann", 200_000, 4_000, 2),
        ("staff/bo", 50_000, 500, 1),
        ("staff/cy", 20_000, 600, 1),
        ("staff/di", 500_000, 5_000, 1),
    ]
    assert by_staff.total_commission_minor == 10_100


async def test_the_report_groups_by_item_store_position_payment_type_and_source(wallet):
    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)
    pin = "204816"
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=pin, request_id=rid()), metadata=md(tenant)
    )
    # a top-up at s1 (cash) and one at s2 (WeChat Pay)
    await w.stub.TopUp(top_up(m, 100_000, sold_by="staff/ann"), metadata=md(tenant))
    await w.stub.TopUp(
        top_up(m, 50_000, tender=WECHAT, sold_by="staff/ann", store="stores/s2"), metadata=md(tenant)
    )
    # a package card sold by a consultant at s1, paid from stored value
    await w.stub.SellPackage(
        pb.SellPackageRequest(
            member=m,
            product="packageProducts/facial-5",
            store="stores/s1",
            tenders=[checkout_pb2.TenderAmount(tender=SV, amount_minor=PACKAGE_PRICE)],
            payment_pin=pin,
            sold_by="staff/bo",
            staff_position="consultant",
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    # a facial served at s2 by a beautician, paid by WeChat Pay
    await w.stub.Checkout(
        pb.CheckoutRequest(
            member=m,
            store="stores/s2",
            lines=[
                checkout_pb2.CheckoutLine(
                    item="services/facial",
                    category="facial",
                    quantity=1,
                    list_price_minor=30_000,
                    serving_staff="staff/cy",
                    staff_position="beautician",
                )
            ],
            tenders=[checkout_pb2.TenderAmount(tender=WECHAT, amount_minor=30_000)],
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    [sale] = await records(w, tenant, "staff/bo")
    assert (sale.source, sale.staff_position, sale.tender, sale.rule, sale.amount_minor) == (
        C.COMMISSION_SOURCE_PACKAGE_SALE,
        "consultant",
        SV,
        "commissionRules/consultant-packages",
        500,
    )
    [line] = await records(w, tenant, "staff/cy")
    assert (line.source, line.staff_position, line.tender, line.category) == (
        C.COMMISSION_SOURCE_CHECKOUT,
        "beautician",
        WECHAT,
        "facial",
    )

    D = C.CommissionReportDimension
    rows = (await report(w, tenant, D.COMMISSION_REPORT_DIMENSION_SOURCE)).rows
    assert [(r.source, r.staff, r.commission_minor, r.record_count) for r in rows] == [
        (C.COMMISSION_SOURCE_CHECKOUT, "", 3_000, 1),
        (C.COMMISSION_SOURCE_PACKAGE_SALE, "", 500, 1),
        (C.COMMISSION_SOURCE_TOP_UP, "", 2_000 + 500, 2),
    ]
    rows = (
        await report(w, tenant, D.COMMISSION_REPORT_DIMENSION_STORE, D.COMMISSION_REPORT_DIMENSION_TENDER)
    ).rows
    assert [(r.store, r.tender, r.sales_minor, r.commission_minor) for r in rows] == [
        ("stores/s1", CASH, 100_000, 2_000),
        ("stores/s1", SV, PACKAGE_PRICE, 500),
        ("stores/s2", WECHAT, 50_000 + 30_000, 500 + 3_000),
    ]
    rows = (await report(w, tenant, D.COMMISSION_REPORT_DIMENSION_STAFF_POSITION)).rows
    assert [(r.staff_position, r.commission_minor) for r in rows] == [
        ("", 2_500),
        ("beautician", 3_000),
        ("consultant", 500),
    ]
    rows = (await report(w, tenant, D.COMMISSION_REPORT_DIMENSION_ITEM)).rows
    assert [(r.item, r.commission_minor) for r in rows] == [
        ("packageProducts/facial-5", 500),
        ("services/facial", 3_000),
        ("storedValue", 2_500),
    ]
    only_top_ups = await report(w, tenant, source=C.COMMISSION_SOURCE_TOP_UP, store="stores/s2")
    assert [(r.staff, r.commission_minor) for r in only_top_ups.rows] == [("staff/ann", 500)]


@pytest.mark.parametrize(
    ("sold_by", "position", "field"),
    [
        ("ann", "", "sold_by"),
        ("staff/a b", "", "sold_by"),
        ("staff/" + "x" * 65, "", "sold_by"),
        ("", "front_desk", "staff_position"),
        ("staff/ann", "x" * 65, "staff_position"),
        ("staff/ann", "   ", "staff_position"),
    ],
)
async def test_a_bad_seller_on_a_top_up_is_refused_and_writes_nothing(wallet, sold_by, position, field):
    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)
    before = await count_rows(w.engine, tenant, WRITES)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.TopUp(top_up(m, 10_000, sold_by=sold_by, position=position), metadata=md(tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(err.value) == [field]
    assert await count_rows(w.engine, tenant, WRITES) == before


async def test_a_bad_report_request_is_refused(wallet):
    w = wallet
    tenant = await new_tenant(w)
    D = C.CommissionReportDimension
    for dims, source, field in (
        ((99,), 0, "group_by[0]"),
        ((D.COMMISSION_REPORT_DIMENSION_UNSPECIFIED,), 0, "group_by[0]"),
        ((D.COMMISSION_REPORT_DIMENSION_ITEM, D.COMMISSION_REPORT_DIMENSION_ITEM), 0, "group_by[1]"),
        ((), 42, "source"),
        (tuple([D.COMMISSION_REPORT_DIMENSION_ITEM] * 7), 0, "group_by"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await report(w, tenant, *dims, source=source)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_of(err.value)
    # a front-desk token (no wallet read of other stores) sees only its store's report
    start, end = period()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.GetCommissionReport(
            pb.GetCommissionReportRequest(start_time=start, end_time=end, store="stores/s2"),
            metadata=md(tenant, ("front_desk",), stores=["stores/s1"]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_locked_path_writes_the_same_record(wallet):
    """A top-up whose one-call plan went stale is re-planned statement by statement
    (`stored_value.top_up`, under the locks): its seller's record is the same."""
    from kit.auth import Principal
    from kit.db import session_factory
    from kit.uow import UnitOfWorkFactory
    from services.wallet.service_layer import stored_value as sv
    from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(w.engine), service="wallet")
    caller = Principal(
        tenant=tenant,
        subject="user:t",
        roles=frozenset({"hq_admin"}),
        permissions=auth.ROLE_PERMISSIONS["hq_admin"],
        stores=None,
        expires_at=9e18,
    )
    result = await uows.run(
        tenant,
        lambda uow: sv.top_up(
            uow,
            caller,
            member_id=m.split("/")[1],
            store_id="s1",
            amount=20_000,
            currency="CNY",
            tender="cash",
            plan_id="",
            sold_by="staff/eve",
            staff_position="front_desk",
        ),
    )
    [rec] = await records(w, tenant, "staff/eve")
    assert (rec.transaction, rec.rule, rec.amount_minor, rec.tender, rec.source) == (
        f"transactions/{result.transaction.transaction_id}",
        "commissionRules/front-desk-3",
        600,
        CASH,
        C.COMMISSION_SOURCE_TOP_UP,
    )


async def net_of(w, tenant: str, staff: str) -> tuple[int, int]:
    """(commission, sales) of `staff` in the report: the net of records and clawbacks."""
    rows = [r for r in (await report(w, tenant)).rows if r.staff == staff]
    return (rows[0].commission_minor, rows[0].sales_minor) if rows else (0, 0)


async def test_a_reversed_top_up_claws_back_all_of_its_commission_once(wallet):
    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)
    done = await w.stub.TopUp(top_up(m, 100_000, sold_by="staff/ann"), metadata=md(tenant))
    assert await net_of(w, tenant, "staff/ann") == (2_000, 100_000)
    request = pb.ReverseTransactionRequest(
        name=done.transaction.name, reason="wrong member", request_id=rid()
    )
    reversed_ = await w.stub.ReverseTransaction(request, metadata=md(tenant))
    assert await w.stub.ReverseTransaction(request, metadata=md(tenant)) == reversed_  # a retry replays
    earned, clawback = await records(w, tenant, "staff/ann")
    assert (clawback.amount_minor, clawback.base_minor) == (-2_000, -100_000)
    assert clawback.transaction == earned.transaction  # the same source: the top-up
    assert clawback.clawback_transaction == f"transactions/{reversed_.reversal.name.rsplit('/', 1)[1]}"
    assert clawback.refund == ""
    assert await net_of(w, tenant, "staff/ann") == (0, 0)
    # a second reversal is refused and claws back nothing more
    before = await count_rows(w.engine, tenant, ("commission_records",))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.ReverseTransaction(
            pb.ReverseTransactionRequest(name=done.transaction.name, reason="again", request_id=rid()),
            metadata=md(tenant),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await count_rows(w.engine, tenant, ("commission_records",)) == before


async def test_a_stored_value_refund_claws_back_the_refunded_share_newest_top_up_first(wallet):
    w = wallet
    tenant = await new_tenant(w)
    m = await add_member(w.engine, tenant)
    pin = "204816"
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=pin, request_id=rid()), metadata=md(tenant)
    )
    await w.stub.TopUp(top_up(m, 100_000, sold_by="staff/ann"), metadata=md(tenant))  # 2 %: 2,000
    await w.stub.TopUp(top_up(m, 50_000, tender=WECHAT, sold_by="staff/bo"), metadata=md(tenant))  # 500
    await w.stub.TopUp(top_up(m, 7_000), metadata=md(tenant))  # no seller
    # ¥100 of it spent: the refund pays back 147,000 of the 157,000 principal
    await w.stub.SellPackage(
        pb.SellPackageRequest(
            member=m,
            product="packageProducts/facial-5",
            store="stores/s1",
            tenders=[checkout_pb2.TenderAmount(tender=SV, amount_minor=PACKAGE_PRICE)],
            payment_pin=pin,
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    request = pb.RefundStoredValueRequest(member=m, store="stores/s1", tender=CASH, request_id=rid())
    refunded = await w.stub.RefundStoredValue(request, metadata=md(tenant))
    assert await w.stub.RefundStoredValue(request, metadata=md(tenant)) == refunded  # a retry replays
    # newest first: the 7,000 without a seller, all of bo's 50,000, then 90,000 of ann's 100,000
    assert await net_of(w, tenant, "staff/bo") == (0, 0)
    assert await net_of(w, tenant, "staff/ann") == (2_000 - 2_000 * 90_000 // 100_000, 10_000)
    _, clawback = await records(w, tenant, "staff/ann")
    assert clawback.clawback_transaction == f"transactions/{refunded.transaction.name.rsplit('/', 1)[1]}"
    # ann's remaining 10,000 of principal were spent: a new top-up and its refund leave her net alone
    await w.stub.TopUp(top_up(m, 20_000, sold_by="staff/cy"), metadata=md(tenant))  # 400
    await w.stub.RefundStoredValue(
        pb.RefundStoredValueRequest(member=m, store="stores/s1", tender=CASH, request_id=rid()),
        metadata=md(tenant),
    )
    assert await net_of(w, tenant, "staff/cy") == (0, 0)
    assert await net_of(w, tenant, "staff/ann") == (200, 10_000)
