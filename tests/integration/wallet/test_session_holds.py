"""Holds of package sessions over real gRPC, PostgreSQL and NATS: authorise, capture (in full or
in part), void, expiry, and the refusals (too few sessions, frozen card, bad input)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from kit.auth import mint_dev_token
from kit.db import session_factory
from kit.uow import UnitOfWorkFactory
from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet import test_packages
from tests.integration.wallet.test_packages import (
    TENANT,
    account,
    assert_ledger_invariants,
    consume,
    item,
    md,
    member,
    refused,
    rid,
    scalar,
    sell,
)

pytestmark = pytest.mark.integration
wallet = test_packages.wallet  # the same fixture: a wallet service on its own database
FACIAL = "services/facial"


def hold_request(m: str, card: str, sessions: int = 2, **extra) -> pb.AuthorizeHoldRequest:
    return pb.AuthorizeHoldRequest(
        hold=ledger_pb2.Hold(
            member=m,
            store="stores/s2",
            package=card,
            service=extra.pop("service", FACIAL),
            sessions=sessions,
            reference="appointments/a1",
            **extra,
        ),
        request_id=rid(),
    )


async def card_of(stub, name: str) -> packages_pb2.MemberPackage:
    listed = await stub.ListMemberPackages(
        pb.ListMemberPackagesRequest(parent=name.split("/packages/")[0]), metadata=md()
    )
    return next(c for c in listed.member_packages if c.name == name)


async def writes(engine) -> tuple:
    return (
        await scalar(engine, "SELECT count(*) FROM postings"),
        await scalar(engine, "SELECT count(*) FROM holds"),
        await scalar(engine, "SELECT coalesce(sum(sessions_held), 0) FROM member_package_items"),
        await scalar(engine, "SELECT count(*) FROM outbox"),
    )


async def events(engine, m: str) -> list[str]:
    """Short names of the events of member `m` (`members/{id}`) in the outbox, oldest first."""
    rows = await scalar(
        engine,
        "SELECT coalesce(json_agg(event_type ORDER BY seq), '[]') FROM outbox WHERE aggregate_id = :m",
        m=m.split("/")[1],
    )
    return [r.rsplit(".", 1)[1] for r in (rows if isinstance(rows, list) else json.loads(rows))]


async def test_authorise_reserves_sessions_on_the_card_and_blocks_their_use(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    package_id = card.rsplit("/", 1)[1]
    request = hold_request(m, card, sessions=8)
    out = await stub.AuthorizeHold(request, metadata=md())
    assert await stub.AuthorizeHold(request, metadata=md()) == out  # a retry replays
    hold = out.hold
    assert (hold.state, hold.package, hold.service, hold.sessions, hold.amount_minor) == (
        ledger_pb2.HOLD_STATE_AUTHORIZED,
        card,
        FACIAL,
        8,
        0,
    )
    assert hold.store == "stores/s2" and hold.reference == "appointments/a1"
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (10, 8)  # remaining includes held
    assert await account(engine, "package_item", f"{package_id}:{FACIAL}") == -2
    assert await account(engine, "package_item_held", f"{package_id}:{FACIAL}") == -8
    assert (await stub.GetHold(pb.GetHoldRequest(name=hold.name), metadata=md())).hold == hold
    # only the 2 free sessions can be consumed; the card cannot be refunded or transferred
    await refused(consume(stub, card, sessions=3), grpc.StatusCode.FAILED_PRECONDITION, "NO_SESSIONS_LEFT")
    await refused(
        stub.AuthorizeHold(hold_request(m, card, sessions=3), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_SESSIONS_LEFT",
    )
    await refused(
        stub.RefundPackage(
            pb.RefundPackageRequest(
                package=card, store="stores/s1", tender=ledger_pb2.TENDER_CASH, request_id=rid()
            ),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLDS_OUTSTANDING",
    )
    await refused(
        stub.TransferPackage(
            pb.TransferPackageRequest(package=card, to_member=await member(engine), request_id=rid()),
            metadata=md(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLDS_OUTSTANDING",
    )
    assert (await consume(stub, card, sessions=2)).member_package.state == packages_pb2.PACKAGE_STATE_ACTIVE
    assert "HoldAuthorized" in await events(engine, m)
    await assert_ledger_invariants(engine)


async def test_capture_consumes_exactly_like_a_consumption(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    package_id = card.rsplit("/", 1)[1]
    for _ in range(8):
        await consume(stub, card)
    hold = (await stub.AuthorizeHold(hold_request(m, card, sessions=2), metadata=md())).hold
    revenue_before = await account(engine, "revenue", "s3")
    request = pb.CaptureHoldRequest(name=hold.name, store="stores/s3", request_id=rid())
    captured = await stub.CaptureHold(request, metadata=md())
    assert await stub.CaptureHold(request, metadata=md()) == captured  # a retry replays
    assert (captured.hold.state, captured.hold.captured_sessions) == (ledger_pb2.HOLD_STATE_CAPTURED, 2)
    assert captured.transaction.kind == ledger_pb2.TRANSACTION_KIND_CAPTURE
    # the last two facial sessions take the rest of the item's deferred value (21_000 + 21_001)
    assert await account(engine, "revenue", "s3") - revenue_before == -42_001
    rows = await scalar(
        engine,
        "SELECT json_agg(json_build_array(sessions, value_minor, store_sold, store_used)"
        " ORDER BY consumption_id DESC) FROM package_consumptions WHERE package_id = :p",
        p=package_id,
    )
    assert rows[0] == [2, 42_001, "s1", "s3"]
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (0, 0)
    assert await account(engine, "package_item_held", f"{package_id}:{FACIAL}") == 0
    await refused(
        stub.CaptureHold(pb.CaptureHoldRequest(name=hold.name, request_id=rid()), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLD_NOT_AUTHORIZED",
    )
    await refused(
        stub.VoidHold(pb.VoidHoldRequest(name=hold.name, request_id=rid()), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLD_NOT_AUTHORIZED",
    )
    kinds = await events(engine, m)
    assert kinds[-2:] == ["PackageSessionConsumed", "HoldCaptured"]
    assert kinds.count("PackageSessionConsumed") == 9
    await assert_ledger_invariants(engine)


async def test_partial_capture_gives_the_rest_back_and_exhausts_the_last_item(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    package_id = card.rsplit("/", 1)[1]
    hold = (await stub.AuthorizeHold(hold_request(m, card, sessions=3), metadata=md())).hold
    await refused(
        stub.CaptureHold(pb.CaptureHoldRequest(name=hold.name, sessions=4, request_id=rid()), metadata=md()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.CaptureHold(
            pb.CaptureHoldRequest(name=hold.name, amount_minor=100, request_id=rid()), metadata=md()
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(name=hold.name, sessions=1, request_id=rid()), metadata=md()
    )
    assert captured.hold.captured_sessions == 1 and captured.hold.sessions == 3
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (9, 0)
    assert await account(engine, "package_item", f"{package_id}:{FACIAL}") == -9
    # a card whose held sessions are all it has left is exhausted when they are captured
    neck = (await stub.AuthorizeHold(hold_request(m, card, 5, service="services/neck"), metadata=md())).hold
    for _ in range(9):
        await consume(stub, card)
    await stub.CaptureHold(pb.CaptureHoldRequest(name=neck.name, request_id=rid()), metadata=md())
    final = await card_of(stub, card)
    assert final.state == packages_pb2.PACKAGE_STATE_EXHAUSTED and final.deferred_minor == 0
    await assert_ledger_invariants(engine)


async def test_void_and_expiry_give_the_sessions_back(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    package_id = card.rsplit("/", 1)[1]
    voided_hold = (await stub.AuthorizeHold(hold_request(m, card, sessions=4), metadata=md())).hold
    voided = await stub.VoidHold(
        pb.VoidHoldRequest(name=voided_hold.name, reason="cancelled", request_id=rid()), metadata=md()
    )
    assert voided.hold.state == ledger_pb2.HOLD_STATE_VOIDED and voided.hold.void_transaction
    assert (await events(engine, m))[-1] == "HoldVoided"
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (10, 0)
    assert await account(engine, "package_item", f"{package_id}:{FACIAL}") == -10

    expires = Timestamp()
    expires.FromDatetime(datetime.now(UTC) + timedelta(hours=50))
    expiring = (
        await stub.AuthorizeHold(hold_request(m, card, sessions=10, expire_time=expires), metadata=md())
    ).hold
    assert expiring.expire_time.ToSeconds() == expires.ToSeconds()  # exactly as asked
    jobs = WalletJobs(engine, UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet"))
    assert await jobs.expire_holds(datetime.now(UTC)) == 0  # not due yet
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE holds SET expire_time = now() - interval '1 second' WHERE hold_id = :h"),
            {"h": expiring.name.split("/")[1]},
        )
    assert await jobs.expire_holds(datetime.now(UTC)) >= 1
    got = (await stub.GetHold(pb.GetHoldRequest(name=expiring.name), metadata=md())).hold
    assert got.state == ledger_pb2.HOLD_STATE_EXPIRED
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (10, 0)
    await refused(
        stub.CaptureHold(pb.CaptureHoldRequest(name=expiring.name, request_id=rid()), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLD_NOT_AUTHORIZED",
    )
    assert (await consume(stub, card, sessions=10)).member_package.items  # all usable again
    await assert_ledger_invariants(engine)


async def test_refusals_write_nothing(wallet):
    stub, engine = wallet
    m = await member(engine)
    other = await member(engine)
    card = (await sell(stub, m)).member_package.name
    before = await writes(engine)
    await refused(
        stub.AuthorizeHold(hold_request(m, card, sessions=11), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_SESSIONS_LEFT",
    )
    await refused(
        stub.AuthorizeHold(hold_request(m, card, service="services/massage"), metadata=md()),
        grpc.StatusCode.NOT_FOUND,
        "PACKAGE_ITEM_NOT_FOUND",
    )
    await refused(
        stub.AuthorizeHold(hold_request(m, card.replace(card.rsplit("/", 1)[1], rid())), metadata=md()),
        grpc.StatusCode.NOT_FOUND,
        "PACKAGE_NOT_FOUND",
    )
    for bad in (
        hold_request(other, card),  # someone else's card
        hold_request(m, card, sessions=0),
        hold_request(m, card, amount_minor=1_000),  # never both
        hold_request(m, card, service="facial"),
        hold_request(m, "packages/x"),
    ):
        await refused(
            stub.AuthorizeHold(bad, metadata=md()), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"
        )
    member_md = (("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject=m, roles=['member'])}"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AuthorizeHold(hold_request(m, card), metadata=member_md)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await stub.FreezePackage(pb.FreezePackageRequest(package=card, request_id=rid()), metadata=md())
    frozen_before = await writes(engine)
    await refused(
        stub.AuthorizeHold(hold_request(m, card), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PACKAGE_FROZEN",
    )
    assert await writes(engine) == frozen_before
    assert before[:3] == frozen_before[:3]


async def test_concurrent_holds_and_consumptions_never_overdraw_a_card(wallet):
    stub, engine = wallet
    m = await member(engine)
    card = (await sell(stub, m)).member_package.name
    package_id = card.rsplit("/", 1)[1]

    async def attempt(call):
        try:
            await call
            return "ok"
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
            return "refused"

    calls = [stub.AuthorizeHold(hold_request(m, card, sessions=2), metadata=md()) for _ in range(6)]
    calls += [consume(stub, card) for _ in range(4)]
    outcomes = await asyncio.gather(*(attempt(c) for c in calls))
    held = 2 * outcomes[:6].count("ok")
    consumed = outcomes[6:].count("ok")
    assert held + consumed <= 10 and held + consumed >= 9  # refused only when fewer were left
    facial = item(await card_of(stub, card), FACIAL)
    assert (facial.sessions_remaining, facial.sessions_held) == (10 - consumed, held)
    assert await account(engine, "package_item", f"{package_id}:{FACIAL}") == -(10 - consumed - held)
    assert await account(engine, "package_item_held", f"{package_id}:{FACIAL}") == -held
    await assert_ledger_invariants(engine)
