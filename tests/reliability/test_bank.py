"""The bank test: the wallet under concurrent mixed load, lost replies and a SIGKILL.

32 clients run mixed operations against the wallet process over gRPC. A fifth of the replies are
"lost" (the client discards the answer and sends the same request again with the same
request_id); half-way through, the wallet process is killed with SIGKILL and restarted. After the
run: every account balance equals the sum of its postings, every transaction balances, no member
balance is negative, no effect happened twice, and every outbox event reached JetStream exactly
once (by event id).

Operations: top-ups (plain, immediate-bonus and monthly plans), checkouts funded by points,
stored value and every external tender, full checkout refunds, hold authorise/capture/void,
point grants and deductions, package-session consumption and package transfers, stored-value
refunds.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import nats
import pytest
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2, points_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.auth import mint_dev_token
from kit.config import to_async_url
from tests.e2e.conftest import ServiceProcess
from tests.support.stack import private_nats
from tests.support.wallet import seed_stores, sv_lot_disagreements

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TENANT = "bank"
MEMBERS = 24
CLIENTS = 32
OPS_PER_CLIENT = 30
TOKEN = mint_dev_token(tenant=TENANT, subject="user:bank", roles=["hq_admin"])
MD = (("authorization", f"Bearer {TOKEN}"),)
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}
REFUSALS = {
    "INSUFFICIENT_BALANCE",
    "INSUFFICIENT_POINTS",
    "HOLD_NOT_AUTHORIZED",
    "NOTHING_TO_REFUND",
    "HOLDS_OUTSTANDING",
    "POINTS_ALREADY_SPENT",
    "REFUND_EXCEEDS_CHECKOUT",
    "PACKAGE_NOT_ACTIVE",
    "NO_SESSIONS_LEFT",
    "PACKAGE_CLOSED",
}
TENDERS = [
    ledger_pb2.TENDER_CASH,
    ledger_pb2.TENDER_BANK_CARD,
    ledger_pb2.TENDER_WECHAT_PAY,
    ledger_pb2.TENDER_ALIPAY,
]


def reason_of(err: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2, status_pb2

    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not raw:
        return ""
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


class Client:
    """Sends each request until it gets a definite answer; 20 % of answers are thrown away and the
    identical request (same request_id) is sent again, as a client that lost the reply would."""

    def __init__(self, addr: str, rng: random.Random):
        self.addr = addr
        self.rng = rng
        self.channel = grpc.aio.insecure_channel(addr)
        self.stub = pb_grpc.WalletServiceStub(self.channel)
        self.replayed = 0

    async def call(self, method: str, request):
        drop_next = self.rng.random() < 0.2
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await getattr(self.stub, method)(request, metadata=MD, timeout=10)
            except grpc.aio.AioRpcError as err:
                if err.code() in RETRYABLE and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    continue
                return err
            if drop_next:  # the reply is "lost": ask again with the same request_id
                drop_next = False
                self.replayed += 1
                continue
            return response


async def run_client(
    i: int,
    addr: str,
    members: list[str],
    holds: list[str],
    checkouts: list[str],
    packages: dict[str, str],
    stats: dict,
) -> None:
    rng = random.Random(1000 + i)
    client = Client(addr, rng)
    try:
        for _ in range(OPS_PER_CLIENT):
            m = rng.choice(members)
            roll = rng.random()
            rid = str(uuid.uuid4())
            if roll < 0.18:
                plan = rng.choice(["", "topUpPlans/imm", "topUpPlans/mon"])
                amount = 100_000 if plan else rng.randint(100, 30_000)
                out = await client.call(
                    "TopUp",
                    pb.TopUpRequest(
                        member=m,
                        amount_minor=amount,
                        currency_code="CNY",
                        plan=plan,
                        store=f"stores/s{rng.randint(1, 3)}",
                        tender=rng.choice(TENDERS),
                        request_id=rid,
                    ),
                )
            elif roll < 0.40:
                # A checkout paid with points, stored value and an external tender, covering it exactly.
                quantity, price = rng.randint(1, 2), rng.randint(50, 200) * 100
                total = quantity * price
                points = rng.choice([0, 0, 100, 200])
                stored_value = rng.randint(0, (total - points) // 2)
                tender_amount = total - points - stored_value
                out = await client.call(
                    "Checkout",
                    pb.CheckoutRequest(
                        member=m,
                        store=f"stores/s{rng.randint(1, 3)}",
                        lines=[
                            checkout_pb2.CheckoutLine(
                                item="services/massage",
                                category="care",
                                quantity=quantity,
                                list_price_minor=price,
                                serving_staff="staff/ann",
                            )
                        ],
                        points_to_redeem=points,
                        stored_value_minor=stored_value,
                        payment_pin="246810",
                        tenders=[
                            checkout_pb2.TenderAmount(tender=rng.choice(TENDERS), amount_minor=tender_amount)
                        ]
                        if tender_amount
                        else [],
                        request_id=rid,
                    ),
                )
                if isinstance(out, pb.CheckoutResponse):
                    checkouts.append(out.checkout.name)
            elif roll < 0.46 and checkouts:
                out = await client.call(
                    "RefundCheckout",
                    pb.RefundCheckoutRequest(
                        checkout=rng.choice(checkouts), full=True, reason="bank", request_id=rid
                    ),
                )
            elif roll < 0.58:
                out = await client.call(
                    "AuthorizeHold",
                    pb.AuthorizeHoldRequest(
                        hold=ledger_pb2.Hold(
                            member=m,
                            amount_minor=rng.randint(100, 20_000),
                            store="stores/s1",
                            reference="bank",
                        ),
                        payment_pin="246810",
                        request_id=rid,
                    ),
                )
                if isinstance(out, pb.AuthorizeHoldResponse):
                    holds.append(out.hold.name)
            elif roll < 0.66 and holds:
                name = holds.pop(rng.randrange(len(holds)))
                method = rng.choice(["CaptureHold", "VoidHold"])
                req_cls = pb.CaptureHoldRequest if method == "CaptureHold" else pb.VoidHoldRequest
                out = await client.call(method, req_cls(name=name, request_id=rid))
            elif roll < 0.74:
                out = await client.call(
                    "GrantPoints",
                    pb.GrantPointsRequest(
                        member=m,
                        points=rng.randint(1, 500),
                        source=points_pb2.LOT_SOURCE_ACTIVITY,
                        reason="bank",
                        request_id=rid,
                    ),
                )
            elif roll < 0.80:
                out = await client.call(
                    "AdjustPoints",
                    pb.AdjustPointsRequest(
                        member=m, delta=-rng.randint(1, 400), reason="bank redemption", request_id=rid
                    ),
                )
            elif roll < 0.92:
                out = await client.call(
                    "ConsumePackageSession",
                    pb.ConsumePackageSessionRequest(
                        package=packages[m],
                        service="services/facial",
                        store=f"stores/s{rng.randint(1, 3)}",
                        sessions=1,
                        request_id=rid,
                    ),
                )
            elif roll < 0.95:
                target = rng.choice([x for x in members if x != m])
                out = await client.call(
                    "TransferPackage",
                    pb.TransferPackageRequest(package=packages[m], to_member=target, request_id=rid),
                )
            else:
                out = await client.call(
                    "RefundStoredValue",
                    pb.RefundStoredValueRequest(
                        member=m, store="stores/s1", tender=ledger_pb2.TENDER_CASH, request_id=rid
                    ),
                )
            if isinstance(out, grpc.aio.AioRpcError):
                reason = reason_of(out)
                assert out.code() == grpc.StatusCode.FAILED_PRECONDITION and reason in REFUSALS, (
                    out.code(),
                    reason,
                    out.details(),
                )
                stats["refused"] += 1
            else:
                stats["ok"] += 1
        stats["replayed"] += client.replayed
    finally:
        await client.channel.close()


@pytest.fixture
def bank_nats(tmp_path) -> Iterator[str]:
    """The wallet's stream on a server of its own: the check at the end reads the whole stream,
    not the thousands of wallet events the session's earlier tests published."""
    with private_nats(tmp_path / "nats") as url:
        yield url


