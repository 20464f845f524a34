"""Stored value is owed by the store that sold it (issue 9, example 5), over real gRPC, PostgreSQL
and NATS JetStream: in a two-store day the per-store liability never goes negative, spend at
another store shows up as inter-store clearing sold → used (principal, as finance.proto says),
refunds and reversals restore the attribution exactly, and the rows always add up to the
ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.db import session_factory
from kit.migrations import upgrade
from kit.uow import UnitOfWorkFactory
from services.wallet.domain import ledger
from services.wallet.domain.ledger import TransactionDraft
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import (
    add_member,
    install_ledger_post,
    md,
    reason_of,
    rid,
    sv_lot_disagreements,
)

pytestmark = pytest.mark.integration
PIN = "204816"
A, B, C = "stores/a", "stores/b", "stores/c"


def stamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


class Day:
    """One test's tenant: a member with a PIN, money calls, and the finance views."""

    def __init__(self, w, tenant: str):
        self.w, self.tenant, self.md = w, tenant, md(tenant)
        self.start = datetime.now(UTC) - timedelta(seconds=5)

    async def member(self) -> str:
        m = await add_member(self.w.engine, self.tenant)
        await self.w.stub.SetPaymentPin(
            pb.SetPaymentPinRequest(member=m, pin=PIN, request_id=rid()), metadata=self.md
        )
        return m

    async def top_up(self, m: str, amount: int, store: str, plan: str = "") -> pb.TopUpResponse:
        return await self.w.stub.TopUp(
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

    async def checkout(self, m: str, store: str, *prices: int) -> checkout_pb2.Checkout:
        done = await self.w.stub.Checkout(
            pb.CheckoutRequest(
                member=m,
                store=store,
                lines=[
                    checkout_pb2.CheckoutLine(item="services/facial", quantity=1, list_price_minor=p)
                    for p in prices
                ],
                stored_value_minor=sum(prices),
                payment_pin=PIN,
                request_id=rid(),
            ),
            metadata=self.md,
        )
        return done.checkout

    async def refund(self, checkout: str, *line_indexes: int) -> None:
        await self.w.stub.RefundCheckout(
            pb.RefundCheckoutRequest(
                checkout=checkout,
                lines=[checkout_pb2.RefundLine(line_index=i, quantity=1) for i in line_indexes],
                full=not line_indexes,
                request_id=rid(),
            ),
            metadata=self.md,
        )

    async def liability(self) -> dict[str, tuple[int, int]]:
        got = await self.w.stub.GetStoredValueLiability(pb.GetStoredValueLiabilityRequest(), metadata=self.md)
        rows = {r.store: (r.principal_minor, r.bonus_minor) for r in got.rows}
        assert all(p >= 0 and b >= 0 for p, b in rows.values()), rows  # never negative
        # The rows add up to what the members' accounts owe (held value included).
        async with self.w.engine.connect() as conn:
            owed = (
                await conn.execute(
                    text(
                        "SELECT coalesce(-sum(balance), 0) FROM accounts WHERE tenant_id = :t"
                        " AND kind IN ('sv_principal', 'sv_bonus', 'sv_held')"
                    ),
                    {"t": self.tenant},
                )
            ).scalar_one()
        assert got.total_principal_minor + got.total_bonus_minor == owed
        return rows

    async def clearing(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        got = await self.w.stub.GetInterStoreClearing(
            pb.GetInterStoreClearingRequest(
                start_time=stamp(self.start), end_time=stamp(datetime.now(UTC) + timedelta(seconds=5))
            ),
            metadata=self.md,
        )
        return {
            (e.sold_store, e.consumed_store): (e.amount_minor, e.stored_value_minor, e.package_minor)
            for e in got.entries
        }


async def test_spend_at_another_store_is_owed_by_the_seller_and_cleared(wallet):
    day = Day(wallet, "attribution-two-stores")
    await wallet.stub.CreateTopUpPlan(
        pb.CreateTopUpPlanRequest(
            top_up_plan=stored_value_pb2.TopUpPlan(
                display_name="700+175", pay_minor=70_000, bonus_minor=17_500
            ),
            top_up_plan_id="p700",
            request_id=rid(),
        ),
        metadata=day.md,
    )
    m = await day.member()
    await day.top_up(m, 70_000, A, plan="topUpPlans/p700")  # ¥875 with the bonus, sold at A
    assert await day.liability() == {A: (70_000, 17_500)}

    # ¥500 spent at B: proportional spend order takes 400 principal and 100 bonus, all A's.
    spent = await day.checkout(m, B, 25_000, 25_000)
    assert (spent.principal_funded_minor, spent.bonus_funded_minor) == (40_000, 10_000)
    assert await day.liability() == {A: (30_000, 7_500)}  # B owes nothing: no row, not -¥500
    assert await day.clearing() == {(A, B): (40_000, 40_000, 0)}  # A owes B the principal

    # A partial refund at B gives back to A's lot; the rest of the refund restores it exactly.
    await day.refund(spent.name, 1)
    assert await day.liability() == {A: (50_000, 12_500)}
    assert await day.clearing() == {(A, B): (20_000, 20_000, 0)}
    await day.refund(spent.name)
    assert await day.liability() == {A: (70_000, 17_500)}
    assert await day.clearing() == {}

    # B's own stored value is spent at B first; only the rest comes from A.
    await day.top_up(m, 10_000, B)
    mixed = await day.checkout(m, B, 40_000)
    principal, bonus = mixed.principal_funded_minor, mixed.bonus_funded_minor
    assert principal > 10_000 and principal + bonus == 40_000
    assert await day.liability() == {A: (70_000 - (principal - 10_000), 17_500 - bonus)}
    assert await day.clearing() == {(A, B): (principal - 10_000, principal - 10_000, 0)}


async def test_holds_packages_and_refunds_keep_the_attribution_exact(wallet):
    day = Day(wallet, "attribution-everything")
    m = await day.member()
    await day.top_up(m, 30_000, A)

    # A hold at B is still A's liability until captured; its capture is a spend at B.
    held = await wallet.stub.AuthorizeHold(
        pb.AuthorizeHoldRequest(
            hold=ledger_pb2.Hold(member=m, amount_minor=5_000, store=B), payment_pin=PIN, request_id=rid()
        ),
        metadata=day.md,
    )
    assert await day.liability() == {A: (30_000, 0)}
    await wallet.stub.CaptureHold(
        pb.CaptureHoldRequest(name=held.hold.name, request_id=rid()), metadata=day.md
    )
    assert await day.liability() == {A: (25_000, 0)}

    # A card bought at C with stored value; refunded to stored value, C (the seller) owes it.
    await wallet.stub.CreatePackageProduct(
        pb.CreatePackageProductRequest(
            package_product_id="neck-2",
            package_product=packages_pb2.PackageProduct(
                display_name="Neck x2",
                price_minor=8_000,
                items=[packages_pb2.PackageItem(service="services/neck", sessions=2, list_price_minor=5_000)],
            ),
            request_id=rid(),
        ),
        metadata=day.md,
    )
    card = await wallet.stub.SellPackage(
        pb.SellPackageRequest(
            member=m,
            product="packageProducts/neck-2",
            store=C,
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_STORED_VALUE, amount_minor=8_000)],
            payment_pin=PIN,
            request_id=rid(),
        ),
        metadata=day.md,
    )
    assert await day.liability() == {A: (17_000, 0)}
    assert await day.clearing() == {(A, B): (5_000, 5_000, 0), (A, C): (8_000, 8_000, 0)}
    await wallet.stub.RefundPackage(
        pb.RefundPackageRequest(
            package=card.member_package.name, store=C, tender=ledger_pb2.TENDER_STORED_VALUE, request_id=rid()
        ),
        metadata=day.md,
    )
    assert await day.liability() == {A: (17_000, 0), C: (8_000, 0)}

    # Paying the member out at B empties every store's lots: B pays A's and C's value out.
    await wallet.stub.RefundStoredValue(
        pb.RefundStoredValueRequest(member=m, store=B, tender=ledger_pb2.TENDER_CASH, request_id=rid()),
        metadata=day.md,
    )
    assert await day.liability() == {}
    assert await day.clearing() == {
        (A, B): (5_000 + 17_000, 5_000 + 17_000, 0),
        (A, C): (8_000, 8_000, 0),
        (C, B): (8_000, 8_000, 0),
    }


