"""The ledger answers as ledger.proto documents it (issue 9, example 6), over real gRPC,
PostgreSQL and NATS JetStream: `request_id` and `reference` are filled, `Posting.account` is
`<kind>:<owner>`, a checkout refund is a CHECKOUT transaction, and a reversed transaction names
its reversal."""

from __future__ import annotations

import pytest
from peony.wallet.v1 import checkout_pb2, ledger_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from tests.support.wallet import add_member, md, rid

pytestmark = pytest.mark.integration
TENANT = "ledger-contract"
PIN = "204816"


def accounts(tx: ledger_pb2.LedgerTransaction) -> list[tuple[str, int, str]]:
    return sorted((p.account, p.amount, p.unit) for p in tx.postings)


async def get(w, name: str) -> ledger_pb2.LedgerTransaction:
    return (await w.stub.GetTransaction(pb.GetTransactionRequest(name=name), metadata=md(TENANT))).transaction


async def test_top_up_and_holds_carry_their_request_reference_and_accounts(wallet):
    w = wallet
    m = await add_member(w.engine, TENANT)
    member_id = m.split("/")[1]
    await w.stub.CreateTopUpPlan(
        pb.CreateTopUpPlanRequest(
            top_up_plan=stored_value_pb2.TopUpPlan(
                display_name="700+175", pay_minor=70_000, bonus_minor=17_500
            ),
            top_up_plan_id="p700",
            request_id=rid(),
        ),
        metadata=md(TENANT),
    )
    request_id = rid()
    topped = await w.stub.TopUp(
        pb.TopUpRequest(
            member=m,
            amount_minor=70_000,
            tender=ledger_pb2.TENDER_CASH,
            store="stores/s1",
            plan="topUpPlans/p700",
            request_id=request_id,
        ),
        metadata=md(TENANT),
    )
    tx = topped.transaction
    assert (tx.kind, tx.request_id, tx.reference) == (
        ledger_pb2.TRANSACTION_KIND_TOP_UP,
        request_id,
        "topUpPlans/p700",
    )
    assert accounts(tx) == sorted(
        [
            ("tender:s1:cash", 70_000, "CNY"),
            (f"sv_principal:{member_id}", -70_000, "CNY"),
            ("bonus_expense:s1", 17_500, "CNY"),
            (f"sv_bonus:{member_id}", -17_500, "CNY"),
        ]
    )
    assert await get(w, tx.name) == tx  # a read says what the write said

    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=md(TENANT)
    )
    hold_request = rid()
    held = await w.stub.AuthorizeHold(
        pb.AuthorizeHoldRequest(
            hold=ledger_pb2.Hold(
                member=m, amount_minor=8_000, store="stores/s1", reference="appointments/a1"
            ),
            payment_pin=PIN,
            request_id=hold_request,
        ),
        metadata=md(TENANT),
    )
    authorized = await get(w, held.hold.authorize_transaction)
    assert (authorized.kind, authorized.request_id, authorized.reference) == (
        ledger_pb2.TRANSACTION_KIND_HOLD,
        hold_request,
        held.hold.name,
    )
    assert all(
        p.account.split(":", 1)[0] in ("sv_principal", "sv_bonus", "sv_held") for p in authorized.postings
    )
    assert not any(p.account.startswith("accounts/") for p in authorized.postings)
    capture_request = rid()
    captured = await w.stub.CaptureHold(
        pb.CaptureHoldRequest(name=held.hold.name, request_id=capture_request), metadata=md(TENANT)
    )
    assert (captured.transaction.request_id, captured.transaction.reference) == (
        capture_request,
        held.hold.name,
    )
    assert accounts(captured.transaction) == sorted(
        [(f"sv_held:{member_id}", 8_000, "CNY"), ("revenue:s1", -8_000, "CNY")]
    )

    # A reversal names its original, and the original then names its reversal.
    plain = await w.stub.TopUp(
        pb.TopUpRequest(
            member=m, amount_minor=1_000, tender=ledger_pb2.TENDER_ALIPAY, store="stores/s1", request_id=rid()
        ),
        metadata=md(TENANT),
    )
    assert plain.transaction.reference == "" and not plain.transaction.reversed_by
    reverse_request = rid()
    reversed_ = await w.stub.ReverseTransaction(
        pb.ReverseTransactionRequest(name=plain.transaction.name, reason="typo", request_id=reverse_request),
        metadata=md(TENANT),
    )
    tx_id = plain.transaction.name.rsplit("/", 1)[1]
    reversal_id = reversed_.reversal.name.rsplit("/", 1)[1]
    assert reversed_.reversal.request_id == reverse_request
    assert reversed_.reversal.reverses == plain.transaction.name == f"{m}/transactions/{tx_id}"
    assert reversed_.reversed.reversed_by == reversed_.reversal.name == f"{m}/transactions/{reversal_id}"
    assert (await get(w, plain.transaction.name)).reversed_by == reversed_.reversal.name


