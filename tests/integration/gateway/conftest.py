"""A real grpc.aio backend (test servicers for gwtest.proto) behind the real gateway app.

No PostgreSQL or NATS: the gateway is the thing under test, the servicers just echo what they
received, record the metadata, and fail with rich statuses on request.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import any_pb2, empty_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import build_app
from kit.config import load_config
from tests.unit.gateway import testproto

MAX_BYTES = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorder:
    calls: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    # The deadline each call arrived with (seconds left when the servicer started), None for none.
    remaining: list[float | None] = field(default_factory=list)

    def last(self) -> tuple[str, Any, dict[str, str]]:
        assert self.calls, "the backend was not called"
        return self.calls[-1]


def _pack(msg: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(msg)
    return packed


def make_members_servicer(ns: Any, rec: Recorder) -> Any:
    pb2 = ns.pb2

    class Servicer(ns.pb2_grpc.MemberTestServiceServicer):
        def _record(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> None:
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            rec.calls.append((name, request, metadata))
            rec.remaining.append(context.time_remaining())

        async def GetMember(self, request, context):
            self._record("GetMember", request, context)
            if request.name == "members/missing":
                await context.abort(grpc.StatusCode.NOT_FOUND, "member members/missing not found")
            if request.name == "members/crash":
                raise KeyError("secret internal detail")
            m = pb2.Member(
                name=request.name, display_name="Ann", points=12345678901234567, tier=pb2.TIER_GOLD
            )
            m.created_at.FromJsonString("2024-01-01T00:00:00Z")
            return m

        async def ListMembers(self, request, context):
            self._record("ListMembers", request, context)
            return pb2.ListMembersResponse(
                members=[pb2.Member(name="members/a", tags=list(request.tags))],
                next_page_token=f"size={request.page_size}",
                echo_parent=request.parent,
            )

        async def CreateMember(self, request, context):
            self._record("CreateMember", request, context)
            member = pb2.Member()
            member.CopyFrom(request.member)
            member.name = f"members/{request.member_id or 'generated'}"
            return member

        async def UpdateMember(self, request, context):
            self._record("UpdateMember", request, context)
            return request.member

        async def ReplaceMember(self, request, context):
            self._record("ReplaceMember", request, context)
            member = pb2.Member()
            member.CopyFrom(request.member)
            member.name = request.name
            return member

        async def DeleteMember(self, request, context):
            self._record("DeleteMember", request, context)
            return empty_pb2.Empty()

        async def ReportLostCard(self, request, context):
            self._record("ReportLostCard", request, context)
            return pb2.Card(name=request.name, lost=True, reason=request.reason)

        async def ListCards(self, request, context):
            self._record("ListCards", request, context)
            return pb2.ListCardsResponse(cards=[pb2.Card(name=f"{request.parent}/cards/c1")])

        async def GetTierLadder(self, request, context):
            self._record("GetTierLadder", request, context)
            return pb2.TierLadder(name=request.name, tiers=["SILVER", "GOLD"])

        async def GetTierNames(self, request, context):
            self._record("GetTierNames", request, context)
            return pb2.TierLadder(name="tierLadder", tiers=["SILVER", "GOLD"])

        async def FindByPhone(self, request, context):
            self._record("FindByPhone", request, context)
            return pb2.Member(name="members/p1", phone=request.phone)

        async def GetFile(self, request, context):
            self._record("GetFile", request, context)
            return pb2.File(path=request.path)

        async def UpdateSettings(self, request, context):
            self._record("UpdateSettings", request, context)
            return request.settings

        async def AddNote(self, request, context):
            self._record("AddNote", request, context)
            return pb2.Member(name=request.name, display_name=request.note)

        async def Purge(self, request, context):
            self._record("Purge", request, context)
            return empty_pb2.Empty()

        async def Fail(self, request, context):
            self._record("Fail", request, context)
            code = grpc.StatusCode[request.code]
            retry = error_details_pb2.RetryInfo()
            retry.retry_delay.FromMilliseconds(request.retry_delay_ms)
            status = status_pb2.Status(
                code=code.value[0],
                message=request.message,
                details=[
                    _pack(
                        error_details_pb2.ErrorInfo(
                            reason="CARD_ALREADY_LOST", domain="peony.dev", metadata={"member": request.name}
                        )
                    ),
                    _pack(
                        error_details_pb2.BadRequest(
                            field_violations=[
                                error_details_pb2.BadRequest.FieldViolation(
                                    field="card_id", description="card is already reported lost"
                                )
                            ]
                        )
                    ),
                ],
            )
            if request.retry_delay_ms > 0:
                status.details.append(_pack(retry))
            await context.abort_with_status(rpc_status.to_status(status))

        async def Slow(self, request, context):
            self._record("Slow", request, context)
            await asyncio.sleep(request.sleep_ms / 1000)
            return empty_pb2.Empty()

    return Servicer()


def make_ping_servicer(ns: Any, rec: Recorder) -> Any:
    class Servicer(ns.pb2_grpc.PingTestServiceServicer):
        async def Ping(self, request, context):
            rec.calls.append(("Ping", request, dict(context.invocation_metadata())))
            return ns.pb2.PingResponse(word=request.word)

    return Servicer()


@dataclass
class Backend:
    server: grpc.aio.Server
    port: int
    health: Any
    recorder: Recorder

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


async def start_backend(add: Any) -> Backend:
    rec = Recorder()
    server = grpc.aio.server()
    add(server, rec)
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return Backend(server=server, port=port, health=servicer, recorder=rec)


@pytest.fixture(scope="session")
def proto():
    return testproto.load()


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
    return exporter


@pytest.fixture(scope="module")
async def members_backend(proto):
    backend = await start_backend(
        lambda server, rec: proto.pb2_grpc.add_MemberTestServiceServicer_to_server(
            make_members_servicer(proto, rec), server
        )
    )
    yield backend
    await backend.server.stop(None)


@pytest.fixture(scope="module")
async def notify_backend(proto):
    backend = await start_backend(
        lambda server, rec: proto.pb2_grpc.add_PingTestServiceServicer_to_server(
            make_ping_servicer(proto, rec), server
        )
    )
    yield backend
    await backend.server.stop(None)


def gateway_config(members_addr: str, notify_addr: str, **extra: str) -> Any:
    return load_config(
        "gateway",
        environ={
            "PEONY_ENV": "test",
            "PEONY_MEMBERS_ADDR": members_addr,
            "PEONY_NOTIFY_ADDR": notify_addr,
            "PEONY_MAX_MESSAGE_BYTES": str(MAX_BYTES),
            "PEONY_GATEWAY_ADDR": f"127.0.0.1:{free_port()}",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
            # No rate limits unless a test sets them: most tests send many requests at once
            # (test_rate_limits.py sets the ones it checks).
            "PEONY_GATEWAY_RATE_TENANT_RPS": "0",
            "PEONY_GATEWAY_RATE_TOKEN_RPS": "0",
            "PEONY_GATEWAY_RATE_ANON_IP_RPS": "0",
            "PEONY_GATEWAY_RATE_ANON_TOTAL_RPS": "0",
            **extra,
        },
    )


@pytest.fixture(scope="module")
async def client(proto, members_backend, notify_backend, span_exporter):
    config = gateway_config(members_backend.addr, notify_backend.addr)
    app = build_app(config, services=[(proto.members, "members"), (proto.ping, "notify")])
    async with TestClient(TestServer(app)) as c:
        yield c
