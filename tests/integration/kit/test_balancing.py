"""Balanced client channels against real kit servers (kit/grpc_client.py, kit/grpc_server.py):
calls spread over every replica, a replica that reports NOT_SERVING (as one does on SIGTERM) leaves
the rotation at once, and a server closes connections at their maximum age so long-lived channels
resolve again. The whole stack version is tests/e2e/test_load_spreading.py."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config
from kit.errors import NotFound
from kit.grpc_client import client_channel_options, client_target
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration

pytestmark = pytest.mark.integration
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name
METADATA = (("authorization", f"Bearer {mint_dev_token(tenant='t', subject='s', roles=['hq_admin'])}"),)


class NamesItself(notify_service_pb2_grpc.NotifyServiceServicer):
    """GetMessage answers NOT_FOUND with the replica's name: which replica served the call."""

    def __init__(self, name: str):
        self.name = name

    async def GetMessage(self, request, context):
        raise NotFound(self.name, reason="MESSAGE_NOT_FOUND")


async def _replica(name: str, **env: str) -> GrpcServiceRunner:
    config = load_config(
        "notify",
        {
            "PEONY_DATABASE_URL": "postgresql://unused/",
            "PEONY_NOTIFY_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "1",
            **env,
        },
    )
    runner = GrpcServiceRunner(
        config,
        [
            ServiceRegistration(
                FULL_NAME, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, NamesItself(name)
            )
        ],
        TokenVerifier(config.auth),
    )
    await runner.start()
    return runner


@pytest.fixture
async def replicas() -> AsyncIterator[list[GrpcServiceRunner]]:
    runners = [await _replica("replica-1"), await _replica("replica-2")]
    yield runners
    for runner in runners:
        await runner.stop()


async def _served_by(stub, calls: int) -> Counter[str]:
    served: Counter[str] = Counter()
    for _ in range(calls):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/x"), metadata=METADATA)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        served[err.value.details()] += 1
    return served


async def test_calls_spread_and_a_not_serving_replica_leaves_the_rotation(replicas) -> None:
    target = client_target(",".join(f"127.0.0.1:{r.port}" for r in replicas))
    async with grpc.aio.insecure_channel(target, options=client_channel_options()) as channel:
        stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
        # Both replicas become READY (and healthy) before round_robin uses them both.
        deadline = time.monotonic() + 20
        while len(served := await _served_by(stub, 10)) < 2:
            assert time.monotonic() < deadline, served
            await asyncio.sleep(0.1)
        served = await _served_by(stub, 100)
        assert served == {"replica-1": 50, "replica-2": 50}, served

        # replica-1 drains (what SIGTERM does first): the channel stops picking it.
        assert replicas[0].health is not None
        await replicas[0].health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        deadline = time.monotonic() + 20
        while (served := await _served_by(stub, 20))["replica-1"]:
            assert time.monotonic() < deadline, served
            await asyncio.sleep(0.1)
        assert await _served_by(stub, 50) == {"replica-2": 50}

        await replicas[0].health.set("", health_pb2.HealthCheckResponse.SERVING)
        deadline = time.monotonic() + 20
        while not (served := await _served_by(stub, 20))["replica-1"]:
            assert time.monotonic() < deadline, served
            await asyncio.sleep(0.1)


async def test_the_server_closes_a_connection_at_its_maximum_age() -> None:
    runner = await _replica(
        "aged",
        PEONY_GRPC_MAX_CONNECTION_AGE_MS="1000",
        PEONY_GRPC_MAX_CONNECTION_AGE_GRACE_MS="500",
    )
    try:
        target = client_target(f"127.0.0.1:{runner.port}")
        async with grpc.aio.insecure_channel(target, options=client_channel_options()) as channel:
            stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
            assert await _served_by(stub, 1) == {"aged": 1}
            assert channel.get_state() == grpc.ChannelConnectivity.READY
            # GOAWAY at ~1 s (jittered ±10 %): the channel leaves READY by itself, with no call failing.
            await asyncio.wait_for(channel.wait_for_state_change(grpc.ChannelConnectivity.READY), 15)
            assert await _served_by(stub, 5) == {"aged": 5}  # and reconnects for the next call
    finally:
        await runner.stop()


def _who(name: str) -> grpc.GenericRpcHandler:
    async def answer(request: bytes, context) -> bytes:
        return name.encode()

    return grpc.method_handlers_generic_handler("t.Who", {"Am": grpc.unary_unary_rpc_method_handler(answer)})


async def test_so_reuseport_would_not_spread_a_channels_calls() -> None:
    """Why `peony up --replicas` gives each replica its own port (and clients the list) instead of
    one port shared with SO_REUSEPORT: the kernel spreads connections, and a channel keeps one."""
    from cli.devstack import free_port

    port = free_port()
    servers = []
    for name in ("replica-1", "replica-2"):
        server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
        server.add_generic_rpc_handlers((_who(name),))
        assert server.add_insecure_port(f"127.0.0.1:{port}") == port
        await server.start()
        servers.append(server)
    try:
        target = client_target(f"127.0.0.1:{port}")
        options = client_channel_options()
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            who = channel.unary_unary("/t.Who/Am")
            one_channel = Counter([await who(b"", timeout=10) for _ in range(200)])
        print(f"\nSO_REUSEPORT, one round_robin channel, 200 calls: {dict(one_channel)}")
        assert len(one_channel) == 1, one_channel  # every call on the one connection's replica
    finally:
        for server in servers:
            await server.stop(None)
