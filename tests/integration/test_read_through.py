"""Read-through: what members just created is known to the wallet and booking at once (issue 9,
example 8), and what members does not know is NOT_FOUND there (examples 3 and 7).

Real members, wallet and booking servers on databases of their own, built by their composition
roots — but with the wallet's and booking's members-events consumers removed, so their
projections never hear of the new member or store from an event: a request can only succeed
through the read-through. The client never sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2, status_pb2
from peony.booking.v1 import booking_service_pb2 as bpb
from peony.booking.v1 import booking_service_pb2_grpc as bpb_grpc
from peony.booking.v1 import resources_pb2
from peony.members.v1 import member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc
from peony.wallet.v1 import checkout_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from kit.grpc_server import GrpcServiceRunner
from kit.messaging import EventConsumer
from services.booking.entrypoints.app import build as build_booking
from services.members.entrypoints.app import build as build_members
from services.wallet.entrypoints.app import build as build_wallet

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    members: mpb_grpc.MembersServiceStub
    wallet: wpb_grpc.WalletServiceStub
    booking: bpb_grpc.BookingServiceStub
    wallet_db: AsyncEngine
    booking_db: AsyncEngine


async def _started(runner: GrpcServiceRunner, *, without_consumers: bool = False) -> int:
    if without_consumers:
        runner.workers = [w for w in runner.workers if not isinstance(w, EventConsumer)]
    return await runner.start()


@pytest_asyncio.fixture(scope="module")
async def stack(infra) -> AsyncIterator[Stack]:
    urls = {}
    for service in ("members", "wallet", "booking"):
        urls[service] = to_async_url(await infra.amigrated_database(service, f"rt_{service}"))

    def config(service: str, **extra: str):
        env = {
            f"PEONY_{service.upper()}_DATABASE_URL": urls[service],
            f"PEONY_{service.upper()}_GRPC_PORT": "0",
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        }
        return load_config(service, {**env, **extra})

    runners: list[GrpcServiceRunner] = []
    channels: list[grpc.aio.Channel] = []
    engines = [create_async_engine(urls["wallet"]), create_async_engine(urls["booking"])]
    try:
        members = await build_members(config("members"))
        runners.append(members)
        members_addr = f"127.0.0.1:{await _started(members)}"
        wallet = await build_wallet(config("wallet", PEONY_MEMBERS_ADDR=members_addr))
        runners.append(wallet)
        wallet_addr = f"127.0.0.1:{await _started(wallet, without_consumers=True)}"
        booking = await build_booking(
            config("booking", PEONY_MEMBERS_ADDR=members_addr, PEONY_WALLET_ADDR=wallet_addr)
        )
        runners.append(booking)
        booking_addr = f"127.0.0.1:{await _started(booking, without_consumers=True)}"
        channels = [grpc.aio.insecure_channel(a) for a in (members_addr, wallet_addr, booking_addr)]
        yield Stack(
            mpb_grpc.MembersServiceStub(channels[0]),
            wpb_grpc.WalletServiceStub(channels[1]),
            bpb_grpc.BookingServiceStub(channels[2]),
            *engines,
        )
    finally:
        for channel in channels:
            await channel.close()
        for runner in reversed(runners):
            await runner.stop()
        for engine in engines:
            await engine.dispose()


def md(tenant: str, roles=("hq_admin",)):
    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=tenant, subject='user:t', roles=list(roles))}"),
    )


def rid() -> str:
    return str(uuid.uuid4())


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details if raw else ():
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


async def count(engine: AsyncEngine, sql: str, **params) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def new_store(s: Stack, tenant: str) -> str:
    store_id = f"s-{uuid.uuid4().hex[:8]}"
    await s.members.CreateStore(
        mpb.CreateStoreRequest(
            store_id=store_id,
            store=store_pb2.Store(display_name="Peony Jing'an", time_zone="Asia/Shanghai"),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    return store_id


async def new_member(s: Stack, tenant: str, store_id: str) -> str:
    created = await s.members.RegisterMember(
        mpb.RegisterMemberRequest(
            member=member_pb2.Member(
                display_name="王静",
                phone=f"139{uuid.uuid4().int % 10**8:08d}",
                home_store=f"stores/{store_id}",
            ),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    return created.member.name


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


# --- the wallet ----------------------------------------------------------------------------------
async def test_set_payment_pin_and_top_up_right_after_register_member_and_create_store(stack: Stack):
    t = tenant()
    store_id = await new_store(stack, t)
    member = await new_member(stack, t, store_id)
    await stack.wallet.SetPaymentPin(
        wpb.SetPaymentPinRequest(member=member, pin="204816", request_id=rid()), metadata=md(t)
    )
    topped = await stack.wallet.TopUp(
        wpb.TopUpRequest(
            member=member,
            amount_minor=10_000,
            currency_code="CNY",
            tender=ledger_pb2.TENDER_CASH,
            store=f"stores/{store_id}",
            request_id=rid(),
        ),
        metadata=md(t),
    )
    assert topped.wallet.principal_minor == 10_000 and topped.wallet.pin_set
    # The read-through filled the projections (no consumer runs here), with the member's tier.
    member_id = member.split("/")[1]
    assert (
        await count(
            stack.wallet_db,
            "SELECT count(*) FROM member_directory WHERE tenant_id = :t AND member_id = :m"
            " AND home_store_id = :s AND tier_id = 'regular'",
            t=t,
            m=member_id,
            s=store_id,
        )
        == 1
    )
    assert await count(stack.wallet_db, "SELECT count(*) FROM store_directory WHERE tenant_id = :t", t=t) == 1


async def test_the_wallet_refuses_unknown_and_malformed_stores_and_members_and_writes_nothing(stack: Stack):
    t = tenant()
    store_id = await new_store(stack, t)
    member = await new_member(stack, t, store_id)

    def top_up(member_name: str, store: str) -> wpb.TopUpRequest:
        return wpb.TopUpRequest(
            member=member_name,
            amount_minor=10_000,
            currency_code="CNY",
            tender=ledger_pb2.TENDER_CASH,
            store=store,
            request_id=rid(),
        )

    cases = [
        (top_up(member, "stores/no-such-store"), grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"),
        (top_up(member, "stores/s1' OR '1'='1"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            top_up(f"members/{uuid.uuid4()}", f"stores/{store_id}"),
            grpc.StatusCode.NOT_FOUND,
            "MEMBER_NOT_FOUND",
        ),
    ]
    for request, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stack.wallet.TopUp(request, metadata=md(t))
        assert (err.value.code(), reason_of(err.value)) == (code, reason), request.store
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.wallet.Checkout(
            wpb.CheckoutRequest(
                member=member,
                store="stores/no-such-store",
                lines=[checkout_pb2.CheckoutLine(item="Facial", quantity=1, list_price_minor=28_800)],
                tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=28_800)],
                request_id=rid(),
            ),
            metadata=md(t),
        )
    assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")
    for table in ("ledger_transactions", "idempotency_keys", "store_directory"):
        sql = f"SELECT count(*) FROM {table} WHERE tenant_id = :t"  # noqa: S608 - our own table names
        assert await count(stack.wallet_db, sql, t=t) == 0, table


# --- booking -------------------------------------------------------------------------------------
async def test_create_staff_right_after_create_store_and_standing_right_after_register(stack: Stack):
    t = tenant()
    store_id = await new_store(stack, t)
    staff = await stack.booking.CreateStaff(
        bpb.CreateStaffRequest(
            parent=f"stores/{store_id}",
            staff=resources_pb2.Staff(display_name="Anna", skills=["facial"]),
            staff_id="anna",
            request_id=rid(),
        ),
        metadata=md(t),
    )
    assert staff.staff.name == f"stores/{store_id}/staff/anna"
    member = await new_member(stack, t, store_id)
    standing = await stack.booking.GetBookingStanding(
        bpb.GetBookingStandingRequest(name=f"{member}/bookingStanding"), metadata=md(t)
    )
    assert standing.booking_standing.tier_id == "regular"


async def test_booking_refuses_unknown_stores_and_members(stack: Stack):
    t = tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.booking.CreateStaff(
            bpb.CreateStaffRequest(
                parent="stores/no-such-store",
                staff=resources_pb2.Staff(display_name="Anna"),
                staff_id="anna",
                request_id=rid(),
            ),
            metadata=md(t),
        )
    assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")
    for name, code in (
        (f"members/{uuid.uuid4()}/bookingStanding", grpc.StatusCode.NOT_FOUND),
        ("members/not-a-uuid/bookingStanding", grpc.StatusCode.NOT_FOUND),
        ("members/NOT A UUID/bookingStanding", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stack.booking.GetBookingStanding(bpb.GetBookingStandingRequest(name=name), metadata=md(t))
        assert err.value.code() == code, name
    assert await count(stack.booking_db, "SELECT count(*) FROM staff WHERE tenant_id = :t", t=t) == 0
    assert await count(stack.booking_db, "SELECT count(*) FROM store_zones WHERE tenant_id = :t", t=t) == 0


async def test_the_service_role_reads_members_without_personal_data(stack: Stack):
    t = tenant()
    store_id = await new_store(stack, t)
    member = await new_member(stack, t, store_id)
    token = mint_dev_token(tenant=t, subject="services/wallet", roles=["service"])
    got = await stack.members.GetMember(
        mpb.GetMemberRequest(name=member), metadata=(("authorization", f"Bearer {token}"),)
    )
    assert got.member.pii_masked and "****" in got.member.phone
