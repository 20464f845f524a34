"""Package cards over real gRPC, PostgreSQL and NATS, and the checkout hooks through the service layer."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2
from peony.wallet.v1 import events_pb2 as wallet_events
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token, principal_from_claims
from kit.config import load_config, to_async_url
from kit.db import session_factory
from kit.errors import FailedPrecondition
from kit.messaging import EventEnvelope, unpack
from kit.uow import UnitOfWorkFactory
from services.wallet.domain.ledger import TransactionDraft
from services.wallet.entrypoints.app import build
from services.wallet.service_layer import packages as pk
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
TENANT = "wallet-packages"
PRICE = 280_001  # list value 400_000: facial gets 210_001 (21_000 a session, last 21_001), neck 70_000


def md(roles=("hq_admin",)):
    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=list(roles))}"),
    )


def rid() -> str:
    return str(uuid.uuid4())


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


@pytest.fixture(scope="module")
async def wallet(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_pkg"))
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
    stub = pb_grpc.WalletServiceStub(channel)
    await stub.CreatePackageProduct(
        pb.CreatePackageProductRequest(
            package_product_id="facial-neck",
            package_product=packages_pb2.PackageProduct(
                display_name="Facial x10 + Neck x5",
                price_minor=PRICE,
                items=[
                    packages_pb2.PackageItem(
                        service="services/facial", sessions=10, list_price_minor=30_000, validity_days=365
                    ),
                    packages_pb2.PackageItem(service="services/neck", sessions=5, list_price_minor=20_000),
                ],
            ),
            request_id=rid(),
        ),
        metadata=md(),
    )
    try:
        yield stub, engine
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


async def member(engine) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
            ),
            {"t": TENANT, "m": member_id},
        )
        await seed_stores(conn, TENANT)
    return f"members/{member_id}"


async def scalar(engine, sql: str, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def writes(engine) -> tuple:
    return (
        await scalar(engine, "SELECT count(*) FROM postings"),
        await scalar(engine, "SELECT count(*) FROM member_packages"),
        await scalar(engine, "SELECT count(*) FROM package_consumptions"),
        await scalar(engine, "SELECT coalesce(sum(sessions_remaining), 0) FROM member_package_items"),
    )


async def account(engine, kind: str, owner: str) -> int:
    return await scalar(
        engine,
        "SELECT coalesce(sum(balance), 0) FROM account_balances"
        " WHERE tenant_id = :t AND kind = :k AND owner = :o",
        t=TENANT,
        k=kind,
        o=owner,
    )


async def settle_expiries(engine) -> int:
    """Runs the package expiry job now: a test that expires a card and then checks that a refused
    request writes nothing must not see the service's own job recognise the card meanwhile."""
    from kit.db import session_factory
    from kit.uow import UnitOfWorkFactory
    from services.wallet.entrypoints.jobs import WalletJobs
    from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    return await WalletJobs(engine, uows).expire_packages(datetime.now(UTC))


async def assert_ledger_invariants(engine) -> None:
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM account_balances a WHERE balance <>"
            " (SELECT coalesce(sum(amount), 0) FROM postings p"
            " WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id)",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM (SELECT 1 FROM postings GROUP BY transaction_id, unit"
            " HAVING sum(amount) <> 0) x",
        )
        == 0
    )


async def sell(stub, m: str, tenders=None, pin: str = "", store: str = "stores/s1") -> pb.SellPackageResponse:
    return await stub.SellPackage(
        pb.SellPackageRequest(
            member=m,
            product="packageProducts/facial-neck",
            store=store,
            tenders=tenders or [checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=PRICE)],
            payment_pin=pin,
            request_id=rid(),
        ),
        metadata=md(),
    )


async def consume(
    stub, card: str, service: str = "services/facial", store: str = "stores/s2", sessions: int = 1
):
    return await stub.ConsumePackageSession(
        pb.ConsumePackageSessionRequest(
            package=card, service=service, store=store, sessions=sessions, request_id=rid()
        ),
        metadata=md(),
    )


