"""Checkout, refunds and commission through the wallet's service layer on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import principal_from_claims
from kit.config import to_async_url
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.errors import FailedPrecondition, InvalidArgument
from kit.messaging import EventEnvelope, unpack
from kit.uow import UnitOfWorkFactory
from services.wallet.domain.checkout import Line
from services.wallet.service_layer import checkout as co
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
TENANT = "co-chain"
STAFF = principal_from_claims(
    {"tenant": TENANT, "sub": "user:desk", "roles": ["hq_admin"], "exp": time.time() + 3600}
)


@pytest.fixture(scope="module")
async def wallet(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_co"))
    engine = create_async_engine(url, pool_size=20)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO top_up_plans (tenant_id, plan_id, display_name, pay_minor, bonus_minor,"
                " bonus_release, release_months)"
                " VALUES (:t, 'p1000', 'pay 1000 get 200', 100000, 20000, 'immediate', 1)"
            ),
            {"t": TENANT},
        )
    uows = UnitOfWorkFactory(
        WalletUnitOfWork, session_factory(engine), service="wallet", cipher=PiiCipher(b"k" * 32)
    )
    yield engine, uows
    await engine.dispose()


async def run(uows, fn):
    return await uows.run(TENANT, fn)


async def new_member(engine, discount_bps: int = 0, multiplier: int = 1000) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 's1', 'gold', :d, :x, now())"
            ),
            {"t": TENANT, "m": member_id, "d": discount_bps, "x": multiplier},
        )
        await seed_stores(conn, TENANT)
    return member_id


async def top_up(uows, member_id: str, amount: int = 100000, plan: str = "p1000") -> None:
    await run(
        uows,
        lambda uow: sv.top_up(
            uow,
            STAFF,
            member_id=member_id,
            store_id="s1",
            amount=amount,
            currency="CNY",
            tender="cash",
            plan_id=plan,
        ),
    )


async def grant(uows, member_id: str, points: int) -> None:
    await run(
        uows,
        lambda uow: pts.grant_points(
            uow, STAFF, member_id=member_id, points=points, source="activity", reason="t"
        ),
    )


async def snap(uows, member_id):
    return await uows.run(TENANT, lambda uow: sv.snapshot(uow, member_id), read_only=True)


async def lots(engine, member_id) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT lot_id, remaining FROM point_lots WHERE member_id = :m AND remaining > 0"),
            {"m": member_id},
        )
        return {str(r.lot_id): r.remaining for r in rows}


async def counts(engine) -> tuple[int, int, int, int]:
    async with engine.connect() as conn:
        return tuple(
            [
                (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
                for table in ("postings", "checkouts", "lot_movements", "commission_records")
            ]
        )


async def invariants(engine) -> None:
    async with engine.connect() as conn:
        drift = (
            await conn.execute(
                text(
                    "SELECT a.account_id FROM account_balances a LEFT JOIN postings p"
                    " ON p.tenant_id = a.tenant_id AND p.account_id = a.account_id"
                    " GROUP BY a.account_id, a.balance HAVING a.balance <> COALESCE(sum(p.amount), 0)"
                )
            )
        ).all()
        unbalanced = (
            await conn.execute(
                text(
                    "SELECT transaction_id, unit FROM postings"
                    " GROUP BY transaction_id, unit HAVING sum(amount) <> 0"
                )
            )
        ).all()
        overdrawn = (
            await conn.execute(
                text(
                    "SELECT account_id FROM accounts WHERE kind IN"
                    " ('sv_principal', 'sv_bonus', 'sv_held', 'points', 'package_item') AND balance > 0"
                )
            )
        ).all()
        lots_vs_points = (
            await conn.execute(
                text(
                    "SELECT a.owner FROM accounts a WHERE a.kind = 'points' AND -a.balance <>"
                    " (SELECT COALESCE(sum(remaining), 0) FROM point_lots l"
                    "  WHERE l.tenant_id = a.tenant_id AND l.member_id::text = a.owner)"
                )
            )
        ).all()
    assert (drift, unbalanced, overdrawn, lots_vs_points) == ([], [], [], [])


LINES = [
    Line("services/facial", "facial", 2, 30000, serving_staff="staff/ann", staff_position="beautician"),
    Line("products/serum", "retail", 1, 20000, serving_staff="staff/bo", staff_position="consultant"),
]


def full_bill(member_id: str, **kw) -> co.CheckoutInput:
    values = dict(
        member_id=member_id,
        store_id="s1",
        lines=LINES,
        points_to_redeem=3000,
        stored_value=24000,
        tenders=[("cash", 10000), ("bank_card", 15000), ("wechat_pay", 10000), ("alipay", 10000)],
    )
    values.update(kw)
    return co.CheckoutInput(**values)


async def test_checkout_with_every_tender_stored_value_and_points(wallet):
    engine, uows = wallet
    m = await new_member(engine, discount_bps=1000, multiplier=1500)
    await top_up(uows, m)
    await grant(uows, m, 5000)

    priced = await uows.run(
        TENANT, lambda uow: co.checkout(uow, STAFF, full_bill(m, validate_only=True)), read_only=True
    )
    assert priced.record["total_due_minor"] == 69000 and priced.record["checkout_id"] == ""

    result = await run(uows, lambda uow: co.checkout(uow, STAFF, full_bill(m)))
    c = result.record
    # 800.00 - 10 % tier (80.00) - 3000 points (30.00) = 690.00
    assert (
        c["subtotal_minor"],
        c["tier_discount_minor"],
        c["points_deduction_minor"],
        c["total_due_minor"],
    ) == (
        80000,
        8000,
        3000,
        69000,
    )
    assert (c["principal_funded_minor"], c["bonus_funded_minor"]) == (20000, 4000)  # 1000 : 200
    # points on the member's own money only (tenders + principal) x 1.5
    assert c["qualifying_spend_minor"] == 65000 and c["points_earned"] == 975
    for res in c["line_results"]:
        net = res["gross"] - res["tier_discount"] - res["voucher_discount"] - res["points_deduction"]
        assert sum(res["funding"].values()) == net
    assert sum(res["points_earned"] for res in c["line_results"]) == 975
    s = await snap(uows, m)
    assert (s.principal, s.bonus, s.points_available) == (80000, 16000, 5000 - 3000 + 975)
    assert c["customer_type"] == "new"
    await invariants(engine)

    async with engine.connect() as conn:
        revenue = (
            await conn.execute(
                text(
                    "SELECT -balance FROM account_balances"
                    " WHERE tenant_id = :t AND kind = 'revenue' AND owner = 's1'"
                ),
                {"t": TENANT},
            )
        ).scalar_one()
        kind = (
            await conn.execute(
                text("SELECT kind FROM ledger_transactions WHERE transaction_id = :x"),
                {"x": c["transaction_id"]},
            )
        ).scalar_one()
    assert revenue >= 72000 and kind == "checkout"

    # the second checkout of the member is a returning member's
    again = await run(
        uows,
        lambda uow: co.checkout(
            uow,
            STAFF,
            co.CheckoutInput(member_id=m, store_id="s1", lines=LINES[1:], tenders=[("cash", 18000)]),
        ),
    )
    assert again.record["customer_type"] == "member"


async def test_bad_bills_write_nothing(wallet):
    engine, uows = wallet
    m = await new_member(engine, discount_bps=1000)
    await top_up(uows, m)
    await grant(uows, m, 5000)
    m2 = await new_member(engine)
    await grant(uows, m2, 100)
    before, lots_before = await counts(engine), await lots(engine, m)
    cases = [
        (full_bill(m, tenders=[("cash", 44999)]), FailedPrecondition, "TENDERS_MISMATCH"),
        (full_bill(m, points_to_redeem=50), InvalidArgument, "POINTS_BELOW_MINIMUM"),
        (full_bill(m, points_to_redeem=10**6), InvalidArgument, "POINTS_ABOVE_MAXIMUM"),
        (full_bill(m, lines=[Line("x", "", -1, 100)]), InvalidArgument, "INVALID_ARGUMENT"),
        (full_bill(m, lines=[Line("x", "", 10_000, 10**12)]), InvalidArgument, "INVALID_ARGUMENT"),
        (full_bill(str(uuid.uuid4())), Exception, "MEMBER_NOT_FOUND"),
        (
            full_bill(
                m, points_to_redeem=0, stored_value=9 * 10**8, tenders=[], lines=[Line("x", "", 1, 10**9)]
            ),
            FailedPrecondition,
            "INSUFFICIENT_BALANCE",
        ),
        (
            co.CheckoutInput(None, "s1", LINES, stored_value=100, tenders=[]),
            InvalidArgument,
            "INVALID_ARGUMENT",
        ),
    ]
    for inp, error, reason in cases:
        with pytest.raises(error) as err:
            await run(uows, lambda uow, inp=inp: co.checkout(uow, STAFF, inp))
        assert err.value.reason == reason, (inp, err.value)
    with pytest.raises(FailedPrecondition) as err:
        await run(
            uows, lambda uow: co.checkout(uow, STAFF, full_bill(m2, points_to_redeem=200, stored_value=0))
        )
    assert err.value.reason == "INSUFFICIENT_POINTS"
    assert await counts(engine) == before and await lots(engine, m) == lots_before


async def test_full_refund_restores_exactly_and_only_once(wallet):
    engine, uows = wallet
    m = await new_member(engine, discount_bps=500, multiplier=2000)
    await top_up(uows, m)
    await grant(uows, m, 4000)
    s0, lots0 = await snap(uows, m), await lots(engine, m)
    result = await run(uows, lambda uow: co.checkout(uow, STAFF, full_bill(m, tenders=[("cash", 49000)])))
    checkout_id = result.record["checkout_id"]
    assert result.record["total_due_minor"] == 73000
    refund = await run(
        uows,
        lambda uow: co.refund(uow, STAFF, checkout_id=checkout_id, lines=[], full=True, reason="unhappy"),
    )
    rf = refund.refund
    assert rf.full and rf.amount_minor == 73000
    assert (rf.principal_refunded_minor, rf.bonus_refunded_minor) == (20000, 4000)
    assert rf.points_restored == 3000 and rf.points_clawed_back == result.record["points_earned"]
    assert refund.checkout["state"] == "refunded" and refund.checkout["refunded_minor"] == 73000
    s1, lots1 = await snap(uows, m), await lots(engine, m)
    assert (s1.principal, s1.bonus, s1.points_available) == (s0.principal, s0.bonus, s0.points_available)
    assert lots1 == lots0
    async with engine.connect() as conn:
        reverses = (
            await conn.execute(
                text("SELECT reverses FROM ledger_transactions WHERE transaction_id = :x"),
                {"x": rf.transaction_id},
            )
        ).scalar_one()
    assert str(reverses) == result.record["transaction_id"]  # the exact mirror
    for kw in ({"full": True, "lines": []}, {"full": False, "lines": [(0, 1)]}):
        with pytest.raises(FailedPrecondition) as err:
            await run(
                uows, lambda uow, kw=kw: co.refund(uow, STAFF, checkout_id=checkout_id, reason="", **kw)
            )
        assert err.value.reason == "REFUND_EXCEEDS_CHECKOUT"
    await invariants(engine)


async def test_partial_refunds_are_proportional_and_add_up_exactly(wallet):
    engine, uows = wallet
    m = await new_member(engine, discount_bps=700, multiplier=1000)
    await top_up(uows, m)
    await grant(uows, m, 4000)
    s0, lots0 = await snap(uows, m), await lots(engine, m)
    lines = [
        Line("services/facial", "facial", 3, 33333, serving_staff="staff/ann"),
        Line("products/serum", "retail", 1, 20001),
    ]
    priced = await uows.run(
        TENANT,
        lambda uow: co.checkout(
            uow, STAFF, co.CheckoutInput(m, "s1", lines, points_to_redeem=3100, validate_only=True)
        ),
        read_only=True,
    )
    due = priced.record["total_due_minor"]
    result = await run(
        uows,
        lambda uow: co.checkout(
            uow,
            STAFF,
            co.CheckoutInput(
                m, "s1", lines, points_to_redeem=3100, stored_value=30001, tenders=[("alipay", due - 30001)]
            ),
        ),
    )
    c = result.record
    checkout_id = c["checkout_id"]
    facial = c["line_results"][0]
    one = await run(
        uows,
        lambda uow: co.refund(uow, STAFF, checkout_id=checkout_id, lines=[(0, 1)], full=False, reason=""),
    )
    rf = one.refund
    # one of three facials: a third of each funding source of that line, rounded down
    assert rf.principal_refunded_minor == facial["funding"]["principal"] // 3
    assert rf.bonus_refunded_minor == facial["funding"]["bonus"] // 3
    assert rf.tenders == [["alipay", facial["funding"]["alipay"] // 3]]
    assert rf.points_clawed_back == facial["points_earned"] // 3
    assert rf.points_restored == facial["points_redeemed"] // 3
    assert one.checkout["state"] == "partially_refunded" and not rf.full
    with pytest.raises(FailedPrecondition) as err:
        await run(
            uows,
            lambda uow: co.refund(uow, STAFF, checkout_id=checkout_id, lines=[(0, 3)], full=False, reason=""),
        )
    assert err.value.reason == "REFUND_EXCEEDS_CHECKOUT"
    await run(
        uows,
        lambda uow: co.refund(uow, STAFF, checkout_id=checkout_id, lines=[(1, 1)], full=False, reason=""),
    )
    last = await run(
        uows, lambda uow: co.refund(uow, STAFF, checkout_id=checkout_id, lines=[], full=True, reason="")
    )
    assert last.refund.full and last.checkout["state"] == "refunded"
    assert last.checkout["refunded_minor"] == c["total_due_minor"]
    s1 = await snap(uows, m)
    assert (s1.principal, s1.bonus, s1.points_available) == (s0.principal, s0.bonus, s0.points_available)
    assert await lots(engine, m) == lots0
    await invariants(engine)


async def test_refund_refused_when_earned_points_are_spent(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    result = await run(
        uows,
        lambda uow: co.checkout(uow, STAFF, co.CheckoutInput(m, "s1", LINES[1:], tenders=[("cash", 20000)])),
    )
    assert result.record["points_earned"] == 200
    await run(uows, lambda uow: pts.deduct_points(uow, STAFF, member_id=m, points=150, reason="spent"))
    with pytest.raises(FailedPrecondition) as err:
        await run(
            uows,
            lambda uow: co.refund(
                uow, STAFF, checkout_id=result.record["checkout_id"], lines=[], full=True, reason=""
            ),
        )
    assert err.value.reason == "POINTS_ALREADY_SPENT"


async def test_walk_in_checkout_earns_nothing_and_refunds(wallet):
    engine, uows = wallet
    result = await run(
        uows,
        lambda uow: co.checkout(uow, STAFF, co.CheckoutInput(None, "s1", LINES, tenders=[("cash", 80000)])),
    )
    assert result.record["member_id"] is None and result.record["points_earned"] == 0
    assert result.record["customer_type"] == "new"
    got = await uows.run(TENANT, lambda uow: co.get(uow, STAFF, result.record["checkout_id"]), read_only=True)
    assert got.record["total_due_minor"] == 80000
    await run(
        uows,
        lambda uow: co.refund(
            uow, STAFF, checkout_id=result.record["checkout_id"], lines=[(0, 2)], full=False, reason=""
        ),
    )
    await invariants(engine)


async def test_concurrent_checkouts_never_overdraw_one_wallet(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await top_up(uows, m, amount=10000, plan="")

    async def attempt(i: int) -> bool:
        try:
            await run(
                uows,
                lambda uow: co.checkout(
                    uow,
                    STAFF,
                    co.CheckoutInput(m, "s1", [Line(f"products/p{i}", "retail", 1, 3000)], stored_value=3000),
                ),
            )
            return True
        except FailedPrecondition as e:
            assert e.reason == "INSUFFICIENT_BALANCE"
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert sum(results) == 3
    s = await snap(uows, m)
    assert s.principal == 1000
    await invariants(engine)


async def test_commission_records_clawbacks_and_report(wallet):
    engine, uows = wallet
    tenant_rules = [
        ("co-any", dict(basis="percent", percent_bps=500)),
        ("co-facial", dict(basis="percent", percent_bps=1000, category="facial")),
        (
            "co-sv",
            dict(basis="percent", percent_bps=200, category="facial", tender="stored_value", priority=5),
        ),
        (
            "co-retail-fixed",
            dict(basis="fixed", fixed_minor=1500, item="products/serum", staff_position="consultant"),
        ),
    ]
    for rule_id, values in tenant_rules:
        full = dict(
            display_name=rule_id,
            item="",
            category="",
            store_id="",
            staff_position="",
            customer_type="",
            tender="",
            percent_bps=0,
            fixed_minor=0,
            priority=0,
        )
        full.update(values)
        await run(
            uows,
            lambda uow, rule_id=rule_id, full=full: com.create_rule(uow, STAFF, rule_id=rule_id, values=full),
        )
    with pytest.raises(InvalidArgument):
        await run(
            uows,
            lambda uow: com.create_rule(
                uow, STAFF, rule_id="bad", values={**full, "basis": "percent", "percent_bps": 20000}
            ),
        )
    start = datetime.now(UTC) - timedelta(seconds=1)
    m = await new_member(engine)
    await top_up(uows, m)
    result = await run(
        uows,
        lambda uow: co.checkout(
            uow, STAFF, co.CheckoutInput(m, "s1", LINES, stored_value=30000, tenders=[("cash", 50000)])
        ),
    )
    records = {r.staff: r for r in result.commission}
    facial = result.record["line_results"][0]
    sv_part = facial["funding"]["principal"] + facial["funding"]["bonus"]
    assert records["staff/ann"].rule_id == "co-sv"  # the stored-value rule has the higher priority
    assert (records["staff/ann"].base_minor, records["staff/ann"].amount_minor) == (
        sv_part,
        sv_part * 200 // 10000,
    )
    assert (records["staff/bo"].rule_id, records["staff/bo"].amount_minor) == ("co-retail-fixed", 1500)
    await run(
        uows,
        lambda uow: co.refund(
            uow, STAFF, checkout_id=result.record["checkout_id"], lines=[(0, 1)], full=False, reason=""
        ),
    )
    rows = await uows.run(
        TENANT,
        lambda uow: com.report(
            uow, STAFF, staff="", store_id="s1", start=start, end=datetime.now(UTC) + timedelta(seconds=5)
        ),
        read_only=True,
    )
    report = {r.staff: r for r in rows}
    ann = records["staff/ann"]
    assert report["staff/ann"].n == 2
    assert report["staff/ann"].commission == ann.amount_minor - ann.amount_minor // 2
    assert report["staff/ann"].sales == ann.base_minor - ann.base_minor // 2
    assert (report["staff/bo"].commission, report["staff/bo"].n) == (1500, 1)


# --- over real gRPC ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def api(infra):
    import grpc
    from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc

    from kit.config import load_config
    from services.wallet.entrypoints.app import build

    url = to_async_url(await infra.amigrated_database("wallet", "wallet_co_api"))
    engine = create_async_engine(url)
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
    try:
        yield pb_grpc.WalletServiceStub(channel), engine
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


def _md(roles=("hq_admin",)):
    from kit.auth import mint_dev_token

    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=list(roles))}"),
    )


def _reason(err) -> str:
    from google.rpc import error_details_pb2, status_pb2

    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


async def test_checkout_refund_and_commission_over_grpc(api):
    import grpc
    from google.protobuf.timestamp_pb2 import Timestamp
    from peony.wallet.v1 import checkout_pb2, commission_pb2, ledger_pb2
    from peony.wallet.v1 import wallet_service_pb2 as pb

    stub, engine = api
    m = await new_member(engine, discount_bps=1000, multiplier=1000)
    member = f"members/{m}"
    await stub.TopUp(
        pb.TopUpRequest(
            member=member,
            amount_minor=50000,
            currency_code="CNY",
            tender=ledger_pb2.TENDER_CASH,
            store="stores/s1",
            request_id=str(uuid.uuid4()),
        ),
        metadata=_md(),
    )
    await stub.SetPaymentPin(
        pb.SetPaymentPinRequest(member=member, pin="204816", request_id=str(uuid.uuid4())), metadata=_md()
    )
    await stub.CreateCommissionRule(
        pb.CreateCommissionRuleRequest(
            commission_rule=commission_pb2.CommissionRule(
                display_name="all 5 %", basis=commission_pb2.COMMISSION_BASIS_PERCENT, percent_bps=500
            ),
            commission_rule_id="all-5",
            request_id=str(uuid.uuid4()),
        ),
        metadata=_md(),
    )
    start = Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(seconds=1))
    lines = [
        checkout_pb2.CheckoutLine(
            item="services/facial",
            category="facial",
            quantity=2,
            list_price_minor=15000,
            serving_staff="staff/ann",
        )
    ]

    def bill(sv_minor: int, cash: int, pin: str = "204816", **kw) -> pb.CheckoutRequest:
        return pb.CheckoutRequest(
            member=member,
            store="stores/s1",
            lines=lines,
            stored_value_minor=sv_minor,
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_WECHAT_PAY, amount_minor=cash)]
            if cash
            else [],
            payment_pin=pin,
            request_id=str(uuid.uuid4()),
            **kw,
        )

    priced = await stub.Checkout(bill(0, 0, validate_only=True), metadata=_md())
    assert priced.checkout.total_due_minor == 27000 and not priced.checkout.name
    before = await counts(engine)
    for request, code, reason in (
        (bill(10000, 16000), grpc.StatusCode.FAILED_PRECONDITION, "TENDERS_MISMATCH"),
        (bill(10000, 17000, pin="999999"), grpc.StatusCode.FAILED_PRECONDITION, "PIN_INCORRECT"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Checkout(request, metadata=_md())
        assert (err.value.code(), _reason(err.value)) == (code, reason)
    assert await counts(engine) == before
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Checkout(bill(10000, 17000), metadata=_md(roles=("member",)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    request = bill(10000, 17000)
    done = await stub.Checkout(request, metadata=_md())
    assert await stub.Checkout(request, metadata=_md()) == done  # idempotent replay
    c = done.checkout
    assert c.state == checkout_pb2.CHECKOUT_STATE_COMPLETED and c.total_due_minor == 27000
    assert (c.principal_funded_minor, c.qualifying_spend_minor, c.points_earned) == (10000, 27000, 270)
    assert done.wallet.principal_minor == 40000 and done.wallet.points_available == 270
    assert c.line_results[0].commission_records[0].amount_minor == 27000 * 500 // 10000
    assert c.customer_type == commission_pb2.CUSTOMER_TYPE_NEW and c.tier_discount_bps == 1000

    got = await stub.GetCheckout(pb.GetCheckoutRequest(name=c.name), metadata=_md())
    assert got.checkout == c
    listed = await stub.ListCheckouts(pb.ListCheckoutsRequest(member=member, page_size=1), metadata=_md())
    assert [x.name for x in listed.checkouts] == [c.name]

    refund = await stub.RefundCheckout(
        pb.RefundCheckoutRequest(
            checkout=c.name,
            lines=[checkout_pb2.RefundLine(line_index=0, quantity=1)],
            request_id=str(uuid.uuid4()),
        ),
        metadata=_md(),
    )
    assert refund.refund.amount_minor == 13500 and refund.refund.principal_refunded_minor == 5000
    assert refund.wallet.principal_minor == 45000 and refund.wallet.points_available == 135
    got = await stub.GetCheckout(pb.GetCheckoutRequest(name=c.name), metadata=_md())
    assert got.checkout.state == checkout_pb2.CHECKOUT_STATE_PARTIALLY_REFUNDED
    assert got.checkout.refunded_minor == 13500 and list(got.checkout.refunds) == [refund.refund.name]
    assert got.checkout.line_results[0].refunded_quantity == 1

    end = Timestamp()
    end.FromDatetime(datetime.now(UTC) + timedelta(seconds=5))
    report = await stub.GetCommissionReport(
        pb.GetCommissionReportRequest(start_time=start, end_time=end), metadata=_md()
    )
    assert [(r.staff, r.commission_minor, r.record_count) for r in report.rows] == [
        ("staff/ann", 1350 - 675, 2)
    ]
    records = await stub.ListCommissionRecords(
        pb.ListCommissionRecordsRequest(checkout=c.name), metadata=_md()
    )
    assert sorted(r.amount_minor for r in records.commission_records) == [-675, 1350]
    rules = await stub.ListCommissionRules(pb.ListCommissionRulesRequest(), metadata=_md())
    assert [r.name for r in rules.commission_rules] == ["commissionRules/all-5"]
    await invariants(engine)


async def test_package_sessions_and_vouchers_in_checkout_and_full_refund(wallet):
    from services.wallet.adapters.package_repository import PackageProduct
    from services.wallet.domain import vouchers as dv
    from services.wallet.domain.packages import ProductItem
    from services.wallet.service_layer import packages, vouchers

    engine, uows = wallet
    m = await new_member(engine, discount_bps=1000)
    product_id = f"facial10-{uuid.uuid4().hex[:8]}"
    await run(
        uows,
        lambda uow: packages.create_product(
            uow,
            STAFF,
            PackageProduct(
                product_id, "Facial x10", 200000, [ProductItem("services/facial", "Facial", 10, 30000)]
            ),
            "CNY",
        ),
    )
    sale = await run(
        uows,
        lambda uow: packages.sell(
            uow, STAFF, member_id=m, product_id=product_id, store_id="s1", tenders=[("cash", 200000)]
        ),
    )
    package_id = sale.package.package_id
    template_id = f"off50-{uuid.uuid4().hex[:8]}"
    await run(
        uows,
        lambda uow: vouchers.create_template(
            uow,
            STAFF,
            template_id=template_id,
            terms=dv.VoucherTerms(display_name="50 off", kind=dv.AMOUNT_OFF, amount_off_minor=5000),
            valid_days=30,
            valid_from=None,
            valid_until=None,
            currency="CNY",
        ),
    )
    voucher = await run(
        uows, lambda uow: vouchers.issue_voucher(uow, STAFF, member_id=m, template_id=template_id, reason="t")
    )

    async def remaining() -> tuple[int, str]:
        async with engine.connect() as conn:
            sessions = (
                await conn.execute(
                    text("SELECT sessions_remaining FROM member_package_items WHERE package_id = :p"),
                    {"p": package_id},
                )
            ).scalar_one()
            state = (
                await conn.execute(
                    text("SELECT state FROM vouchers WHERE voucher_id = :v"), {"v": voucher.voucher_id}
                )
            ).scalar_one()
        return sessions, state

    assert await remaining() == (10, "issued")
    lines = [
        Line("services/facial", "facial", 2, 30000, use_package=f"members/{m}/packages/{package_id}"),
        Line("products/serum", "retail", 1, 20000),
    ]
    bill = co.CheckoutInput(
        m,
        "s1",
        lines,
        voucher_ids=[voucher.voucher_id],
        package_ids=[package_id, None],
        tenders=[("cash", 13000)],
    )
    result = await run(uows, lambda uow: co.checkout(uow, STAFF, bill))
    c = result.record
    # facials from the card; serum 200.00 - 10 % - 50.00 voucher = 130.00
    assert (c["package_covered_minor"], c["tier_discount_minor"], c["voucher_discount_minor"]) == (
        60000,
        2000,
        5000,
    )
    assert c["total_due_minor"] == 13000 and c["line_results"][0]["sessions"] == 2
    assert c["line_results"][0]["commission_base"] == c["line_results"][0]["package_value"] > 0
    assert await remaining() == (8, "redeemed")
    await invariants(engine)
    part = await run(
        uows,
        lambda uow: co.refund(
            uow, STAFF, checkout_id=c["checkout_id"], lines=[(0, 1)], full=False, reason=""
        ),
    )
    assert part.refund.sessions_restored == 1 and part.refund.amount_minor == 0
    assert await remaining() == (9, "redeemed")  # vouchers come back only when nothing is left
    async with engine.connect() as conn:
        payload = (
            await conn.execute(
                text("SELECT payload FROM outbox WHERE aggregate_id = :m AND event_type = :e ORDER BY seq"),
                {"m": m, "e": wallet_events.PackageSessionsRestored.DESCRIPTOR.full_name},
            )
        ).scalar_one()
    restored = unpack(EventEnvelope.FromString(payload), wallet_events.PackageSessionsRestored)
    assert (restored.package, restored.service, restored.sessions, restored.sessions_remaining) == (
        f"members/{m}/packages/{package_id}",
        "services/facial",
        1,
        9,
    )
    assert restored.checkout == f"checkouts/{c['checkout_id']}"  # attribution finds the use it undoes
    await invariants(engine)
    refund = await run(
        uows, lambda uow: co.refund(uow, STAFF, checkout_id=c["checkout_id"], lines=[], full=True, reason="")
    )
    assert refund.refund.sessions_restored == 1 and refund.refund.amount_minor == 13000
    assert list(refund.refund.vouchers_restored) == [f"members/{m}/vouchers/{voucher.voucher_id}"]
    assert await remaining() == (10, "issued")
    async with engine.connect() as conn:
        payloads = (
            (
                await conn.execute(
                    text(
                        "SELECT payload FROM outbox WHERE aggregate_id = :m AND event_type = :e ORDER BY seq"
                    ),
                    {"m": m, "e": wallet_events.VoucherRestored.DESCRIPTOR.full_name},
                )
            )
            .scalars()
            .all()
        )
    given_back = [unpack(EventEnvelope.FromString(p), wallet_events.VoucherRestored) for p in payloads]
    assert [(v.voucher, v.template, v.checkout) for v in given_back] == [
        (
            f"members/{m}/vouchers/{voucher.voucher_id}",
            f"voucherTemplates/{template_id}",
            f"checkouts/{c['checkout_id']}",
        )
    ]
    assert given_back[0].refund.startswith(f"checkouts/{c['checkout_id']}/refunds/")
    await invariants(engine)


async def test_a_stale_stored_value_plan_is_re_planned_not_misapplied(wallet):
    """The stored-value split is planned on balances read without a lock; when another desk tops
    the member up between that read and the posting, the posting says "stale" and the checkout is
    planned again on the new balances (never applied with the old split)."""
    engine, uows = wallet
    m = await new_member(engine)
    await top_up(uows, m)  # principal 1000.00, bonus 200.00
    bill = co.CheckoutInput(
        member_id=m, store_id="s1", lines=[Line("services/facial", "facial", 1, 24000)], stored_value=24000
    )
    attempts = 0

    async def checkout_raced_by_a_top_up(uow):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            read = uow.ledger.balances

            async def read_then_race(keys):
                seen = await read(keys)
                await top_up(uows, m, amount=60000, plan="")  # committed meanwhile: principal 1600.00
                return seen

            uow.ledger.balances = read_then_race
        return await co.checkout(uow, STAFF, bill)

    result = await run(uows, checkout_raced_by_a_top_up)
    assert attempts == 2
    # proportional on 1600 : 200, not on the stale 1000 : 200 (which would be 200.00 / 40.00)
    c = result.record
    assert (c["principal_funded_minor"], c["bonus_funded_minor"]) == (21333, 2667)
    s = await snap(uows, m)
    assert (s.principal, s.bonus) == (160000 - 21333, 20000 - 2667)
    await invariants(engine)


async def test_concurrent_stored_value_checkouts_of_one_member_re_plan_at_most_once(wallet):
    """A busy member's checkouts keep finding their optimistic plan stale; each re-plans once,
    under the accounts' locks, instead of exhausting its retries."""
    engine, uows = wallet
    m = await new_member(engine)
    await top_up(uows, m)  # 1000.00 + 200.00
    bill = co.CheckoutInput(
        member_id=m, store_id="s1", lines=[Line("services/facial", "facial", 1, 3000)], stored_value=3000
    )
    attempts: list[int] = []

    async def checkout(uow):
        attempts.append(uow.attempt)
        return await co.checkout(uow, STAFF, bill)

    results = await asyncio.gather(*(run(uows, checkout) for _ in range(16)))
    # Attempt 0 plans optimistically, attempt 1 re-plans under the locks — principal, bonus and
    # points together, in account-id order like the posting, so two re-plans cannot deadlock
    # (locking the points account later, in the posting, did: one run in 5-10 took attempt 2+).
    assert len(results) == 16 and max(attempts) <= 1
    s = await snap(uows, m)
    assert s.principal + s.bonus == 120000 - 16 * 3000
    await invariants(engine)
