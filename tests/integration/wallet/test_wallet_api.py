"""The wallet API over real gRPC, PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import checkout_pb2, ledger_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from kit.db import session_factory
from kit.uow import UnitOfWorkFactory
from services.wallet.entrypoints.app import build
from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
TENANT = "wallet-api"


def md(tenant: str = TENANT, roles=("hq_admin",)):
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


@pytest.fixture(scope="module")
async def wallet(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_api"))
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
    runner = await build(config)
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    engine = create_async_engine(url)
    try:
        yield pb_grpc.WalletServiceStub(channel), engine
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


async def member(engine, tenant: str = TENANT) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
            ),
            {"t": tenant, "m": member_id},
        )
        await seed_stores(conn, tenant)
    return f"members/{member_id}"


async def postings(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM postings"))).scalar_one()


async def test_top_up_is_idempotent_and_the_wallet_shows_it(wallet):
    stub, engine = wallet
    m = await member(engine)
    request = pb.TopUpRequest(
        member=m,
        amount_minor=50_000,
        currency_code="CNY",
        tender=ledger_pb2.TENDER_WECHAT_PAY,
        store="stores/s1",
        request_id=str(uuid.uuid4()),
    )
    first = await stub.TopUp(request, metadata=md())
    before = await postings(engine)
    assert await stub.TopUp(request, metadata=md()) == first  # a retried call replays, posts nothing
    assert await postings(engine) == before
    assert first.wallet.principal_minor == 50_000
    got = await stub.GetWallet(pb.GetWalletRequest(name=f"{m}/wallet"), metadata=md())
    assert got.wallet.principal_minor == 50_000
    tx = await stub.GetTransaction(pb.GetTransactionRequest(name=first.transaction.name), metadata=md())
    assert sum(p.amount for p in tx.transaction.postings) == 0 and len(tx.transaction.postings) == 2


@pytest.mark.parametrize(
    ("amount", "currency", "tender", "store", "code", "reason"),
    [
        (0, "CNY", ledger_pb2.TENDER_CASH, "stores/s1", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            -5,
            "CNY",
            ledger_pb2.TENDER_CASH,
            "stores/s1",
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            2**62,
            "CNY",
            ledger_pb2.TENDER_CASH,
            "stores/s1",
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            100,
            "USD",
            ledger_pb2.TENDER_CASH,
            "stores/s1",
            grpc.StatusCode.INVALID_ARGUMENT,
            "CURRENCY_MISMATCH",
        ),
        (
            100,
            "CNY",
            ledger_pb2.TENDER_STORED_VALUE,
            "stores/s1",
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (100, "CNY", ledger_pb2.TENDER_CASH, "nowhere", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ],
)
async def test_bad_top_ups_get_clear_statuses_and_write_nothing(
    wallet, amount, currency, tender, store, code, reason
):
    stub, engine = wallet
    m = await member(engine)
    before = await postings(engine)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TopUp(
            pb.TopUpRequest(
                member=m,
                amount_minor=amount,
                currency_code=currency,
                tender=tender,
                store=store,
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(),
        )
    assert err.value.code() == code and reason_of(err.value) == reason
    assert await postings(engine) == before


async def test_unknown_member_and_other_tenant(wallet):
    stub, engine = wallet
    m = await member(engine)
    for name, metadata in ((f"members/{uuid.uuid4()}", md()), (m, md("another-chain"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetWallet(pb.GetWalletRequest(name=f"{name}/wallet"), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(err.value) == "MEMBER_NOT_FOUND"
        with pytest.raises(grpc.aio.AioRpcError) as err:  # not an empty list
            await stub.ListVouchers(pb.ListVouchersRequest(parent=name), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(err.value) == "MEMBER_NOT_FOUND"


async def test_every_store_reference_is_resolved_and_a_refusal_writes_nothing(wallet):
    """Issue 9, example 3: money at a store that does not exist was accepted and recorded."""
    stub, engine = wallet
    m = await member(engine)
    before = await postings(engine)
    for store, code, reason in (
        ("stores/no-such-store", grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"),
        ("stores/s1' OR '1'='1", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.TopUp(
                pb.TopUpRequest(
                    member=m,
                    amount_minor=10_000,
                    currency_code="CNY",
                    tender=ledger_pb2.TENDER_CASH,
                    store=store,
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )
        assert (err.value.code(), reason_of(err.value)) == (code, reason), store
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateTopUpPlan(
                pb.CreateTopUpPlanRequest(
                    top_up_plan=stored_value_pb2.TopUpPlan(
                        display_name="1000 get 100",
                        pay_minor=100_000,
                        bonus_minor=10_000,
                        stores=["stores/s1", store],
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )
        assert (err.value.code(), reason_of(err.value)) == (code, reason), store
    assert await postings(engine) == before
    async with engine.connect() as conn:
        plans = await conn.execute(
            text("SELECT count(*) FROM top_up_plans WHERE tenant_id = :t"), {"t": TENANT}
        )
        keys = await conn.execute(
            text("SELECT count(*) FROM idempotency_keys WHERE tenant_id = :t AND method = 'CreateTopUpPlan'"),
            {"t": TENANT},
        )
        assert (plans.scalar_one(), keys.scalar_one()) == (0, 0)


async def test_a_payment_at_an_unknown_store_is_refused_before_the_pin_counts(wallet):
    stub, engine = wallet
    m = await member(engine)
    await stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin="204816", request_id=str(uuid.uuid4())), metadata=md()
    )
    for _ in range(6):  # more wrong PINs than the lockout allows: none of them may count
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.AuthorizeHold(
                pb.AuthorizeHoldRequest(
                    hold=ledger_pb2.Hold(member=m, amount_minor=5_000, store="stores/no-such-store"),
                    payment_pin="000000",
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )
        assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Checkout(
                pb.CheckoutRequest(
                    member=m,
                    store="stores/no-such-store",
                    lines=[checkout_pb2.CheckoutLine(item="Facial", quantity=1, list_price_minor=5_000)],
                    stored_value_minor=5_000,
                    payment_pin="000000",
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )
        assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")
    async with engine.connect() as conn:
        attempts = await conn.execute(
            text("SELECT failed_attempts FROM payment_pins WHERE tenant_id = :t AND member_id = :m"),
            {"t": TENANT, "m": m.removeprefix("members/")},
        )
        assert attempts.scalar_one() == 0
    got = await stub.GetWallet(pb.GetWalletRequest(name=f"{m}/wallet"), metadata=md())
    assert not got.wallet.HasField("pin_locked_until")


async def test_hold_needs_the_pin_and_five_wrong_pins_lock_payment(wallet):
    stub, engine = wallet
    m = await member(engine)
    await stub.TopUp(
        pb.TopUpRequest(
            member=m,
            amount_minor=20_000,
            currency_code="CNY",
            tender=ledger_pb2.TENDER_CASH,
            store="stores/s1",
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )
    await stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=m, pin="204816", request_id=str(uuid.uuid4())), metadata=md()
    )

    def hold(pin: str) -> pb.AuthorizeHoldRequest:
        return pb.AuthorizeHoldRequest(
            hold=ledger_pb2.Hold(member=m, amount_minor=5_000, store="stores/s1", reference="appointments/x"),
            payment_pin=pin,
            request_id=str(uuid.uuid4()),
        )

    ok = await stub.AuthorizeHold(hold("204816"), metadata=md())
    assert ok.hold.state == ledger_pb2.HOLD_STATE_AUTHORIZED and ok.wallet.held_minor == 5_000
    voided = await stub.VoidHold(
        pb.VoidHoldRequest(name=ok.hold.name, request_id=str(uuid.uuid4())), metadata=md()
    )
    assert voided.wallet.principal_minor == 20_000 and voided.wallet.held_minor == 0
    reasons = []
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.AuthorizeHold(hold("000000"), metadata=md())
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        reasons.append(reason_of(err.value))
    assert reasons == ["PIN_INCORRECT"] * 5
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AuthorizeHold(hold("204816"), metadata=md())
    assert reason_of(err.value) == "PIN_LOCKED"
    wallet_now = (await stub.GetWallet(pb.GetWalletRequest(name=f"{m}/wallet"), metadata=md())).wallet
    assert wallet_now.held_minor == 0 and wallet_now.HasField("pin_locked_until")


async def test_jobs_release_each_instalment_exactly_once_with_two_runners(wallet, infra):
    stub, engine = wallet
    m = await member(engine)
    await stub.CreateTopUpPlan(
        pb.CreateTopUpPlanRequest(
            top_up_plan_id="monthly-12",
            top_up_plan=stored_value_pb2.TopUpPlan(
                display_name="1000 + 120 over 12 months",
                pay_minor=100_000,
                bonus_minor=12_000,
                bonus_release=stored_value_pb2.BONUS_RELEASE_MONTHLY,
                release_months=12,
            ),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )
    await stub.TopUp(
        pb.TopUpRequest(
            member=m,
            amount_minor=100_000,
            currency_code="CNY",
            plan="topUpPlans/monthly-12",
            tender=ledger_pb2.TENDER_CASH,
            store="stores/s1",
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )
    async with engine.begin() as conn:  # make every instalment due now
        await conn.execute(
            text("UPDATE bonus_releases SET due_time = now() WHERE member_id = :m"), {"m": m.split("/")[1]}
        )
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    runners = [WalletJobs(engine, uows), WalletJobs(engine, uows)]
    now = datetime.now(UTC)
    released = await asyncio.gather(*(r.release_bonuses(now) for r in runners))
    # The service's own job (WalletJobs in the wallet under test) may take some of them first:
    # what matters is that every instalment is released exactly once, whoever released it.
    assert sum(released) <= 11
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT r.state, count(DISTINCT r.transaction_id), count(*)"
                    " FROM bonus_releases r WHERE r.member_id = :m AND r.amount_minor > 0 GROUP BY r.state"
                ),
                {"m": m.split("/")[1]},
            )
        ).all()
    assert rows == [("released", 11, 11)]  # one ledger transaction each, none left scheduled
    got = (await stub.GetWallet(pb.GetWalletRequest(name=f"{m}/wallet"), metadata=md())).wallet
    assert (got.bonus_minor, got.locked_bonus_minor) == (12_000, 0)


async def test_statement_pages_newest_first_with_filters(wallet):
    stub, engine = wallet
    m = await member(engine)
    for i, store in enumerate(["stores/s1", "stores/s2", "stores/s1", "stores/s2", "stores/s1"]):
        await stub.TopUp(
            pb.TopUpRequest(
                member=m,
                amount_minor=1_000 + i,
                currency_code="CNY",
                store=store,
                tender=ledger_pb2.TENDER_CASH,
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(),
        )
    seen, token = [], ""
    while True:
        page = await stub.ListTransactions(
            pb.ListTransactionsRequest(parent=m, page_size=2, page_token=token), metadata=md()
        )
        seen += [t for t in page.transactions]
        token = page.next_page_token
        if not token:
            break
    amounts = [-sum(p.amount for p in t.postings if p.amount < 0) for t in seen]
    assert amounts == [1_004, 1_003, 1_002, 1_001, 1_000]  # newest first, each exactly once
    only_s2 = await stub.ListTransactions(
        pb.ListTransactionsRequest(parent=m, store="stores/s2"), metadata=md()
    )
    assert {t.store for t in only_s2.transactions} == {"stores/s2"} and len(only_s2.transactions) == 2
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListTransactions(
            pb.ListTransactionsRequest(
                parent=m,
                store="stores/s1",
                page_token=page_token_of(
                    await stub.ListTransactions(
                        pb.ListTransactionsRequest(parent=m, page_size=1), metadata=md()
                    )
                ),
            ),
            metadata=md(),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def page_token_of(response) -> str:
    return response.next_page_token


async def test_points_policy_and_plan_updates(wallet):
    stub, _engine = wallet
    from google.protobuf import field_mask_pb2
    from peony.wallet.v1 import points_pb2

    policy = (
        await stub.GetPointsPolicy(pb.GetPointsPolicyRequest(name="pointsPolicy"), metadata=md())
    ).points_policy
    assert (policy.points_per_yuan, policy.redemption_rate_points_per_yuan, policy.max_redeem_bps) == (
        1,
        100,
        5000,
    )
    updated = await stub.UpdatePointsPolicy(
        pb.UpdatePointsPolicyRequest(
            points_policy=points_pb2.PointsPolicy(expiry_policy=points_pb2.POINTS_EXPIRY_POLICY_YEAR_END),
            update_mask=field_mask_pb2.FieldMask(paths=["expiry_policy"]),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md("policy-tenant"),
    )
    assert updated.points_policy.expiry_policy == points_pb2.POINTS_EXPIRY_POLICY_YEAR_END
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdatePointsPolicy(
            pb.UpdatePointsPolicyRequest(
                points_policy=points_pb2.PointsPolicy(max_redeem_bps=20_000),
                update_mask=field_mask_pb2.FieldMask(paths=["max_redeem_bps"]),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md("policy-tenant"),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    await stub.CreateTopUpPlan(
        pb.CreateTopUpPlanRequest(
            top_up_plan_id="spring",
            top_up_plan=stored_value_pb2.TopUpPlan(
                display_name="Spring", pay_minor=50_000, bonus_minor=5_000
            ),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md("policy-tenant"),
    )
    retired = await stub.UpdateTopUpPlan(
        pb.UpdateTopUpPlanRequest(
            top_up_plan=stored_value_pb2.TopUpPlan(name="topUpPlans/spring", active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md("policy-tenant"),
    )
    assert not retired.top_up_plan.active
    with pytest.raises(grpc.aio.AioRpcError) as err:  # terms are not editable: a new plan is
        await stub.UpdateTopUpPlan(
            pb.UpdateTopUpPlanRequest(
                top_up_plan=stored_value_pb2.TopUpPlan(name="topUpPlans/spring", bonus_minor=50_000),
                update_mask=field_mask_pb2.FieldMask(paths=["bonus_minor"]),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md("policy-tenant"),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
