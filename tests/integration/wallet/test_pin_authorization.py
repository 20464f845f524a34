"""Authorization runs before the payment PIN (issue 9, example 1), over real gRPC, PostgreSQL
and NATS JetStream: a caller who may not make a payment must not be able to spend — and so lock —
a member's PIN attempts, and a denied call writes nothing (no attempt, no row, no event)."""

from __future__ import annotations

import grpc
import pytest
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from tests.support.wallet import add_member, count_rows, md, reason_of, rid

pytestmark = pytest.mark.integration
TENANT = "pin-authz"
PIN = "204816"
WRONG = "000000"
# Everything a payment can write; a denied call must leave all of it as it was.
TABLES = (
    "payment_pins",
    "ledger_transactions",
    "postings",
    "holds",
    "checkouts",
    "member_packages",
    "idempotency_keys",
    "outbox",
)


async def pin_state(engine, member: str) -> tuple[int, object]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT failed_attempts, locked_until FROM payment_pins"
                    " WHERE tenant_id = :t AND member_id = :m"
                ),
                {"t": TENANT, "m": member.split("/")[1]},
            )
        ).one()
    return row.failed_attempts, row.locked_until


async def funded_member(w) -> str:
    m = await add_member(w.engine, TENANT)
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=md(TENANT)
    )
    await w.stub.TopUp(
        pb.TopUpRequest(
            member=m, amount_minor=50_000, tender=ledger_pb2.TENDER_CASH, store="stores/s2", request_id=rid()
        ),
        metadata=md(TENANT),
    )
    return m


def checkout(m: str, pin: str, store: str = "stores/s2") -> pb.CheckoutRequest:
    return pb.CheckoutRequest(
        member=m,
        store=store,
        lines=[checkout_pb2.CheckoutLine(item="services/facial", quantity=1, list_price_minor=10_000)],
        stored_value_minor=10_000,
        payment_pin=pin,
        request_id=rid(),
    )


async def denied(call) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value.details()
    return reason_of(err.value)


async def test_an_out_of_scope_front_desk_cannot_lock_a_members_pin(wallet):
    m = await funded_member(wallet)
    front_desk_s1 = md(TENANT, ("front_desk",), stores=["stores/s1"])
    before = await count_rows(wallet.engine, TENANT, TABLES)
    attempts_before = await pin_state(wallet.engine, m)

    # More wrong PINs than the lockout allows (5), each at a store the caller is not scoped to.
    reasons = [
        await denied(wallet.stub.Checkout(checkout(m, WRONG), metadata=front_desk_s1)) for _ in range(6)
    ]
    assert reasons == ["STORE_OUT_OF_SCOPE"] * 6
    # The right PIN gives the same answer: the store scope, not the PIN, decides.
    assert (
        await denied(wallet.stub.Checkout(checkout(m, PIN), metadata=front_desk_s1)) == "STORE_OUT_OF_SCOPE"
    )

    assert await pin_state(wallet.engine, m) == attempts_before == (0, None)
    assert await count_rows(wallet.engine, TENANT, TABLES) == before

    # The member can still pay: a front desk of s2 checks out with the right PIN (not PIN_LOCKED).
    paid = await wallet.stub.Checkout(
        checkout(m, PIN), metadata=md(TENANT, ("front_desk",), stores=["stores/s2"])
    )
    assert paid.checkout.state == checkout_pb2.CHECKOUT_STATE_COMPLETED
    assert paid.wallet.principal_minor == 40_000 and not paid.wallet.HasField("pin_locked_until")


async def test_every_pin_checking_rpc_authorizes_first_and_writes_nothing_when_denied(wallet):
    m = await funded_member(wallet)
    product = await wallet.stub.CreatePackageProduct(
        pb.CreatePackageProductRequest(
            package_product=packages_pb2.PackageProduct(
                display_name="Facial x2",
                price_minor=10_000,
                items=[
                    packages_pb2.PackageItem(service="services/facial", sessions=2, list_price_minor=6_000)
                ],
            ),
            request_id=rid(),
        ),
        metadata=md(TENANT),
    )
    front_desk_s1 = md(TENANT, ("front_desk",), stores=["stores/s1"])
    other = await add_member(wallet.engine, TENANT)
    other_member = md(TENANT, ("member",), subject=other)
    before = await count_rows(wallet.engine, TENANT, TABLES)

    calls = {
        "hold at another store": lambda: wallet.stub.AuthorizeHold(
            pb.AuthorizeHoldRequest(
                hold=ledger_pb2.Hold(member=m, amount_minor=1_000, store="stores/s2"),
                payment_pin=WRONG,
                request_id=rid(),
            ),
            metadata=front_desk_s1,
        ),
        "package sale at another store": lambda: wallet.stub.SellPackage(
            pb.SellPackageRequest(
                member=m,
                product=product.package_product.name,
                store="stores/s2",
                tenders=[
                    checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_STORED_VALUE, amount_minor=10_000)
                ],
                payment_pin=WRONG,
                request_id=rid(),
            ),
            metadata=front_desk_s1,
        ),
        "PIN change by another member": lambda: wallet.stub.SetPaymentPin(
            pb.SetPaymentPinRequest(member=m, pin="135790", old_pin=WRONG, request_id=rid()),
            metadata=other_member,
        ),
        "checkout by another member": lambda: wallet.stub.Checkout(checkout(m, WRONG), metadata=other_member),
    }
    for _round in range(3):  # 12 wrong PINs in all: far past the lockout if any were counted
        for name, call in calls.items():
            reason = await denied(call())
            assert reason in ("STORE_OUT_OF_SCOPE", "MISSING_PERMISSION", "NOT_OWN_RECORD"), (name, reason)

    assert await pin_state(wallet.engine, m) == (0, None)
    assert await count_rows(wallet.engine, TENANT, TABLES) == before
