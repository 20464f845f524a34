"""The SERVER span of every RPC the kit's runner serves (kit.grpc_server.KitCalls): it continues
the caller's W3C trace, starts a new one without it, and carries the tenant, the status and the
domain error's reason."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config
from kit.errors import NotFound
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration

pytestmark = pytest.mark.integration
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name
SPAN_NAME = f"{FULL_NAME}/GetMessage"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


class Messages(notify_service_pb2_grpc.NotifyServiceServicer):
    async def GetMessage(self, request, context):
        if request.name == "messages/missing":
            raise NotFound("no such message", reason="MESSAGE_NOT_FOUND")
        return notify_service_pb2.GetMessageResponse()


@pytest.fixture
async def channel():
    config = load_config(
        "notify",
        {
            "PEONY_DATABASE_URL": "postgresql://unused/",
            "PEONY_NOTIFY_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    runner = GrpcServiceRunner(
        config,
        [
            ServiceRegistration(
                FULL_NAME, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, Messages()
            )
        ],
        TokenVerifier(config.auth),
    )
    port = await runner.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            yield ch
    finally:
        await runner.stop()


def _server_spans(spans: InMemorySpanExporter) -> list:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name == SPAN_NAME]


async def test_the_server_span_continues_the_callers_trace(channel, spans: InMemorySpanExporter) -> None:
    stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
    token = mint_dev_token(tenant="t-spans", subject="s", roles=["hq_admin"])
    traced = (("authorization", f"Bearer {token}"), ("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/missing"), metadata=traced)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    (span,) = [s for s in _server_spans(spans) if format(s.context.trace_id, "032x") == TRACE_ID]
    assert span.parent is not None and format(span.parent.span_id, "016x") == CALLER_SPAN_ID
    assert span.attributes["peony.tenant"] == "t-spans"
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert span.attributes["peony.error.reason"] == "MESSAGE_NOT_FOUND"
    assert span.attributes["rpc.service"] == FULL_NAME and span.attributes["rpc.method"] == "GetMessage"


async def test_without_a_traceparent_the_span_starts_a_trace(channel, spans: InMemorySpanExporter) -> None:
    stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
    token = mint_dev_token(tenant="t-root", subject="s", roles=["hq_admin"])
    before = {s.context.span_id for s in _server_spans(spans)}
    await stub.GetMessage(
        notify_service_pb2.GetMessageRequest(name="messages/x"),
        metadata=(("authorization", f"Bearer {token}"),),
    )
    (span,) = [s for s in _server_spans(spans) if s.context.span_id not in before]
    assert span.parent is None
    assert span.attributes["peony.tenant"] == "t-root"
    assert span.attributes["rpc.grpc.status_code"] == 0


async def test_an_unauthenticated_call_is_spanned_without_a_tenant(
    channel, spans: InMemorySpanExporter
) -> None:
    stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
    before = {s.context.span_id for s in _server_spans(spans)}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/x"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (span,) = [s for s in _server_spans(spans) if s.context.span_id not in before]
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert span.attributes["peony.error.reason"] == "MISSING_CREDENTIALS"
    assert "peony.tenant" not in span.attributes