async def test_bank(infra, tmp_path, bank_nats):
    url = to_async_url(await infra.amigrated_database("wallet", "bank"))
    engine = create_async_engine(url)
    members = []
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO top_up_plans (tenant_id, plan_id, display_name, pay_minor, bonus_minor,"
                " bonus_release, release_months) VALUES (:t, 'imm', 'i', 100000, 20000, 'immediate', 1),"
                " (:t, 'mon', 'm', 100000, 24000, 'monthly', 12)"
            ),
            {"t": TENANT},
        )
        for _ in range(MEMBERS):
            member_id = str(uuid.uuid4())
            members.append(f"members/{member_id}")
            await conn.execute(
                text(
                    "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id,"
                    " discount_bps, points_multiplier_permille, registered_time)"
                    " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
                ),
                {"t": TENANT, "m": member_id},
            )
            await seed_stores(conn, TENANT)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_ENV": "test",
            "PEONY_WALLET_DATABASE_URL": url,
            "PEONY_WALLET_MEMBERS_READ_THROUGH": "off",  # no members service here
            "PEONY_NATS_URL": bank_nats,
            "PEONY_WALLET_GRPC_PORT": str(port),
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    wallet = ServiceProcess(
        "wallet",
        [sys.executable, "-m", "cli.main", "serve", "wallet"],
        env,
        tmp_path / "wallet.log",
        f"grpc:127.0.0.1:{port}",
    )
    wallet.start()
    addr = f"127.0.0.1:{port}"
    try:
        setup = Client(addr, random.Random(0))
        setup.rng.random = lambda: 1.0  # no dropped replies while seeding
        await setup.call(
            "CreatePackageProduct",
            pb.CreatePackageProductRequest(
                package_product_id="facial-10",
                package_product=packages_pb2.PackageProduct(
                    display_name="Facial x10",
                    price_minor=200_000,
                    items=[
                        packages_pb2.PackageItem(
                            service="services/facial",
                            display_name="Facial",
                            sessions=10,
                            list_price_minor=30_000,
                            validity_days=365,
                        )
                    ],
                ),
                request_id=str(uuid.uuid4()),
            ),
        )
        packages: dict[str, str] = {}
        for m in members:
            await setup.call(
                "SetPaymentPin", pb.SetPaymentPinRequest(member=m, pin="246810", request_id=str(uuid.uuid4()))
            )
            sold = await setup.call(
                "SellPackage",
                pb.SellPackageRequest(
                    member=m,
                    product="packageProducts/facial-10",
                    store="stores/s1",
                    tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=200_000)],
                    request_id=str(uuid.uuid4()),
                ),
            )
            assert isinstance(sold, pb.SellPackageResponse), sold
            packages[m] = sold.member_package.name
        await setup.channel.close()

        stats = {"ok": 0, "refused": 0, "replayed": 0}
        holds: list[str] = []
        checkouts: list[str] = []
        clients = [
            asyncio.create_task(run_client(i, addr, members, holds, checkouts, packages, stats))
            for i in range(CLIENTS)
        ]
        await asyncio.sleep(2.0)
        wallet.signal(signal.SIGKILL)  # mid-run, no chance to finish anything
        wallet.wait(10)
        await asyncio.sleep(0.5)
        wallet.start()
        await asyncio.gather(*clients)
        assert stats["ok"] > CLIENTS * OPS_PER_CLIENT // 3 and stats["replayed"] > 0, stats

        # let the relay drain the outbox, then check everything
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                pending = (
                    await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
                ).scalar()
            if pending == 0:
                break
            await asyncio.sleep(0.3)
        assert pending == 0
    finally:
        wallet.stop()

    async with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql))  # noqa: E731
        assert (
            await q(
                "SELECT count(*) FROM account_balances a WHERE balance <> COALESCE("
                "(SELECT sum(amount) FROM postings p"
                " WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id), 0)"
            )
        ).scalar() == 0
        assert (
            await q(
                "SELECT count(*) FROM (SELECT 1 FROM postings GROUP BY transaction_id, unit"
                " HAVING sum(amount) <> 0) x"
            )
        ).scalar() == 0
        assert (
            await q(
                "SELECT count(*) FROM accounts WHERE kind IN ('sv_principal', 'sv_bonus', 'sv_held',"
                " 'points', 'package_item') AND balance > 0"
            )
        ).scalar() == 0
        # No effect twice: one idempotency key per effect-bearing transaction, each hold settled once.
        assert (
            await q(
                "SELECT count(*) FROM (SELECT settle_transaction_id FROM holds WHERE settle_transaction_id"
                " IS NOT NULL GROUP BY settle_transaction_id HAVING count(*) > 1) x"
            )
        ).scalar() == 0
        keys = (await q("SELECT count(*) FROM idempotency_keys")).scalar()
        top_ups = (await q("SELECT count(*) FROM ledger_transactions WHERE kind = 'top_up'")).scalar()
        top_up_keys = (await q("SELECT count(*) FROM idempotency_keys WHERE method = 'TopUp'")).scalar()
        assert top_ups == top_up_keys and keys > 0
        lots_vs_points = (
            await q(
                "SELECT count(*) FROM accounts a WHERE a.kind = 'points' AND -a.balance <>"
                " (SELECT COALESCE(sum(remaining), 0) FROM point_lots l"
                " WHERE l.tenant_id = a.tenant_id AND l.member_id::text = a.owner)"
            )
        ).scalar()
        assert lots_vs_points == 0
        assert await sv_lot_disagreements(conn) == 0  # stored value per selling store ties to the ledger
        event_ids = {str(r[0]) for r in (await q("SELECT event_id FROM outbox")).all()}
        kinds = dict((await q("SELECT kind, count(*) FROM ledger_transactions GROUP BY kind")).all())
    # The run really exercised the whole mix (and not only refusals).
    for kind in (
        "top_up",
        "checkout",
        "hold",
        "capture",
        "void",
        "points_earn",
        "points_adjust",
        "package_sale",
        "package_consume",
        "package_transfer",
        "refund",
        "checkout_refund",  # full refunds mirror the checkout (they were kind "reversal" before)
    ):
        assert kinds.get(kind, 0) > 0, (kind, kinds)
    await engine.dispose()

    # Every outbox event is in the wallet stream exactly once.
    nc = await nats.connect(bank_nats)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("peony.wallet.>", durable=None)
        seen: dict[str, int] = {}
        # Read until every outbox event was seen, then until the stream is quiet: a fetch that times
        # out on a loaded machine (nats-py raises a bare asyncio.TimeoutError from some paths) only
        # ends the loop once nothing is missing or the deadline passes.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(500, timeout=1.5)
            except TimeoutError:  # nats.errors.TimeoutError is a subclass
                if set(seen) >= event_ids:
                    break
                continue
            for msg in msgs:
                msg_id = msg.headers.get("Nats-Msg-Id") if msg.headers else None
                if msg_id in event_ids:
                    seen[msg_id] = seen.get(msg_id, 0) + 1
                await msg.ack()
    finally:
        await nc.close()
    assert set(seen) == event_ids and set(seen.values()) == {1}
