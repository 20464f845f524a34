"""Time cards (月卡 / 季卡 / 年卡) over real gRPC and PostgreSQL: a package item whose uses are
allowed within calendar months of the sale; deferred revenue recognised per use as for every
package; expired uses refused."""

from __future__ import annotations

import calendar
from datetime import datetime

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from tests.integration.wallet.test_packages import (
    TENANT,
    account,
    assert_ledger_invariants,
    consume,
    md,
    member,
    reason_of,
    rid,
    settle_expiries,
    wallet,  # noqa: F401 - the module's fixture
    writes,
)

pytestmark = pytest.mark.integration


def bad_fields(err: grpc.aio.AioRpcError) -> list[str]:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    out = []
    for any_ in status_pb2.Status.FromString(raw).details:
        bad = error_details_pb2.BadRequest()
        if any_.Unpack(bad):
            out += [v.field for v in bad.field_violations]
    return out


def months_later(start: datetime, months: int) -> datetime:
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


async def create_time_card(
    stub, product_id: str, months: int, uses: int, price: int
) -> packages_pb2.PackageProduct:
    return (
        await stub.CreatePackageProduct(
            pb.CreatePackageProductRequest(
                package_product_id=product_id,
                package_product=packages_pb2.PackageProduct(
                    display_name=f"{months}-month card",
                    price_minor=price,
                    items=[
                        packages_pb2.PackageItem(
                            service="services/facial",
                            sessions=uses,
                            list_price_minor=30_000,
                            validity_months=months,
                        )
                    ],
                ),
                request_id=rid(),
            ),
            metadata=md(),
        )
    ).package_product


async def test_month_quarter_and_year_cards_expire_by_calendar_months_and_recognise_per_use(wallet):  # noqa: F811
    stub, engine = wallet
    for product_id, months in (("month-card", 1), ("quarter-card", 3), ("year-card", 12)):
        product = await create_time_card(stub, product_id, months, uses=4, price=100_000)
        assert product.items[0].validity_months == months and product.items[0].validity_days == 0
        m = await member(engine)
        sold = await stub.SellPackage(
            pb.SellPackageRequest(
                member=m,
                product=f"packageProducts/{product_id}",
                store="stores/s1",
                tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=100_000)],
                request_id=rid(),
            ),
            metadata=md(),
        )
        card = sold.member_package
        purchase = card.purchase_time.ToDatetime()
        assert card.items[0].expire_time.ToDatetime() == months_later(purchase, months), product_id
        # Four uses within the period, 25 000 recognised each; the fifth has none left.
        for _ in range(4):
            await consume(stub, card.name, store="stores/s1")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consume(stub, card.name, store="stores/s1")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Every card fully used: its whole price moved from deferred to recognised revenue (credits < 0).
    assert await account(engine, "revenue", "s1") <= -3 * 100_000
    await assert_ledger_invariants(engine)


async def test_a_time_card_used_after_its_period_is_refused_and_writes_nothing(wallet):  # noqa: F811
    stub, engine = wallet
    await create_time_card(stub, "month-card-expiring", 1, uses=8, price=80_000)
    m = await member(engine)
    card = (
        await stub.SellPackage(
            pb.SellPackageRequest(
                member=m,
                product="packageProducts/month-card-expiring",
                store="stores/s1",
                tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=80_000)],
                request_id=rid(),
            ),
            metadata=md(),
        )
    ).member_package
    await consume(stub, card.name, store="stores/s1")
    # The month passes (the clock cannot be moved from outside: the stored expiry is).
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE member_package_items SET expire_time = now() - interval '1 second'"
                " WHERE tenant_id = :t AND package_id = :p"
            ),
            {"t": TENANT, "p": card.name.rsplit("/", 1)[1]},
        )
    await settle_expiries(engine)  # the expiry job recognises the card's rest now, not mid-check
    before = await writes(engine)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consume(stub, card.name, store="stores/s1")
    assert (err.value.code(), reason_of(err.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PACKAGE_ITEM_EXPIRED",
    )
    assert await writes(engine) == before


async def test_time_card_terms_are_validated(wallet):  # noqa: F811
    stub, _ = wallet
    for item, field in (
        (
            packages_pb2.PackageItem(
                service="services/facial", sessions=4, list_price_minor=1, validity_months=121
            ),
            "validity_months",
        ),
        (
            packages_pb2.PackageItem(
                service="services/facial", sessions=4, list_price_minor=1, validity_months=-1
            ),
            "validity_months",
        ),
        (
            packages_pb2.PackageItem(
                service="services/facial", sessions=4, list_price_minor=1, validity_months=1, validity_days=30
            ),
            "validity_months",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreatePackageProduct(
                pb.CreatePackageProductRequest(
                    package_product_id="bad-time-card",
                    package_product=packages_pb2.PackageProduct(
                        display_name="Bad", price_minor=100, items=[item]
                    ),
                    request_id=rid(),
                ),
                metadata=md(),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any(f.endswith(field) for f in bad_fields(err.value)), bad_fields(err.value)
