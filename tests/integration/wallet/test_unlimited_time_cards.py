"""Unlimited time cards (月卡 / 季卡 / 年卡 with any number of uses) over real gRPC and PostgreSQL:
uses are not counted, the price is recognised straight-line over the period (brought up to date
at each use), a use after the period is refused, a refunded use gives back exactly what it
recognised, session holds (booking's package hold) work, and a refund pays back the rest of the
period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
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
    refused,
    rid,
    settle_expiries,
    wallet,  # noqa: F401 - the module's fixture
    writes,
)
from tests.integration.wallet.test_time_cards import bad_fields

pytestmark = pytest.mark.integration
PRICE = 90_000
FACIAL = "services/facial"


async def product(stub, product_id: str, months: int = 1, per_day: int = 0) -> packages_pb2.PackageProduct:
    return (
        await stub.CreatePackageProduct(
            pb.CreatePackageProductRequest(
                package_product_id=product_id,
                package_product=packages_pb2.PackageProduct(
                    display_name="Unlimited facial month",
                    price_minor=PRICE,
                    items=[
                        packages_pb2.PackageItem(
                            service=FACIAL,
                            list_price_minor=120_000,
                            validity_months=months,
                            unlimited=True,
                            max_uses_per_day=per_day,
                        )
                    ],
                ),
                request_id=rid(),
            ),
            metadata=md(),
        )
    ).package_product


async def sell(stub, m: str, product_id: str) -> packages_pb2.MemberPackage:
    return (
        await stub.SellPackage(
            pb.SellPackageRequest(
                member=m,
                product=f"packageProducts/{product_id}",
                store="stores/s1",
                tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=PRICE)],
                request_id=rid(),
            ),
            metadata=md(),
        )
    ).member_package


async def card(stub, name: str) -> packages_pb2.MemberPackage:
    listed = await stub.ListMemberPackages(
        pb.ListMemberPackagesRequest(parent=name.split("/packages/")[0]), metadata=md()
    )
    return next(c for c in listed.member_packages if c.name == name)


async def set_period(engine, name: str, start: datetime, end: datetime) -> None:
    """The clock cannot be moved from outside: the card's stored period is."""
    package_id = name.rsplit("/", 1)[1]
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE member_packages SET purchase_time = :s WHERE tenant_id = :t AND package_id = :p"),
            {"s": start, "t": TENANT, "p": package_id},
        )
        await conn.execute(
            text("UPDATE member_package_items SET expire_time = :e WHERE tenant_id = :t AND package_id = :p"),
            {"e": end, "t": TENANT, "p": package_id},
        )


async def test_unlimited_uses_recognise_the_price_over_the_period(wallet):  # noqa: F811
    stub, engine = wallet
    p = await product(stub, "unlimited-month")
    assert p.items[0].unlimited and p.items[0].sessions == 0
    m = await member(engine)
    sold = await sell(stub, m, "unlimited-month")
    assert sold.items[0].unlimited and sold.items[0].sessions_remaining == 0
    assert sold.deferred_minor == PRICE
    revenue_before = await account(engine, "revenue", "s2")
    # Ten uses at once right after the sale: none refused, the card stays active, and next to
    # nothing is recognised yet (the period has hardly begun).
    for _ in range(10):
        used = await consume(stub, sold.name)
    assert used.member_package.state == packages_pb2.PACKAGE_STATE_ACTIVE
    early = revenue_before - await account(engine, "revenue", "s2")
    assert 0 <= early < PRICE // 100
    # Halfway through the period: the next use brings recognition up to half the price.
    now = datetime.now(UTC)
    await set_period(engine, sold.name, now - timedelta(days=15), now + timedelta(days=15))
    await consume(stub, sold.name)
    halfway = revenue_before - await account(engine, "revenue", "s2")
    assert PRICE // 2 - 100 <= halfway <= PRICE // 2 + 100, halfway
    after = await card(stub, sold.name)
    assert after.deferred_minor == PRICE - halfway
    assert after.items[0].sessions_remaining == 0 and after.state == packages_pb2.PACKAGE_STATE_ACTIVE
    await assert_ledger_invariants(engine)


