"""The kit's gRPC runner on a real port: status mapping and what is public."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config
from kit.errors import NotFound
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration

pytestmark = pytest.mark.integration
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


class Partial(notify_service_pb2_grpc.NotifyServiceServicer):
    """GetMessage raises a domain error or a bug; ListMessages is left to the generated base."""

    async def GetMessage(self, request, context):
        if request.name == "messages/bug":
            raise RuntimeError("a secret detail that must not reach the caller")
        raise NotFound("no such message", reason="MESSAGE_NOT_FOUND")


@pytest.fixture
async def runner():
    config = load_config(
        "notify",
        {
            "PEONY_DATABASE_URL": "postgresql://unused/",
            "PEONY_NOTIFY_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    r = GrpcServiceRunner(
        config,
        [
            ServiceRegistration(
                FULL_NAME, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, Partial()
            )
        ],
        TokenVerifier(config.auth),
    )
    port = await r.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await r.stop()


async def test_status_mapping(runner):
    stub = notify_service_pb2_grpc.NotifyServiceStub(runner)
    md = (("authorization", f"Bearer {mint_dev_token(tenant='t', subject='s', roles=['hq_admin'])}"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListMessages(notify_service_pb2.ListMessagesRequest(), metadata=md)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/x"), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/bug"), metadata=md)
    assert err.value.code() == grpc.StatusCode.INTERNAL and "secret" not in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:  # no token: refused before any handler runs
        await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/x"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = await health_pb2_grpc.HealthStub(runner).Check(health_pb2.HealthCheckRequest(service=FULL_NAME))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