async def test_a_checkout_refund_is_a_checkout_transaction_naming_its_refund(wallet):
    w = wallet
    m = await add_member(w.engine, TENANT)
    member_id = m.split("/")[1]
    await w.stub.TopUp(
        pb.TopUpRequest(
            member=m, amount_minor=50_000, tender=ledger_pb2.TENDER_CASH, store="stores/s1", request_id=rid()
        ),
        metadata=md(TENANT),
    )
    await w.stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=md(TENANT)
    )

    async def checkout() -> checkout_pb2.Checkout:
        request_id = rid()
        done = await w.stub.Checkout(
            pb.CheckoutRequest(
                member=m,
                store="stores/s1",
                lines=[checkout_pb2.CheckoutLine(item="services/facial", quantity=2, list_price_minor=5_000)],
                stored_value_minor=10_000,
                payment_pin=PIN,
                request_id=request_id,
            ),
            metadata=md(TENANT),
        )
        tx = await get(w, done.checkout.transaction)
        assert (tx.kind, tx.request_id, tx.reference) == (
            ledger_pb2.TRANSACTION_KIND_CHECKOUT,
            request_id,
            done.checkout.name,
        )
        return done.checkout

    # A partial refund, then the rest.
    first = await checkout()
    for lines in ([checkout_pb2.RefundLine(line_index=0, quantity=1)], []):
        request_id = rid()
        refund = (
            await w.stub.RefundCheckout(
                pb.RefundCheckoutRequest(
                    checkout=first.name, lines=lines, full=not lines, request_id=request_id
                ),
                metadata=md(TENANT),
            )
        ).refund
        tx = await get(w, refund.transaction)
        assert (tx.kind, tx.request_id, tx.reference) == (
            ledger_pb2.TRANSACTION_KIND_CHECKOUT,
            request_id,
            refund.name,
        )
        money = [a for a in accounts(tx) if a[2] == "CNY"]  # (the earned points go back too)
        assert money == sorted([(f"sv_principal:{member_id}", -5_000, "CNY"), ("revenue:s1", 5_000, "CNY")])

    # A full refund at once mirrors the checkout exactly: still a CHECKOUT, naming what it reverses.
    second = await checkout()
    refund = (
        await w.stub.RefundCheckout(
            pb.RefundCheckoutRequest(checkout=second.name, full=True, request_id=rid()), metadata=md(TENANT)
        )
    ).refund
    tx = await get(w, refund.transaction)
    assert (tx.kind, tx.reference) == (ledger_pb2.TRANSACTION_KIND_CHECKOUT, refund.name)
    assert tx.reverses == second.transaction

    listed = await w.stub.ListTransactions(
        pb.ListTransactionsRequest(parent=m, kinds=[ledger_pb2.TRANSACTION_KIND_CHECKOUT], page_size=50),
        metadata=md(TENANT),
    )
    assert len(listed.transactions) == 5  # two checkouts and three refunds
    assert {t.kind for t in listed.transactions} == {ledger_pb2.TRANSACTION_KIND_CHECKOUT}
    refunds_only = await w.stub.ListTransactions(
        pb.ListTransactionsRequest(parent=m, kinds=[ledger_pb2.TRANSACTION_KIND_REFUND], page_size=50),
        metadata=md(TENANT),
    )
    assert list(refunds_only.transactions) == []  # REFUND is RefundStoredValue only
