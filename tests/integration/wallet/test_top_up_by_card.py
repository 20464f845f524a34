"""TopUp by the member card presented at the till (`TopUpRequest.card_number`), over real gRPC,
PostgreSQL and NATS with the members service: the card's member is topped up; a lost, frozen or
closed card, an unknown number or another member's card is refused and nothing is written; a
retry of a top-up that succeeded replays even after the card was reported lost."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.members.v1 import member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.wallet.v1 import ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token
from tests.support.services import members_and_wallet

pytestmark = pytest.mark.integration

TENANT = "till"
AUTH = (("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=['hq_admin'])}"),)


def rid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
async def stack(infra):
    async with members_and_wallet(infra, "till") as s:
        engine = create_async_engine(s.wallet_url)
        try:
            yield s.members, s.wallet, engine
        finally:
            await engine.dispose()


async def member_with_card(members, number: str) -> tuple[str, mpb.IssueCardResponse, str]:
    """A member of a new home store with a card `number`: (member, issued card, store)."""
    store_id = f"s-{uuid.uuid4().hex[:8]}"
    await members.CreateStore(
        mpb.CreateStoreRequest(
            store_id=store_id,
            store=store_pb2.Store(display_name="Till", time_zone="Asia/Shanghai"),
            request_id=rid(),
        ),
        metadata=AUTH,
    )
    phone = f"+86139{uuid.uuid4().int % 100_000_000:08d}"
    m = (
        await members.RegisterMember(
            mpb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="Ann", phone=phone, home_store=f"stores/{store_id}"),
                request_id=rid(),
            ),
            metadata=AUTH,
        )
    ).member
    card = await members.IssueCard(
        mpb.IssueCardRequest(parent=m.name, card_number=number, request_id=rid()), metadata=AUTH
    )
    return m.name, card, f"stores/{store_id}"


def top_up(card_number: str, store: str, member: str = "members/-") -> wpb.TopUpRequest:
    return wpb.TopUpRequest(
        member=member,
        card_number=card_number,
        amount_minor=10_000,
        currency_code="CNY",
        tender=ledger_pb2.TENDER_CASH,
        store=store,
        request_id=rid(),
    )


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details if raw else []:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


async def writes(engine) -> tuple:
    async with engine.connect() as conn:
        row = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(*) FROM idempotency_keys),"
                " (SELECT count(*) FROM outbox)"
            )
        )
        return tuple(row.one())


async def refused(wallet, engine, request, code, reason: str) -> None:
    before = await writes(engine)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await wallet.TopUp(request, metadata=AUTH)
    assert (err.value.code(), reason_of(err.value)) == (code, reason)
    assert await writes(engine) == before


async def until_known(wallet, request: wpb.TopUpRequest):
    """The wallet learns a new store from members' events: retry while it is still unknown."""
    for _ in range(100):
        try:
            return await wallet.TopUp(request, metadata=AUTH)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND or "store" not in (err.details() or "").lower():
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("the wallet never learned the store")


async def test_a_card_tops_up_its_member_and_a_retry_replays(stack):
    members, wallet, engine = stack
    member, issued, store = await member_with_card(members, "TILL-0001")
    request = top_up("TILL-0001", store)
    done = await until_known(wallet, request)
    assert done.transaction.name.startswith(f"{member}/transactions/")
    assert done.wallet.principal_minor == 10_000
    # with the member named too, the card must be theirs
    again = await wallet.TopUp(top_up("TILL-0001", store, member=member), metadata=AUTH)
    assert again.wallet.principal_minor == 20_000
    # the card is reported lost: a retry of the top-up that succeeded still replays ...
    await members.ReportCardLost(
        mpb.ReportCardLostRequest(name=issued.card.name, request_id=rid()), metadata=AUTH
    )
    assert await wallet.TopUp(request, metadata=AUTH) == done
    # ... but a new top-up through it is refused and writes nothing
    await refused(
        wallet, engine, top_up("TILL-0001", store), grpc.StatusCode.FAILED_PRECONDITION, "CARD_LOST"
    )


async def test_frozen_closed_unknown_and_foreign_cards_are_refused_and_write_nothing(stack):
    members, wallet, engine = stack
    _, frozen, store = await member_with_card(members, "TILL-0002")
    await until_known(wallet, top_up("TILL-0002", store))
    await members.FreezeCard(mpb.FreezeCardRequest(name=frozen.card.name, request_id=rid()), metadata=AUTH)
    await refused(
        wallet, engine, top_up("TILL-0002", store), grpc.StatusCode.FAILED_PRECONDITION, "CARD_FROZEN"
    )
    _, closed, _ = await member_with_card(members, "TILL-0003")
    await members.CloseCard(
        mpb.CloseCardRequest(name=closed.card.name, reason="left", request_id=rid()), metadata=AUTH
    )
    await refused(
        wallet, engine, top_up("TILL-0003", store), grpc.StatusCode.FAILED_PRECONDITION, "CARD_CLOSED"
    )
    await refused(wallet, engine, top_up("NO-SUCH-CARD", store), grpc.StatusCode.NOT_FOUND, "CARD_NOT_FOUND")
    other, _, _ = await member_with_card(members, "TILL-0004")
    mine, _, _ = await member_with_card(members, "TILL-0005")
    before = await writes(engine)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await wallet.TopUp(top_up("TILL-0004", store, member=mine), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await writes(engine) == before
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await wallet.TopUp(top_up("x" * 33, store), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert other != mine