async def refused(call, code: grpc.StatusCode, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert (err.value.code(), reason_of(err.value)) == (code, reason)


def item(card: packages_pb2.MemberPackage, service: str) -> packages_pb2.PackageItemBalance:
    return next(i for i in card.items if i.service == service)


async def test_sale_with_split_tenders_is_idempotent_and_exact(wallet):
    stub, engine = wallet
    m = await member(engine)
    await stub.TopUp(
        pb.TopUpRequest(
            member=m, amount_minor=150_000, tender=ledger_pb2.TENDER_CASH, store="stores/s1", request_id=rid()
        ),
        metadata=md(),
    )
    await stub.SetPaymentPin(pb.SetPaymentPinRequest(member=m, pin="204816", request_id=rid()), metadata=md())
    request = pb.SellPackageRequest(
        member=m,
        product="packageProducts/facial-neck",
        store="stores/s1",
        tenders=[
            checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_STORED_VALUE, amount_minor=100_000),
            checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_WECHAT_PAY, amount_minor=PRICE - 100_000),
        ],
        payment_pin="204816",
        request_id=rid(),
    )
    sold = await stub.SellPackage(request, metadata=md())
    before = await writes(engine)
    assert await stub.SellPackage(request, metadata=md()) == sold  # a retry replays, writes nothing
    assert await writes(engine) == before
    card = sold.member_package
    assert card.state == packages_pb2.PACKAGE_STATE_ACTIVE and card.deferred_minor == PRICE
    assert (
        item(card, "services/facial").sessions_remaining,
        item(card, "services/facial").session_value_minor,
    ) == (
        10,
        21_000,
    )
    assert item(card, "services/facial").HasField("expire_time")
    assert not item(card, "services/neck").HasField("expire_time")
    assert sold.wallet.principal_minor == 50_000
    assert sold.wallet.points_available + sold.wallet.points_pending == PRICE // 100  # own money earns points
    assert sold.transaction.kind == ledger_pb2.TRANSACTION_KIND_PACKAGE_SALE
    assert await account(engine, "deferred_package_revenue", "s1") <= -PRICE
    assert await account(engine, "tender", "s1:wechat_pay") == PRICE - 100_000
    listed = await stub.ListMemberPackages(pb.ListMemberPackagesRequest(parent=m), metadata=md())
    assert [c.name for c in listed.member_packages] == [card.name]
    await assert_ledger_invariants(engine)


