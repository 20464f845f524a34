"""`SellPackageRequest.sold_by` earns the seller's commission by the commission rules, as a
checkout line does (issue 9, example 11), over real gRPC, PostgreSQL and NATS JetStream; a
refunded card takes its share back, and a malformed `sold_by` is refused before anything (the
PIN included) is touched."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import checkout_pb2, commission_pb2, ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from tests.support.wallet import add_member, count_rows, md, rid, running_wallet

pytestmark = pytest.mark.integration
TENANT = "package-commission"
PIN = "204816"
PRICE = 10_000


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_package_commission") as w:
        admin = md(TENANT)
        await w.stub.CreatePackageProduct(
            pb.CreatePackageProductRequest(
                package_product_id="facial-5",
                package_product=packages_pb2.PackageProduct(
                    display_name="Facial x5",
                    price_minor=PRICE,
                    items=[
                        packages_pb2.PackageItem(
                            service="services/facial", sessions=5, list_price_minor=3_000
                        )
                    ],
                ),
                request_id=rid(),
            ),
            metadata=admin,
        )
        for rule_id, rule in {
            # every package sale: 8 %
            "packages-8": commission_pb2.CommissionRule(
                category="package", basis=commission_pb2.COMMISSION_BASIS_PERCENT, percent_bps=800
            ),
            # the part paid from stored value: 3 % (wins by priority)
            "packages-sv-3": commission_pb2.CommissionRule(
                category="package",
                tender=ledger_pb2.TENDER_STORED_VALUE,
                basis=commission_pb2.COMMISSION_BASIS_PERCENT,
                percent_bps=300,
                priority=10,
            ),
            # checkout lines of this item only: must not match a package sale
            "facial-lines": commission_pb2.CommissionRule(
                item="services/facial",
                basis=commission_pb2.COMMISSION_BASIS_FIXED,
                fixed_minor=999,
                priority=99,
            ),
        }.items():
            await w.stub.CreateCommissionRule(
                pb.CreateCommissionRuleRequest(
                    commission_rule=rule, commission_rule_id=rule_id, request_id=rid()
                ),
                metadata=admin,
            )
        yield w


def sale(m: str, *, sold_by: str, tender=ledger_pb2.TENDER_CASH, pin: str = "") -> pb.SellPackageRequest:
    return pb.SellPackageRequest(
        member=m,
        product="packageProducts/facial-5",
        store="stores/s1",
        tenders=[checkout_pb2.TenderAmount(tender=tender, amount_minor=PRICE)],
        payment_pin=pin,
        sold_by=sold_by,
        request_id=rid(),
    )


async def records(w, staff: str) -> list[commission_pb2.CommissionRecord]:
    got = await w.stub.ListCommissionRecords(
        pb.ListCommissionRecordsRequest(staff=staff, page_size=50), metadata=md(TENANT)
    )
    return sorted(got.commission_records, key=lambda r: r.create_time.ToDatetime())


async def test_the_seller_earns_commission_by_the_rules_and_a_refund_takes_its_share_back(wallet):
    w = wallet
    m = await add_member(w.engine, TENANT)
    cash = await w.stub.SellPackage(sale(m, sold_by="staff/bo"), metadata=md(TENANT))
    [rec] = await records(w, "staff/bo")
    card = cash.member_package.name
    assert (rec.package, rec.checkout, rec.staff, rec.rule, rec.base_minor, rec.amount_minor, rec.store) == (
        card,
        "",
        "staff/bo",
        "commissionRules/packages-8",
        PRICE,
        PRICE * 8 // 100,
        "stores/s1",
    )
    assert rec.item == "packageProducts/facial-5"

    # Paid from stored value: the stored-value rule, by booking's staff resource name.
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=md(TENANT)
    )
    await w.stub.TopUp(
        pb.TopUpRequest(
            member=m, amount_minor=PRICE, tender=ledger_pb2.TENDER_CASH, store="stores/s1", request_id=rid()
        ),
        metadata=md(TENANT),
    )
    seller = "stores/s1/staff/cy"
    await w.stub.SellPackage(
        sale(m, sold_by=seller, tender=ledger_pb2.TENDER_STORED_VALUE, pin=PIN), metadata=md(TENANT)
    )
    [rec] = await records(w, seller)
    assert (rec.rule, rec.base_minor, rec.amount_minor) == (
        "commissionRules/packages-sv-3",
        PRICE,
        PRICE * 3 // 100,
    )

    # Without a seller, no record.
    await w.stub.SellPackage(sale(m, sold_by=""), metadata=md(TENANT))

    # Refunding the untouched cash card takes back all of its commission (pro rata to the value).
    await w.stub.RefundPackage(
        pb.RefundPackageRequest(
            package=card, store="stores/s1", tender=ledger_pb2.TENDER_CASH, request_id=rid()
        ),
        metadata=md(TENANT),
    )
    sold, clawback = await records(w, "staff/bo")
    assert (clawback.package, clawback.amount_minor, clawback.base_minor) == (
        card,
        -sold.amount_minor,
        -PRICE,
    )
    start, end = sold.create_time, clawback.create_time
    end.FromSeconds(end.seconds + 5)
    report = await w.stub.GetCommissionReport(
        pb.GetCommissionReportRequest(start_time=start, end_time=end), metadata=md(TENANT)
    )
    assert {(r.staff, r.commission_minor, r.record_count) for r in report.rows} >= {
        ("staff/bo", 0, 2),
        (seller, PRICE * 3 // 100, 1),
    }


def field_of(err: grpc.aio.AioRpcError) -> list[str]:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    out = []
    for any_ in status_pb2.Status.FromString(raw).details:
        bad = error_details_pb2.BadRequest()
        if any_.Unpack(bad):
            out += [v.field for v in bad.field_violations]
    return out


@pytest.mark.parametrize(
    "sold_by", ["bo", "staff/", "staff/a/b", "staff/a b", "stores//staff/x", "staff/" + "x" * 65]
)
async def test_a_malformed_sold_by_is_refused_before_the_pin_and_writes_nothing(wallet, sold_by):
    w = wallet
    m = await add_member(w.engine, TENANT)
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=md(TENANT)
    )
    tables = ("payment_pins", "ledger_transactions", "member_packages", "commission_records", "outbox")
    before = await count_rows(w.engine, TENANT, tables)
    for pin in ("000000", PIN):  # a wrong PIN too: the request is refused before the PIN is read
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await w.stub.SellPackage(
                sale(m, sold_by=sold_by, tender=ledger_pb2.TENDER_STORED_VALUE, pin=pin), metadata=md(TENANT)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(err.value) == ["sold_by"]
    assert await count_rows(w.engine, TENANT, tables) == before
    async with w.engine.connect() as conn:
        attempts = (
            await conn.execute(
                text("SELECT failed_attempts FROM payment_pins WHERE tenant_id = :t AND member_id = :m"),
                {"t": TENANT, "m": m.split("/")[1]},
            )
        ).scalar_one()
    assert attempts == 0