async def test_a_use_after_the_period_is_refused_and_writes_nothing(wallet):  # noqa: F811
    stub, engine = wallet
    await product(stub, "unlimited-expiring")
    m = await member(engine)
    sold = await sell(stub, m, "unlimited-expiring")
    await consume(stub, sold.name)
    now = datetime.now(UTC)
    await set_period(engine, sold.name, now - timedelta(days=31), now - timedelta(seconds=1))
    await settle_expiries(engine)  # the expiry job recognises the card's rest now, not mid-check
    before = await writes(engine)
    await refused(consume(stub, sold.name), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_ITEM_EXPIRED")
    hold = pb.AuthorizeHoldRequest(
        hold=ledger_pb2.Hold(
            member=m, store="stores/s2", package=sold.name, service=FACIAL, sessions=1, reference="a/1"
        ),
        request_id=rid(),
    )
    await refused(
        stub.AuthorizeHold(hold, metadata=md()), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_ITEM_EXPIRED"
    )
    assert await writes(engine) == before


async def test_checkout_use_and_its_refund_restore_exactly(wallet):  # noqa: F811
    stub, engine = wallet
    await product(stub, "unlimited-checkout")
    m = await member(engine)
    sold = await sell(stub, m, "unlimited-checkout")
    now = datetime.now(UTC)
    await set_period(engine, sold.name, now - timedelta(days=10), now + timedelta(days=20))
    done = await stub.Checkout(
        pb.CheckoutRequest(
            member=m,
            store="stores/s2",
            lines=[
                checkout_pb2.CheckoutLine(
                    item=FACIAL, quantity=2, list_price_minor=30_000, use_package=sold.name
                )
            ],
            request_id=rid(),
        ),
        metadata=md(),
    )
    assert done.checkout.line_results[0].package_sessions_used == 2
    used = await card(stub, sold.name)
    recognised = PRICE - used.deferred_minor
    assert PRICE // 3 - 100 <= recognised <= PRICE // 3 + 100, recognised
    await stub.RefundCheckout(
        pb.RefundCheckoutRequest(checkout=done.checkout.name, full=True, reason="test", request_id=rid()),
        metadata=md(),
    )
    restored = await card(stub, sold.name)
    assert restored.deferred_minor == PRICE and restored.state == packages_pb2.PACKAGE_STATE_ACTIVE
    await assert_ledger_invariants(engine)


async def test_session_holds_capture_and_void_on_an_unlimited_card(wallet):  # noqa: F811
    stub, engine = wallet
    await product(stub, "unlimited-hold")
    m = await member(engine)
    sold = await sell(stub, m, "unlimited-hold")

    def hold_request() -> pb.AuthorizeHoldRequest:
        return pb.AuthorizeHoldRequest(
            hold=ledger_pb2.Hold(
                member=m, store="stores/s2", package=sold.name, service=FACIAL, sessions=1, reference="a/1"
            ),
            request_id=rid(),
        )

    held = (await stub.AuthorizeHold(hold_request(), metadata=md())).hold
    assert (await card(stub, sold.name)).items[0].sessions_held == 1
    # held uses block a refund, as for every card
    await refused(
        stub.RefundPackage(
            pb.RefundPackageRequest(
                package=sold.name, store="stores/s1", tender=ledger_pb2.TENDER_CASH, request_id=rid()
            ),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLDS_OUTSTANDING",
    )
    captured = await stub.CaptureHold(pb.CaptureHoldRequest(name=held.name, request_id=rid()), metadata=md())
    assert captured.hold.state == ledger_pb2.HOLD_STATE_CAPTURED
    voided = (await stub.AuthorizeHold(hold_request(), metadata=md())).hold
    await stub.VoidHold(pb.VoidHoldRequest(name=voided.name, request_id=rid()), metadata=md())
    after = await card(stub, sold.name)
    assert after.items[0].sessions_held == 0 and after.state == packages_pb2.PACKAGE_STATE_ACTIVE
    await assert_ledger_invariants(engine)


async def test_refund_pays_back_the_rest_of_the_period_and_transfer_is_refused(wallet):  # noqa: F811
    stub, engine = wallet
    await product(stub, "unlimited-refund")
    m, other = await member(engine), await member(engine)
    sold = await sell(stub, m, "unlimited-refund")
    await refused(
        stub.TransferPackage(
            pb.TransferPackageRequest(package=sold.name, to_member=other, request_id=rid()), metadata=md()
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "TIME_CARD_NOT_TRANSFERABLE",
    )
    now = datetime.now(UTC)
    await set_period(engine, sold.name, now - timedelta(days=20), now + timedelta(days=10))
    revenue_before = await account(engine, "revenue", "s1")
    refunded = await stub.RefundPackage(
        pb.RefundPackageRequest(
            package=sold.name, store="stores/s1", tender=ledger_pb2.TENDER_CASH, request_id=rid()
        ),
        metadata=md(),
    )
    paid_back = refunded.member_package.deferred_minor  # 0 after the refund
    assert paid_back == 0 and refunded.member_package.state == packages_pb2.PACKAGE_STATE_REFUNDED
    recognised = revenue_before - await account(engine, "revenue", "s1")
    assert PRICE * 2 // 3 - 100 <= recognised <= PRICE * 2 // 3 + 100, recognised
    # what was not recognised went back to the member through the tender
    refund_postings = [p for p in refunded.transaction.postings if p.amount > 0]
    assert sum(p.amount for p in refund_postings) == PRICE  # deferred: recognised + paid back
    await assert_ledger_invariants(engine)


async def test_unlimited_terms_are_validated(wallet):  # noqa: F811
    stub, _ = wallet
    for item, field in (
        (
            packages_pb2.PackageItem(
                service=FACIAL, sessions=4, list_price_minor=1, validity_months=1, unlimited=True
            ),
            "sessions",
        ),
        (packages_pb2.PackageItem(service=FACIAL, list_price_minor=1, unlimited=True), "validity_months"),
        (
            packages_pb2.PackageItem(service=FACIAL, sessions=4, list_price_minor=1, max_uses_per_day=1),
            "max_uses_per_day",
        ),
        (
            packages_pb2.PackageItem(
                service=FACIAL, list_price_minor=1, validity_months=1, unlimited=True, max_uses_per_day=101
            ),
            "max_uses_per_day",
        ),
        (
            packages_pb2.PackageItem(service=FACIAL, list_price_minor=1, validity_days=30, unlimited=True),
            "validity_months",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreatePackageProduct(
                pb.CreatePackageProductRequest(
                    package_product_id="bad-unlimited",
                    package_product=packages_pb2.PackageProduct(
                        display_name="Bad", price_minor=100, items=[item]
                    ),
                    request_id=rid(),
                ),
                metadata=md(),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any(f.endswith(field) for f in bad_fields(err.value)), bad_fields(err.value)


async def test_a_daily_cap_refuses_the_use_beyond_it_and_a_refunded_use_frees_its_place(wallet):  # noqa: F811
    stub, engine = wallet
    p = await product(stub, "unlimited-twice-a-day", per_day=2)
    assert p.items[0].max_uses_per_day == 2
    m = await member(engine)
    sold = await sell(stub, m, "unlimited-twice-a-day")
    assert sold.items[0].max_uses_per_day == 2
    await consume(stub, sold.name)
    done = await stub.Checkout(
        pb.CheckoutRequest(
            member=m,
            store="stores/s2",
            lines=[
                checkout_pb2.CheckoutLine(
                    item=FACIAL, quantity=1, list_price_minor=30_000, use_package=sold.name
                )
            ],
            request_id=rid(),
        ),
        metadata=md(),
    )
    before = await writes(engine)
    await refused(consume(stub, sold.name), grpc.StatusCode.FAILED_PRECONDITION, "DAILY_USES_EXHAUSTED")
    await refused(
        stub.Checkout(
            pb.CheckoutRequest(
                member=m,
                store="stores/s2",
                lines=[
                    checkout_pb2.CheckoutLine(
                        item=FACIAL, quantity=1, list_price_minor=30_000, use_package=sold.name
                    )
                ],
                request_id=rid(),
            ),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DAILY_USES_EXHAUSTED",
    )
    hold = pb.AuthorizeHoldRequest(
        hold=ledger_pb2.Hold(
            member=m, store="stores/s2", package=sold.name, service=FACIAL, sessions=1, reference="a/1"
        ),
        request_id=rid(),
    )
    await refused(
        stub.AuthorizeHold(hold, metadata=md()), grpc.StatusCode.FAILED_PRECONDITION, "DAILY_USES_EXHAUSTED"
    )
    assert await writes(engine) == before
    # the checkout refunded: its use no longer counts
    await stub.RefundCheckout(
        pb.RefundCheckoutRequest(checkout=done.checkout.name, full=True, reason="test", request_id=rid()),
        metadata=md(),
    )
    await consume(stub, sold.name)
    await refused(consume(stub, sold.name), grpc.StatusCode.FAILED_PRECONDITION, "DAILY_USES_EXHAUSTED")


async def test_two_units_on_one_checkout_line_count_against_the_daily_cap(wallet):  # noqa: F811
    stub, engine = wallet
    product_id = f"unlimited-once-{uuid.uuid4().hex[:8]}"
    await product(stub, product_id, per_day=1)
    m = await member(engine)
    sold = await sell(stub, m, product_id)
    before = await writes(engine)
    await refused(
        stub.Checkout(
            pb.CheckoutRequest(
                member=m,
                store="stores/s2",
                lines=[
                    checkout_pb2.CheckoutLine(
                        item=FACIAL, quantity=1, list_price_minor=30_000, use_package=sold.name
                    ),
                    checkout_pb2.CheckoutLine(
                        item=FACIAL, quantity=1, list_price_minor=30_000, use_package=sold.name
                    ),
                ],
                request_id=rid(),
            ),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DAILY_USES_EXHAUSTED",
    )
    assert await writes(engine) == before
    await consume(stub, sold.name)


async def test_the_daily_cap_counts_pending_holds_on_their_day_of_use(wallet):  # noqa: F811
    """Two bookings for the same day cannot together exceed `max_uses_per_day`: an open session
    hold counts on its `use_time`'s day (booking sets the appointment's start) with the uses
    recorded that day; a hold for another day does not take today's place."""
    stub, engine = wallet
    product_id = f"unlimited-once-{uuid.uuid4().hex[:8]}"
    await product(stub, product_id, per_day=1)
    m = await member(engine)
    sold = await sell(stub, m, product_id)
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    def hold_request(use_time: datetime | None = None, **fields) -> pb.AuthorizeHoldRequest:
        hold = ledger_pb2.Hold(
            member=m,
            store="stores/s2",
            package=sold.name,
            service=FACIAL,
            sessions=1,
            reference="b/1",
            **fields,
        )
        if use_time is not None:
            hold.use_time.FromDatetime(use_time)
        return pb.AuthorizeHoldRequest(hold=hold, request_id=rid())

    first = (await stub.AuthorizeHold(hold_request(tomorrow), metadata=md())).hold
    assert first.use_time.ToDatetime(UTC) == tomorrow
    before = await writes(engine)
    # a second booking on the same day: the pending hold already takes the day's one use
    await refused(
        stub.AuthorizeHold(hold_request(tomorrow + timedelta(minutes=1)), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DAILY_USES_EXHAUSTED",
    )
    assert await writes(engine) == before
    # today is another day: a use now is allowed, and then today's hold is not
    await consume(stub, sold.name)
    await refused(
        stub.AuthorizeHold(hold_request(), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DAILY_USES_EXHAUSTED",
    )
    # the first booking cancelled (hold voided): its day is free again
    await stub.VoidHold(pb.VoidHoldRequest(name=first.name, request_id=rid()), metadata=md())
    second = (await stub.AuthorizeHold(hold_request(tomorrow + timedelta(minutes=1)), metadata=md())).hold
    assert second.state == ledger_pb2.HOLD_STATE_AUTHORIZED

    # a hold pending today blocks a use at the till today
    other = await sell(stub, await member(engine), product_id)
    today = pb.AuthorizeHoldRequest(
        hold=ledger_pb2.Hold(
            member=other.name.split("/packages/")[0],
            store="stores/s2",
            package=other.name,
            service=FACIAL,
            sessions=1,
            reference="b/2",
        ),
        request_id=rid(),
    )
    await stub.AuthorizeHold(today, metadata=md())
    await refused(consume(stub, other.name), grpc.StatusCode.FAILED_PRECONDITION, "DAILY_USES_EXHAUSTED")
    await assert_ledger_invariants(engine)


async def test_a_hold_use_time_is_bounded(wallet):  # noqa: F811
    stub, engine = wallet
    product_id = f"unlimited-use-time-{uuid.uuid4().hex[:8]}"
    await product(stub, product_id, per_day=1)
    m = await member(engine)
    sold = await sell(stub, m, product_id)
    now = datetime.now(UTC)
    before = await writes(engine)
    cases = [
        (dict(package=sold.name, service=FACIAL, sessions=1), now + timedelta(days=200), None),
        (dict(package=sold.name, service=FACIAL, sessions=1), now - timedelta(days=3), None),
        (
            dict(package=sold.name, service=FACIAL, sessions=1),
            now + timedelta(days=2),
            now + timedelta(days=1),
        ),
        (dict(amount_minor=100), now + timedelta(days=1), None),  # a stored-value hold has no day of use
    ]
    for fields, use_time, expire_time in cases:
        hold = ledger_pb2.Hold(member=m, store="stores/s2", reference="c/1", **fields)
        hold.use_time.FromDatetime(use_time)
        if expire_time is not None:
            hold.expire_time.FromDatetime(expire_time)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.AuthorizeHold(pb.AuthorizeHoldRequest(hold=hold, request_id=rid()), metadata=md())
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "hold.use_time" in bad_fields(err.value)
    assert await writes(engine) == before


async def test_a_rescheduled_hold_moves_its_day_of_use_under_the_cap(wallet):  # noqa: F811
    """ExtendHold with `use_time` (booking's reschedule): the hold counts on its new day, checked
    there against the cap without counting itself twice; a day already full refuses the move."""
    stub, engine = wallet
    product_id = f"unlimited-move-{uuid.uuid4().hex[:8]}"
    await product(stub, product_id, per_day=1)
    m = await member(engine)
    sold = await sell(stub, m, product_id)
    day1 = datetime.now(UTC) + timedelta(days=1)
    day2 = day1 + timedelta(days=1)

    async def hold_on(use_time: datetime) -> ledger_pb2.Hold:
        hold = ledger_pb2.Hold(
            member=m, store="stores/s2", package=sold.name, service=FACIAL, sessions=1, reference="r/1"
        )
        hold.use_time.FromDatetime(use_time)
        hold.expire_time.FromDatetime(use_time + timedelta(days=3))
        return (
            await stub.AuthorizeHold(pb.AuthorizeHoldRequest(hold=hold, request_id=rid()), metadata=md())
        ).hold

    def move(hold: ledger_pb2.Hold, use_time: datetime) -> pb.ExtendHoldRequest:
        request = pb.ExtendHoldRequest(name=hold.name, request_id=rid())
        request.expire_time.CopyFrom(hold.expire_time)
        request.use_time.FromDatetime(use_time)
        return request

    first, second = await hold_on(day1), await hold_on(day2)
    before = await writes(engine)
    await refused(
        stub.ExtendHold(move(second, day1 + timedelta(hours=1)), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DAILY_USES_EXHAUSTED",
    )
    assert await writes(engine) == before
    # the same day for the hold itself: it is not counted twice
    moved = (await stub.ExtendHold(move(first, day1 + timedelta(hours=2)), metadata=md())).hold
    assert moved.use_time.ToDatetime(UTC) == day1 + timedelta(hours=2)
    # the first moves on to day 3: day 1 is free for the second
    await stub.ExtendHold(move(first, day1 + timedelta(days=2)), metadata=md())
    assert (await stub.ExtendHold(move(second, day1), metadata=md())).hold.use_time.ToDatetime(UTC) == day1