async def test_a_top_up_is_reversed_only_while_its_store_still_holds_its_value(wallet):
    day = Day(wallet, "attribution-reversal")
    m = await day.member()
    at_a = await day.top_up(m, 10_000, A)
    await day.checkout(m, C, 6_000)  # C has no lot of its own: A's value is spent
    at_b = await day.top_up(m, 10_000, B)
    assert await day.liability() == {A: (4_000, 0), B: (10_000, 0)}

    # The member holds ¥140, more than A's ¥100 top-up, but A's value was spent at C.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await wallet.stub.ReverseTransaction(
            pb.ReverseTransactionRequest(name=at_a.transaction.name, reason="typo", request_id=rid()),
            metadata=day.md,
        )
    assert (err.value.code(), reason_of(err.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_BALANCE",
    )
    assert await day.liability() == {A: (4_000, 0), B: (10_000, 0)}  # nothing written

    await wallet.stub.ReverseTransaction(
        pb.ReverseTransactionRequest(name=at_b.transaction.name, reason="typo", request_id=rid()),
        metadata=day.md,
    )
    assert await day.liability() == {A: (4_000, 0)}


async def test_the_migration_attributes_existing_stored_value_to_the_stores_that_sold_it(infra):
    """Balances posted before migration 0008 get lots: outstanding value (held included) goes to
    the stores of the most recent credits first."""
    url = to_async_url(await infra.anew_database("wallet_attribution_migration"))
    await upgrade("wallet", url, "0007")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await install_ledger_post(conn)  # the history below is posted by today's ledger code
    tenant, member_id = "attribution-migration", str(uuid.uuid4())
    accts = sv.MemberAccounts.of(member_id, "CNY")
    cash = {s: sv.tender_account(s, "cash", "CNY") for s in ("a", "b")}
    revenue = sv.store_account(ledger.REVENUE, "b", "CNY")
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")

    async def history(uow: WalletUnitOfWork) -> None:
        def draft(kind: str, store: str) -> TransactionDraft:
            return TransactionDraft(kind, member_id=member_id, store_id=store)

        await uow.ledger.post(draft("top_up", "a").move(10_000, debit=cash["a"], credit=accts.principal))
        await uow.ledger.post(draft("top_up", "b").move(5_000, debit=cash["b"], credit=accts.principal))
        await uow.ledger.post(draft("checkout", "b").move(12_000, debit=accts.principal, credit=revenue))
        held = await uow.ledger.post(draft("hold", "c").move(1_000, debit=accts.principal, credit=accts.held))
        # written in 0007's columns: today's repository names columns added after it
        await uow.session.execute(
            text(
                "INSERT INTO holds (tenant_id, hold_id, member_id, store_id, amount_minor, principal_minor,"
                " bonus_minor, state, reference, expire_time, authorize_transaction_id)"
                " VALUES (:t, :h, :m, 'c', 1000, 1000, 0, 'authorized', '', :exp, :tx)"
            ),
            {
                "t": uow.tenant,
                "h": str(uuid.uuid4()),
                "m": member_id,
                "exp": datetime.now(UTC) + timedelta(days=1),
                "tx": held.transaction_id,
            },
        )

    try:
        await uows.run(tenant, history)
        await upgrade("wallet", url)
        async with engine.connect() as conn:
            lots = (
                await conn.execute(
                    text("SELECT store_id, principal_minor, bonus_minor FROM stored_value_lots")
                )
            ).all()
            assert await sv_lot_disagreements(conn, tenant) == 0
    finally:
        await engine.dispose()
    # ¥20 left + ¥10 held = ¥30 outstanding: all of it from B's ¥50, the most recent top-up.
    assert [tuple(r) for r in lots] == [("b", 3_000, 0)]


async def test_refunds_and_reversals_of_money_moved_before_the_attribution_still_tie(wallet):
    """Spends and top-ups from before migration 0008 have no movements of their own (only the
    migration's `opening` ones): refunding or reversing them must still keep lots = ledger."""
    day = Day(wallet, "attribution-legacy")
    m = await day.member()
    top_up = await day.top_up(m, 10_000, A)
    await day.top_up(m, 5_000, B)
    spent = await day.checkout(m, C, 3_000, 1_000)  # C has no lot: A's (the longest held) pays
    async with wallet.engine.begin() as conn:  # what migration 0008 leaves: one opening movement per lot
        await conn.execute(
            text("DELETE FROM stored_value_lot_movements WHERE tenant_id = :t"), {"t": day.tenant}
        )
        await conn.execute(
            text(
                "INSERT INTO stored_value_lot_movements (tenant_id, member_id, store_id, at_store_id, kind,"
                " principal_minor, bonus_minor) SELECT tenant_id, member_id, store_id, store_id, 'opening',"
                " principal_minor, bonus_minor FROM stored_value_lots WHERE tenant_id = :t"
            ),
            {"t": day.tenant},
        )
    assert await day.liability() == {A: (6_000, 0), B: (5_000, 0)}

    await day.refund(spent.name, 1)  # ¥10 back, no record of whose it was: owed by C, who refunds it
    assert await day.liability() == {A: (6_000, 0), B: (5_000, 0), C: (1_000, 0)}
    # ¥100 reversed, no record of the lot it filled: A's own lot first, then the longest held.
    await wallet.stub.ReverseTransaction(
        pb.ReverseTransactionRequest(name=top_up.transaction.name, reason="typo", request_id=rid()),
        metadata=day.md,
    )
    assert await day.liability() == {B: (1_000, 0), C: (1_000, 0)}
    async with wallet.engine.connect() as conn:
        assert await sv_lot_disagreements(conn, day.tenant) == 0
