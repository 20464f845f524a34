"""Deferred value of expired package cards is recognised, once: the wallet's durable expiry job
(entrypoints/jobs.py `expire_packages`) finds items past their expiry with deferred revenue or
unused counted sessions left and posts ONE balanced `package_expire` transaction per card —
deferred revenue → revenue of the selling store, unused sessions → `sessions_expired` — with
`PackageExpired`; the card and the finance view show it. Real gRPC, PostgreSQL and JetStream."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from peony.wallet.v1 import ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from kit.db import session_factory
from kit.uow import UnitOfWorkFactory
from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet.test_packages import (
    TENANT,
    assert_ledger_invariants,
    consume,
    md,
    member,
    rid,
    scalar,
    sell,
    settle_expiries,
    wallet,  # noqa: F401 - the module's fixture
)
from tests.integration.wallet.test_unlimited_time_cards import card, product, set_period
from tests.integration.wallet.test_unlimited_time_cards import sell as sell_unlimited

pytestmark = pytest.mark.integration
FACIAL, NECK = "services/facial", "services/neck"


def jobs(engine) -> WalletJobs:
    return WalletJobs(engine, UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet"))


async def expire_item(engine, package_name: str, service: str, when: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE member_package_items SET expire_time = :e"
                " WHERE tenant_id = :t AND package_id = :p AND service = :s"
            ),
            {"e": when, "t": TENANT, "p": package_name.rsplit("/", 1)[1], "s": service},
        )


async def expiries(stub, member_name: str) -> list[ledger_pb2.LedgerTransaction]:
    listed = await stub.ListTransactions(
        pb.ListTransactionsRequest(parent=member_name, kinds=[ledger_pb2.TRANSACTION_KIND_PACKAGE_EXPIRE]),
        metadata=md(),
    )
    return list(listed.transactions)


async def s1_deferred(stub) -> tuple[int, int]:
    """(deferred revenue, sessions outstanding) of store s1 in the finance view."""
    got = await stub.GetPackageDeferredRevenue(pb.GetPackageDeferredRevenueRequest(), metadata=md())
    row = next((r for r in got.rows if r.store == "stores/s1"), None)
    return (row.deferred_minor, row.sessions_outstanding) if row else (0, 0)


async def wait_for_expiry(stub, engine, member_name: str, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        await jobs(engine).expire_packages(datetime.now(UTC))
        found = await expiries(stub, member_name)
        if found:
            return found
        assert time.monotonic() < deadline, "the expired card's value was never recognised"
        await asyncio.sleep(0.5)


async def test_an_expired_counted_item_recognises_its_deferred_value_and_takes_its_sessions(wallet):  # noqa: F811
    stub, engine = wallet
    m = await member(engine)
    sold = (await sell(stub, m)).member_package
    await consume(stub, sold.name, FACIAL)
    before = await card(stub, sold.name)
    facial = next(i for i in before.items if i.service == FACIAL)
    neck = next(i for i in before.items if i.service == NECK)
    facial_deferred = facial.sessions_remaining * facial.session_value_minor
    assert facial.sessions_remaining == 9
    deferred_s1 = await scalar(
        engine,
        "SELECT coalesce(sum(deferred_minor), 0) FROM member_package_items i JOIN member_packages p"
        " USING (tenant_id, package_id) WHERE p.tenant_id = :t AND p.package_id = :p AND i.service = :s",
        t=TENANT,
        p=sold.name.rsplit("/", 1)[1],
        s=FACIAL,
    )
    assert deferred_s1 >= facial_deferred > 0
    await settle_expiries(engine)  # every other card already due (other tests') recognised first
    finance_before = await s1_deferred(stub)
    await expire_item(engine, sold.name, FACIAL, datetime.now(UTC) - timedelta(minutes=1))

    [tx] = await wait_for_expiry(stub, engine, m)
    assert tx.kind == ledger_pb2.TRANSACTION_KIND_PACKAGE_EXPIRE
    by_unit: dict[str, int] = {}
    for p in tx.postings:
        by_unit[p.unit] = by_unit.get(p.unit, 0) + p.amount
    assert all(v == 0 for v in by_unit.values()), "balanced per unit"
    # the money side: exactly the item's deferred value left, deferred → revenue of the selling store
    money = [p for p in tx.postings if p.unit != "SESSION"]
    assert sorted(abs(p.amount) for p in money) == [deferred_s1, deferred_s1]
    sessions = [p for p in tx.postings if p.unit == "SESSION"]
    assert sorted(abs(p.amount) for p in sessions) == [9, 9]

    after = await card(stub, sold.name)
    facial_after = next(i for i in after.items if i.service == FACIAL)
    neck_after = next(i for i in after.items if i.service == NECK)
    assert facial_after.sessions_remaining == 0
    assert (neck_after.sessions_remaining, neck_after.expire_time) == (
        neck.sessions_remaining,
        neck.expire_time,
    )
    assert after.deferred_minor == before.deferred_minor - deferred_s1
    assert after.state == packages_pb2.PACKAGE_STATE_ACTIVE  # the neck sessions are still usable
    # the finance view: the selling store defers exactly that much less, and 9 sessions fewer
    deferred_now, sessions_now = await s1_deferred(stub)
    assert (deferred_now, sessions_now) == (finance_before[0] - deferred_s1, finance_before[1] - 9)
    # exactly once: the job again (and the service's own job) recognises nothing more
    assert await jobs(engine).expire_packages(datetime.now(UTC)) == 0
    await asyncio.sleep(1)
    assert len(await expiries(stub, m)) == 1
    # a use of the expired item is refused as before
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await consume(stub, sold.name, FACIAL)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await assert_ledger_invariants(engine)
    # the event, through the outbox
    payload = await scalar(
        engine,
        "SELECT count(*) FROM outbox"
        " WHERE event_type = 'peony.wallet.v1.PackageExpired' AND aggregate_id = :m",
        m=m.split("/")[1],
    )
    assert payload == 1


async def test_an_unlimited_time_card_past_its_period_recognises_the_rest(wallet):  # noqa: F811
    stub, engine = wallet
    await product(stub, "unlimited-expiry", months=1)
    m = await member(engine)
    sold = await sell_unlimited(stub, m, "unlimited-expiry")
    assert sold.deferred_minor > 0
    now = datetime.now(UTC)
    await set_period(engine, sold.name, now - timedelta(days=40), now - timedelta(days=10))
    deferred = (await card(stub, sold.name)).deferred_minor
    [tx] = await wait_for_expiry(stub, engine, m)
    money = [p for p in tx.postings if p.unit != "SESSION"]
    assert sorted(abs(p.amount) for p in money) == [deferred, deferred]
    assert not [p for p in tx.postings if p.unit == "SESSION"]  # an unlimited item counts no sessions
    after = await card(stub, sold.name)
    assert after.deferred_minor == 0
    assert after.state == packages_pb2.PACKAGE_STATE_EXHAUSTED  # nothing on it can be used any more
    await assert_ledger_invariants(engine)


async def test_held_sessions_wait_for_their_hold(wallet):  # noqa: F811
    stub, engine = wallet
    m = await member(engine)
    sold = (await sell(stub, m)).member_package
    held = (
        await stub.AuthorizeHold(
            pb.AuthorizeHoldRequest(
                hold=ledger_pb2.Hold(
                    member=m, store="stores/s1", package=sold.name, service=NECK, sessions=1, reference="x/1"
                ),
                request_id=rid(),
            ),
            metadata=md(),
        )
    ).hold
    await expire_item(engine, sold.name, NECK, datetime.now(UTC) - timedelta(minutes=1))
    assert await jobs(engine).expire_packages(datetime.now(UTC)) == 0
    assert await expiries(stub, m) == []
    # the hold is captured after the item's expiry (allowed), then the rest expires
    await stub.CaptureHold(pb.CaptureHoldRequest(name=held.name, request_id=rid()), metadata=md())
    [tx] = await wait_for_expiry(stub, engine, m)
    sessions = [p for p in tx.postings if p.unit == "SESSION"]
    assert sorted(abs(p.amount) for p in sessions) == [4, 4]
    await assert_ledger_invariants(engine)


async def test_a_frozen_card_waits_until_it_is_unfrozen(wallet):  # noqa: F811
    stub, engine = wallet
    m = await member(engine)
    sold = (await sell(stub, m)).member_package
    await stub.FreezePackage(pb.FreezePackageRequest(package=sold.name, request_id=rid()), metadata=md())
    await expire_item(engine, sold.name, FACIAL, datetime.now(UTC) - timedelta(minutes=1))
    await jobs(engine).expire_packages(datetime.now(UTC))
    assert await expiries(stub, m) == []  # a freeze may still extend the card
    await stub.UnfreezePackage(pb.UnfreezePackageRequest(package=sold.name, request_id=rid()), metadata=md())
    [tx] = await wait_for_expiry(stub, engine, m)
    assert sorted(abs(p.amount) for p in tx.postings if p.unit == "SESSION") == [10, 10]
    await assert_ledger_invariants(engine)
