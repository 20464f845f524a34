"""Bad input at the edge of a real service: refused with INVALID_ARGUMENT before any handler runs.

Field limits and control characters (kit.limits, from the descriptors), undecodable protobuf
bytes, values the database refuses as data (the interceptor's safety net), and server reflection
as `grpc.reflection.v1` as well as `v1alpha`.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection_pb2
from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from peony.wallet.v1 import checkout_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config, to_async_url
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from tests.support.wallet import add_member, running_wallet

pytestmark = pytest.mark.integration
TENANT = "edge-input"
MD = (("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=['hq_admin'])}"),)
CHECKOUT = "/peony.wallet.v1.WalletService/Checkout"


def details(err: grpc.aio.AioRpcError) -> tuple[str, list[tuple[str, str]]]:
    """(ErrorInfo.reason, [(field, description)]) of a rich error status."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw, "the error carries no google.rpc.Status"
    reason, fields = "", []
    for any_ in status_pb2.Status.FromString(raw).details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if any_.Unpack(info):
            reason = info.reason
        elif any_.Unpack(bad):
            fields = [(v.field, v.description) for v in bad.field_violations]
    return reason, fields


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_edge") as w:
        yield w.channel, w.engine


async def new_member(engine) -> str:
    return await add_member(engine, TENANT)


async def written(engine) -> tuple[int, int, int]:
    """The tenant's rows: the wallet's consumers may write other tenants' while a test runs
    (events other test modules left on the session's NATS)."""
    async with engine.connect() as conn:
        counts = [
            (
                await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),  # noqa: S608
                    {"t": TENANT},
                )
            ).scalar_one()
            for table in ("checkouts", "outbox", "idempotency_keys")
        ]
    return counts[0], counts[1], counts[2]


def checkout(member: str, **line) -> pb.CheckoutRequest:
    fields = {"item": "services/facial", "category": "facial", "quantity": 1, "list_price_minor": 15_000}
    return pb.CheckoutRequest(
        member=member,
        store="stores/s1",
        lines=[checkout_pb2.CheckoutLine(**(fields | line))],
        tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=15_000)],
        request_id=str(uuid.uuid4()),
    )


async def test_a_megabyte_line_item_is_refused_and_writes_nothing(wallet):
    channel, engine = wallet
    stub = pb_grpc.WalletServiceStub(channel)
    m = await new_member(engine)
    ok = await stub.Checkout(checkout(m, display_name="Hydrating facial"), metadata=MD)  # the same bill, sane
    assert ok.checkout.name
    before = await written(engine)
    huge = "x" * (1 << 20)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Checkout(checkout(m, display_name=huge), metadata=MD)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, fields = details(err.value)
    assert reason == "INVALID_ARGUMENT"
    assert fields == [("lines[0].display_name", "must be at most 200 characters")]
    assert len(err.value.details() or "") < 1000  # the value is not echoed back
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Checkout(checkout(m, item=huge, category="a\x00b"), metadata=MD)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in details(err.value)[1]] == ["lines[0].item", "lines[0].category"]
    assert await written(engine) == before


async def test_nul_in_a_name_is_invalid_argument_not_internal(wallet):
    channel, engine = wallet
    stub = pb_grpc.WalletServiceStub(channel)
    m = await new_member(engine)
    before = await written(engine)
    request = pb.TopUpRequest(
        member=m,
        amount_minor=10_000,
        currency_code="CNY",
        tender=ledger_pb2.TENDER_CASH,
        store="stores/s\x001",
        request_id=str(uuid.uuid4()),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TopUp(request, metadata=MD)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in details(err.value)[1]] == ["store"]
    assert await written(engine) == before


async def test_undecodable_bytes_are_invalid_argument_without_internals(wallet):
    channel, engine = wallet
    raw = channel.unary_unary(CHECKOUT, request_serializer=None, response_deserializer=None)
    before = await written(engine)
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\x03\xff\xfe\xfd"):  # bad tag, short, bad UTF-8
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw(garbage, metadata=MD)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, garbage
        assert "DecodeError" not in (err.value.details() or "")
        assert details(err.value)[0] == "MALFORMED_REQUEST"
    with pytest.raises(grpc.aio.AioRpcError) as err:  # authentication still comes first
        await raw(b"\xff\xff", metadata=())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await written(engine) == before


async def test_reflection_is_served_as_v1_and_v1alpha(wallet):
    channel, _ = wallet
    for package in ("grpc.reflection.v1", "grpc.reflection.v1alpha"):
        # v1 and v1alpha messages are wire-identical: the v1alpha classes encode either.
        call = channel.stream_stream(
            f"/{package}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        stream = call(
            iter(
                [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="peony.wallet.v1.WalletService"
                    ),
                ]
            )
        )
        replies = [reply async for reply in stream]
        services = {s.name for s in replies[0].list_services_response.service}
        assert {"peony.wallet.v1.WalletService", "grpc.reflection.v1.ServerReflection"} <= services, package
        assert replies[1].file_descriptor_response.file_descriptor_proto, package


class QueriesPostgres(notify_service_pb2_grpc.NotifyServiceServicer):
    """A handler that passes a caller's value to PostgreSQL unvalidated (what the net is for)."""

    def __init__(self, engine):
        self.engine = engine

    async def GetMessage(self, request, context):
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:v AS uuid)"), {"v": request.name})
        return notify_service_pb2.GetMessageResponse()


async def test_a_value_the_database_refuses_is_invalid_argument(infra):
    engine = create_async_engine(to_async_url(await infra.anew_database("edge_net")))
    config = load_config(
        "notify",
        {
            "PEONY_DATABASE_URL": "postgresql://unused/",
            "PEONY_NOTIFY_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    full_name = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name
    runner = GrpcServiceRunner(
        config,
        [
            ServiceRegistration(
                full_name,
                notify_service_pb2_grpc.add_NotifyServiceServicer_to_server,
                QueriesPostgres(engine),
            )
        ],
        TokenVerifier(config.auth),
    )
    port = await runner.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
            await stub.GetMessage(notify_service_pb2.GetMessageRequest(name=str(uuid.uuid4())), metadata=MD)
            with pytest.raises(grpc.aio.AioRpcError) as err:  # 22P02 invalid text representation
                await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="not-a-uuid"), metadata=MD)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert details(err.value)[0] == "INVALID_VALUE"
    finally:
        await runner.stop()
        await engine.dispose()