async def test_consumption_at_another_store_recognises_the_price_exactly(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    revenue_before = await account(engine, "revenue", "s2")
    recognised = []
    for _ in range(10):
        recognised.append((await consume(stub, card)).transaction)
    left = await consume(stub, card, "services/neck", sessions=2)
    await refused(consume(stub, card), grpc.StatusCode.FAILED_PRECONDITION, "NO_SESSIONS_LEFT")
    last = await consume(stub, card, "services/neck", sessions=3)
    assert last.member_package.state == packages_pb2.PACKAGE_STATE_EXHAUSTED
    assert last.member_package.deferred_minor == 0 and left.member_package.deferred_minor == 42_000
    assert await account(engine, "revenue", "s2") - revenue_before == -PRICE
    package_id = card.rsplit("/", 1)[1]
    rows = await scalar(
        engine,
        "SELECT json_agg(json_build_array(value_minor, store_sold, store_used) ORDER BY consumption_id)"
        " FROM package_consumptions WHERE package_id = :p",
        p=package_id,
    )
    assert sum(r[0] for r in rows) == PRICE and {(r[1], r[2]) for r in rows} == {("s1", "s2")}
    assert [r[0] for r in rows[:10]] == [21_000] * 9 + [21_001]
    assert await account(engine, "package_item", f"{package_id}:services/facial") == 0
    await refused(consume(stub, card), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_NOT_ACTIVE")
    await assert_ledger_invariants(engine)


async def test_freeze_blocks_consumption_and_extend_moves_expiry(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package
    frozen = await stub.FreezePackage(
        pb.FreezePackageRequest(package=card.name, request_id=rid()), metadata=md()
    )
    assert frozen.member_package.state == packages_pb2.PACKAGE_STATE_FROZEN
    before = await writes(engine)
    await refused(consume(stub, card.name), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_FROZEN")
    await refused(
        stub.TransferPackage(
            pb.TransferPackageRequest(package=card.name, to_member=await member(engine), request_id=rid()),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PACKAGE_FROZEN",
    )
    assert await writes(engine) == before
    extended = await stub.ExtendPackage(
        pb.ExtendPackageRequest(package=card.name, days=30, request_id=rid()), metadata=md()
    )
    old = item(card, "services/facial").expire_time.ToSeconds()
    assert item(extended.member_package, "services/facial").expire_time.ToSeconds() == old + 30 * 86400
    await stub.UnfreezePackage(pb.UnfreezePackageRequest(package=card.name, request_id=rid()), metadata=md())
    assert (await consume(stub, card.name)).member_package.state == packages_pb2.PACKAGE_STATE_ACTIVE
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE member_package_items SET expire_time = now() - interval '1 day' WHERE package_id = :p"
            ),
            {"p": card.name.rsplit("/", 1)[1]},
        )
    await refused(consume(stub, card.name), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_ITEM_EXPIRED")


async def test_transfer_moves_every_remaining_session_and_keeps_deferred_revenue(wallet):
    stub, engine = wallet
    giver, receiver = await member(engine), await member(engine)
    card = (await sell(stub, giver)).member_package.name
    await consume(stub, card, sessions=3)
    await refused(
        stub.TransferPackage(
            pb.TransferPackageRequest(package=card, to_member=f"members/{uuid.uuid4()}", request_id=rid()),
            metadata=md(),
        ),
        grpc.StatusCode.NOT_FOUND,
        "MEMBER_NOT_FOUND",
    )
    moved = await stub.TransferPackage(
        pb.TransferPackageRequest(package=card, to_member=receiver, request_id=rid()), metadata=md()
    )
    assert moved.source_package.state == packages_pb2.PACKAGE_STATE_EXHAUSTED
    target = moved.target_package
    assert target.name.startswith(receiver) and target.transferred_from == card
    assert target.deferred_minor == PRICE - 3 * 21_000 and target.store_sold == "stores/s1"
    assert (
        item(target, "services/facial").sessions_remaining,
        item(target, "services/neck").sessions_remaining,
    ) == (
        7,
        5,
    )
    assert all(p.unit == "SESSION" for p in moved.transaction.postings)
    events = await scalar(
        engine,
        "SELECT array_agg(event_type ORDER BY seq) FROM outbox WHERE aggregate_id = :m",
        m=giver.split("/")[1],
    )
    assert [e.rsplit(".", 1)[-1] for e in events] == [
        "PackageSold",
        "PackageSessionConsumed",
        "PackageTransferred",
    ]
    # the items' sessions travel on the events (members projects them for segments)
    payloads = await scalar(
        engine,
        "SELECT array_agg(payload ORDER BY seq) FROM outbox WHERE aggregate_id = :m",
        m=giver.split("/")[1],
    )
    sold = unpack(EventEnvelope.FromString(payloads[0]), wallet_events.PackageSold)
    moved_event = unpack(EventEnvelope.FromString(payloads[2]), wallet_events.PackageTransferred)
    assert {(i.service, i.sessions_remaining) for i in sold.items} == {
        ("services/facial", 10),
        ("services/neck", 5),
    }
    assert moved_event.to_package == target.name
    assert {(i.service, i.sessions_remaining) for i in moved_event.to_items} == {
        ("services/facial", 7),
        ("services/neck", 5),
    }
    revenue_before = await account(engine, "revenue", "s3")
    await consume(stub, target.name, store="stores/s3", sessions=7)
    await consume(stub, target.name, "services/neck", store="stores/s3", sessions=5)
    assert await account(engine, "revenue", "s3") - revenue_before == -(PRICE - 3 * 21_000)
    await assert_ledger_invariants(engine)


async def test_refund_pays_back_the_unused_sessions_pro_rata(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    await consume(stub, card, sessions=4)
    cash_before = await account(engine, "tender", "s9:cash")
    refunded = await stub.RefundPackage(
        pb.RefundPackageRequest(
            package=card, store="stores/s9", tender=ledger_pb2.TENDER_CASH, request_id=rid()
        ),
        metadata=md(),
    )
    assert (refunded.refund_minor, refunded.sessions_refunded) == (PRICE - 4 * 21_000, 11)
    assert refunded.member_package.state == packages_pb2.PACKAGE_STATE_REFUNDED
    assert refunded.member_package.deferred_minor == 0
    assert await account(engine, "tender", "s9:cash") - cash_before == -(PRICE - 4 * 21_000)
    await refused(consume(stub, card), grpc.StatusCode.FAILED_PRECONDITION, "PACKAGE_NOT_ACTIVE")
    second = (await sell(stub, m)).member_package.name
    await consume(stub, second, "services/neck")
    to_wallet = await stub.RefundPackage(
        pb.RefundPackageRequest(
            package=second, store="stores/s1", tender=ledger_pb2.TENDER_STORED_VALUE, request_id=rid()
        ),
        metadata=md(),
    )
    assert to_wallet.refund_minor == PRICE - 14_000 and to_wallet.wallet.principal_minor == PRICE - 14_000
    await assert_ledger_invariants(engine)


async def test_bad_requests_get_clear_statuses_and_write_nothing(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    before = await writes(engine)
    cash = ledger_pb2.TENDER_CASH
    await refused(
        sell(stub, m, [checkout_pb2.TenderAmount(tender=cash, amount_minor=PRICE - 1)]),
        grpc.StatusCode.FAILED_PRECONDITION,
        "TENDERS_MISMATCH",
    )
    await refused(
        sell(stub, m, [checkout_pb2.TenderAmount(tender=cash, amount_minor=-PRICE)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        sell(
            stub,
            m,
            [checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_STORED_VALUE, amount_minor=PRICE)],
            "1",
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PIN_NOT_SET",
    )
    await refused(sell(stub, f"members/{uuid.uuid4()}"), grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND")
    await refused(
        stub.SellPackage(
            pb.SellPackageRequest(
                member=m,
                product="packageProducts/nope",
                store="stores/s1",
                tenders=[checkout_pb2.TenderAmount(tender=cash, amount_minor=1)],
                request_id=rid(),
            ),
            metadata=md(),
        ),
        grpc.StatusCode.NOT_FOUND,
        "PACKAGE_PRODUCT_NOT_FOUND",
    )
    await refused(
        consume(stub, f"{m}/packages/{uuid.uuid4()}"), grpc.StatusCode.NOT_FOUND, "PACKAGE_NOT_FOUND"
    )
    # a malformed id is the caller's mistake, refused before any query
    await refused(
        consume(stub, f"{m}/packages/not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"
    )
    other = await member(engine)
    await refused(  # someone else's card under another member's name
        consume(stub, f"{other}/packages/{card.rsplit('/', 1)[1]}"),
        grpc.StatusCode.NOT_FOUND,
        "PACKAGE_NOT_FOUND",
    )
    await refused(consume(stub, "packages/x"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    await refused(consume(stub, card, sessions=11), grpc.StatusCode.FAILED_PRECONDITION, "NO_SESSIONS_LEFT")
    await refused(
        consume(stub, card, "services/massage"), grpc.StatusCode.NOT_FOUND, "PACKAGE_ITEM_NOT_FOUND"
    )
    await refused(
        stub.ExtendPackage(pb.ExtendPackageRequest(package=card, days=0, request_id=rid()), metadata=md()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.UnfreezePackage(pb.UnfreezePackageRequest(package=card, request_id=rid()), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PACKAGE_NOT_FROZEN",
    )
    await refused(
        stub.TransferPackage(
            pb.TransferPackageRequest(package=card, to_member=m, request_id=rid()), metadata=md()
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.CreatePackageProduct(
            pb.CreatePackageProductRequest(
                package_product=packages_pb2.PackageProduct(
                    display_name="",
                    price_minor=0,
                    items=[packages_pb2.PackageItem(service="facial", sessions=0, list_price_minor=1)],
                ),
                request_id=rid(),
            ),
            metadata=md(),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.CreatePackageProduct(
            pb.CreatePackageProductRequest(
                package_product=packages_pb2.PackageProduct(
                    display_name="x",
                    price_minor=1,
                    items=[packages_pb2.PackageItem(service="services/x", sessions=1, list_price_minor=1)],
                ),
                request_id=rid(),
            ),
            metadata=md(("store_manager",)),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_PERMISSION",
    )
    assert await writes(engine) == before


async def test_products_list_and_update(wallet):
    stub, _ = wallet
    updated = await stub.UpdatePackageProduct(
        pb.UpdatePackageProductRequest(
            package_product=packages_pb2.PackageProduct(
                name="packageProducts/facial-neck", display_name="Renamed"
            ),
            request_id=rid(),
        ),
        metadata=md(),
    )
    assert updated.package_product.display_name == "Renamed" and updated.package_product.price_minor == PRICE
    listed = await stub.ListPackageProducts(pb.ListPackageProductsRequest(), metadata=md())
    assert "packageProducts/facial-neck" in [p.name for p in listed.package_products]


async def test_concurrent_consumptions_never_overdraw_a_card(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    revenue_before = await account(engine, "revenue", "s5")
    results = await asyncio.gather(
        *(consume(stub, card, store="stores/s5") for _ in range(12)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 10 and [reason_of(e) for e in failed] == ["NO_SESSIONS_LEFT"] * 2
    assert await account(engine, "revenue", "s5") - revenue_before == -210_001
    await assert_ledger_invariants(engine)


# --- checkout hooks (service layer) -------------------------------------------------------------
STAFF = principal_from_claims(
    {"tenant": TENANT, "sub": "user:desk", "roles": ["hq_admin"], "exp": time.time() + 3600}
)


async def test_checkout_hooks_pick_the_soonest_expiry_and_restore_exactly(wallet):
    stub, engine = wallet
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    m = await member(engine)
    member_id = m.split("/")[1]
    first = (await sell(stub, m)).member_package.name.rsplit("/", 1)[1]
    second = (await sell(stub, m)).member_package.name.rsplit("/", 1)[1]
    async with engine.begin() as conn:  # the second card's facial sessions expire sooner
        await conn.execute(
            text(
                "UPDATE member_package_items SET expire_time = now() + interval '5 days'"
                " WHERE package_id = :p"
            ),
            {"p": second},
        )

    async def checkout(uow):
        draft = TransactionDraft("checkout", member_id=member_id, store_id="s4")
        uses = [
            await pk.consume_for_checkout(
                uow,
                draft,
                member_id=member_id,
                store_id="s4",
                service="services/facial",
                quantity=9,
                package_id=None,
            ),
            await pk.consume_for_checkout(  # the same card again within one draft: only 1 left there
                uow,
                draft,
                member_id=member_id,
                store_id="s4",
                service="services/facial",
                quantity=1,
                package_id=None,
            ),
        ]
        posted = await uow.ledger.post(draft)
        await pk.record_checkout_uses(uow, posted.transaction_id, uses, "s4")
        return uses

    uses = await uows.run(TENANT, checkout)
    assert [(u.package_id, u.sessions, u.value_minor) for u in uses] == [
        (second, 9, 189_000),
        (second, 1, 21_001),
    ]

    async def too_many(uow):
        draft = TransactionDraft("checkout", member_id=member_id, store_id="s4")
        await pk.consume_for_checkout(
            uow,
            draft,
            member_id=member_id,
            store_id="s4",
            service="services/facial",
            quantity=11,
            package_id=None,
        )

    with pytest.raises(FailedPrecondition) as err:
        await uows.run(TENANT, too_many)
    assert err.value.reason == "NO_SESSIONS_LEFT"

    async def refund(uow):
        draft = TransactionDraft("refund", member_id=member_id, store_id="s4")
        await pk.restore_for_refund(uow, draft, member_id=member_id, uses=uses)
        posted = await uow.ledger.post(draft)
        await pk.record_refund_restores(uow, posted.transaction_id, uses)

    await uows.run(TENANT, refund)
    listed = await stub.ListMemberPackages(pb.ListMemberPackagesRequest(parent=m), metadata=md())
    by_id = {c.name.rsplit("/", 1)[1]: c for c in listed.member_packages}
    assert by_id[second].state == packages_pb2.PACKAGE_STATE_ACTIVE
    assert (
        by_id[second].deferred_minor == PRICE
        and item(by_id[second], "services/facial").sessions_remaining == 10
    )
    assert by_id[first].deferred_minor == PRICE
    assert (
        await scalar(
            engine, "SELECT sum(value_minor) FROM package_consumptions WHERE package_id = :p", p=second
        )
        == 0
    )
    await assert_ledger_invariants(engine)
