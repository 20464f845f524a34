"""kit.telemetry: OTLP export end to end, propagation, gRPC client spans, RED metrics, SQL spans."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
import sqlalchemy
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kit import telemetry
from kit.telemetry import (
    RpcMetrics,
    build_resource,
    build_telemetry,
    client_interceptors,
    current_traceparent,
    extract_context,
    inject_context,
    instrument_sqlalchemy,
)
from tests.support.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def memory_tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


# --------------------------------------------------------------------------- providers / OTLP


def test_span_and_metric_exported_through_otlp_receiver(receiver: OtlpReceiver) -> None:
    receiver.clear()
    handle = build_telemetry("members", "1.2.3", endpoint=receiver.endpoint, environ={"PEONY_ENV": "test"})
    assert handle.exporting_traces and handle.exporting_metrics
    tracer = handle.tracer_provider.get_tracer("test")
    with (
        tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer,
        tracer.start_as_current_span("inner", kind=SpanKind.PRODUCER, attributes={"n": 7, "ok": True}),
    ):
        pass
    handle.meter_provider.get_meter("test").create_counter("peony.test.counter").add(3)
    handle.shutdown()
    handle.shutdown()  # idempotent

    spans = receiver.wait_for(lambda spans: len(spans) >= 2 and spans, timeout=10)
    by_name = {s.name: s for s in spans}
    outer_span, inner_span = by_name["outer"], by_name["inner"]
    assert outer_span.trace_id == format(outer.get_span_context().trace_id, "032x")
    assert outer_span.kind == "SERVER" and outer_span.parent_span_id == ""
    assert inner_span.kind == "PRODUCER"
    assert inner_span.parent_span_id == outer_span.span_id and inner_span.trace_id == outer_span.trace_id
    assert inner_span.attributes == {"n": 7, "ok": True}
    assert inner_span.service_name == "peony-members"
    assert inner_span.resource["service.version"] == "1.2.3"
    assert inner_span.resource["service.namespace"] == "peony"
    assert inner_span.resource["deployment.environment"] == "test"
    receiver.wait_for(lambda _: "peony.test.counter" in receiver.metric_names(), timeout=10)


def test_without_endpoint_spans_have_ids_but_nothing_is_exported() -> None:
    handle = build_telemetry("notify", "0.1.0", environ={})
    assert not handle.exporting_traces and not handle.exporting_metrics
    assert not handle.tracer_provider._active_span_processor._span_processors
    with handle.tracer_provider.get_tracer("t").start_as_current_span("s") as span:
        assert span.get_span_context().is_valid
    handle.shutdown()


def test_resource_honours_otel_environment() -> None:
    default = build_resource("wallet", "2.0.0", {"PEONY_ENV": "prod"})
    assert default.attributes["service.name"] == "peony-wallet"
    assert default.attributes["deployment.environment"] == "prod"
    overridden = build_resource(
        "wallet",
        "2.0.0",
        {
            "PEONY_ENV": "prod",
            "OTEL_SERVICE_NAME": "wallet-canary",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging,k8s.pod.name=wallet-0,team=a%20b",
        },
    )
    attrs = overridden.attributes
    assert attrs["service.name"] == "wallet-canary"
    assert attrs["deployment.environment"] == "staging"
    assert attrs["k8s.pod.name"] == "wallet-0" and attrs["team"] == "a b"
    assert attrs["service.namespace"] == "peony" and attrs["service.version"] == "2.0.0"


def test_configure_telemetry_in_a_fresh_process(receiver: OtlpReceiver) -> None:
    """The real global path, as a service runs it: env endpoint, globals, logs, shutdown flush."""
    receiver.clear()
    script = textwrap.dedent(
        """
        import json
        from kit.logging import configure_logging, get_logger
        from kit.telemetry import configure_telemetry, current_traceparent, rpc_metrics, tracer

        configure_logging("wallet")
        handle = configure_telemetry("wallet", "9.9.9")
        assert configure_telemetry("wallet", "9.9.9") is handle
        assert handle.exporting_traces
        with tracer().start_as_current_span("subprocess-work"):
            get_logger("peony.test").info("inside")
            tp, _ = current_traceparent()
        rpc_metrics().record("peony.wallet.v1.WalletService", "GetBalance", "OK", 0.012)
        handle.shutdown()
        print(json.dumps({"traceparent": tp}))
        """
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "PEONY_ENV": "test",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]),
    }
    env.pop("OTEL_SERVICE_NAME", None)
    env.pop("OTEL_RESOURCE_ATTRIBUTES", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    log_line, result_line = (json.loads(line) for line in proc.stdout.strip().splitlines())
    _, trace_id, span_id, _ = result_line["traceparent"].split("-")
    assert log_line["trace_id"] == trace_id and log_line["span_id"] == span_id
    assert log_line["service"] == "wallet"

    (span,) = receiver.wait_for(lambda spans: [s for s in spans if s.name == "subprocess-work"], timeout=10)
    assert span.trace_id == trace_id and span.span_id == span_id
    assert span.service_name == "peony-wallet"
    assert span.resource["deployment.environment"] == "test"
    receiver.wait_for(lambda _: "rpc.server.call.duration" in receiver.metric_names(), timeout=10)
    assert "rpc.server.requests" in receiver.metric_names()


# --------------------------------------------------------------------------- propagation


def test_inject_extract_and_current_traceparent(memory_tracing) -> None:
    provider, _ = memory_tracing
    assert current_traceparent() == ("", "")
    assert inject_context({}) == {}
    with provider.get_tracer("t").start_as_current_span("s") as span:
        ctx = span.get_span_context()
        carrier = inject_context({"x-other": "kept"})
        traceparent, tracestate = current_traceparent()
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    assert carrier["traceparent"] == expected and carrier["x-other"] == "kept"
    assert traceparent == expected and tracestate == ""

    remote = trace.get_current_span(extract_context({"traceparent": expected})).get_span_context()
    assert remote.is_remote and remote.trace_id == ctx.trace_id and remote.span_id == ctx.span_id
    with provider.get_tracer("t").start_as_current_span("child", context=extract_context(carrier)) as child:
        assert child.parent.span_id == ctx.span_id


# --------------------------------------------------------------------------- gRPC client

ECHO = "/peony.test.v1.EchoService/Echo"
STREAM = "/peony.test.v1.EchoService/Repeat"
MISSING = "/peony.test.v1.EchoService/Missing"
COLLECT = "/peony.test.v1.EchoService/Collect"


@pytest.fixture
async def echo_server():
    seen: list[dict[str, str]] = []

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(dict(context.invocation_metadata()))
        return request

    async def repeat(request: bytes, context: grpc.aio.ServicerContext):
        seen.append(dict(context.invocation_metadata()))
        for _ in range(3):
            yield request

    async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(dict(context.invocation_metadata()))
        await context.abort(grpc.StatusCode.NOT_FOUND, "members/42 not found")

    async def collect(request_iterator, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(dict(context.invocation_metadata()))
        return b"".join([r async for r in request_iterator])

    handler = grpc.method_handlers_generic_handler(
        "peony.test.v1.EchoService",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Repeat": grpc.unary_stream_rpc_method_handler(repeat),
            "Missing": grpc.unary_unary_rpc_method_handler(missing),
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", seen
    await server.stop(None)


def _traceparent_ids(metadata: dict[str, str]) -> tuple[str, str]:
    version, trace_id, parent_id, _flags = metadata["traceparent"].split("-")
    assert version == "00"
    return trace_id, parent_id


async def test_client_interceptor_injects_traceparent_and_keeps_metadata(echo_server, memory_tracing) -> None:
    addr, seen = echo_server
    provider, exporter = memory_tracing
    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(addr, tracer_provider=provider)
    ) as channel:
        with provider.get_tracer("t").start_as_current_span("caller") as caller:
            reply = await channel.unary_unary(ECHO)(b"hi", metadata=(("authorization", "Bearer t0k3n"),))
    assert reply == b"hi"

    spans = {s.name: s for s in exporter.get_finished_spans()}
    client = spans["peony.test.v1.EchoService/Echo"]
    assert client.kind is SpanKind.CLIENT
    assert client.parent.span_id == caller.get_span_context().span_id
    assert dict(client.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": "peony.test.v1.EchoService",
        "rpc.method": "Echo",
        "server.address": "127.0.0.1",
        "server.port": int(addr.rsplit(":", 1)[1]),
        "rpc.grpc.status_code": 0,
    }
    assert client.status.status_code is StatusCode.UNSET

    (metadata,) = seen
    assert metadata["authorization"] == "Bearer t0k3n"
    assert _traceparent_ids(metadata) == (
        format(client.context.trace_id, "032x"),
        format(client.context.span_id, "016x"),
    )


async def test_client_interceptor_sends_the_callers_budget_with_a_timeout(
    echo_server, memory_tracing
) -> None:
    """The server sheds a call that queued too long from this header (kit.grpc_server)."""
    addr, seen = echo_server
    provider, _ = memory_tracing
    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(addr, tracer_provider=provider)
    ) as channel:
        await channel.unary_unary(ECHO)(b"a", timeout=2.5)
        await channel.unary_unary(ECHO)(b"b")
    with_timeout, without = seen
    assert with_timeout["peony-timeout-ms"] == "2500"
    assert "peony-timeout-ms" not in without


async def test_client_interceptor_without_parent_starts_a_trace(echo_server, memory_tracing) -> None:
    addr, seen = echo_server
    provider, exporter = memory_tracing
    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(tracer_provider=provider)
    ) as ch:
        await ch.unary_unary(ECHO)(b"x")
    (client,) = exporter.get_finished_spans()
    assert client.parent is None
    assert _traceparent_ids(seen[0])[0] == format(client.context.trace_id, "032x")


async def test_client_interceptor_marks_errors(echo_server, memory_tracing) -> None:
    addr, seen = echo_server
    provider, exporter = memory_tracing
    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(tracer_provider=provider)
    ) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ch.unary_unary(MISSING)(b"x")
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    (client,) = exporter.get_finished_spans()
    assert client.name == "peony.test.v1.EchoService/Missing"
    assert client.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert client.status.status_code is StatusCode.ERROR
    assert "traceparent" in seen[0]


async def test_client_interceptor_unary_stream(echo_server, memory_tracing) -> None:
    addr, seen = echo_server
    provider, exporter = memory_tracing
    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(tracer_provider=provider)
    ) as ch:
        replies = [r async for r in ch.unary_stream(STREAM)(b"r")]
        assert replies == [b"r", b"r", b"r"]
        (client,) = await _wait_for_spans(exporter)
    assert client.name == "peony.test.v1.EchoService/Repeat" and client.kind is SpanKind.CLIENT
    assert client.attributes["rpc.grpc.status_code"] == 0
    assert _traceparent_ids(seen[0]) == (
        format(client.context.trace_id, "032x"),
        format(client.context.span_id, "016x"),
    )


async def _wait_for_spans(exporter: InMemorySpanExporter, n: int = 1) -> list:
    for _ in range(200):  # streaming spans end from the call's done callback
        if len(exporter.get_finished_spans()) >= n:
            break
        await asyncio.sleep(0.01)
    return list(exporter.get_finished_spans())


async def test_client_interceptor_stream_unary(echo_server, memory_tracing) -> None:
    addr, seen = echo_server
    provider, exporter = memory_tracing

    async def requests():
        for part in (b"a", b"b", b"c"):
            yield part

    async with grpc.aio.insecure_channel(
        addr, interceptors=client_interceptors(tracer_provider=provider)
    ) as ch:
        assert await ch.stream_unary(COLLECT)(requests()) == b"abc"
        (client,) = await _wait_for_spans(exporter)
    assert client.name == "peony.test.v1.EchoService/Collect"
    assert client.attributes["rpc.grpc.status_code"] == 0
    assert _traceparent_ids(seen[0])[1] == format(client.context.span_id, "016x")


# --------------------------------------------------------------------------- RED metrics


def _points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_rpc_metrics_histogram_counter_and_in_flight() -> None:
    reader = InMemoryMetricReader()
    m = RpcMetrics(MeterProvider(metric_readers=[reader]))
    service, method = "peony.members.v1.MembersService", "GetMember"
    m.start(service, method)
    m.record(service, method, "OK", 0.004)
    m.record(service, method, "OK", 0.020)
    m.record(service, method, "NOT_FOUND", 0.002)
    m.start(service, method)
    m.end(service, method)

    base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    hist = {frozenset(p.attributes.items()): p for p in _points(reader, "rpc.server.call.duration")}
    ok = hist[frozenset({**base, "rpc.grpc.status_code": 0}.items())]
    assert ok.count == 2 and ok.sum == pytest.approx(0.024)
    assert 0.005 in ok.explicit_bounds and max(ok.explicit_bounds) <= 60  # seconds, not ms
    assert hist[frozenset({**base, "rpc.grpc.status_code": 5}.items())].count == 1

    counts = {p.attributes["status"]: p.value for p in _points(reader, "rpc.server.requests")}
    assert counts == {"OK": 2, "NOT_FOUND": 1}
    (not_found,) = [
        p for p in _points(reader, "rpc.server.requests") if p.attributes["status"] == "NOT_FOUND"
    ]
    assert dict(not_found.attributes) == {**base, "rpc.grpc.status_code": 5, "status": "NOT_FOUND"}

    (in_flight,) = _points(reader, "rpc.server.active_requests")
    assert dict(in_flight.attributes) == base and in_flight.value == 1

    # hot path: attribute dicts are built once per (service, method, code)
    assert m._attrs_for_result(service, method, "OK") is m._attrs_for_result(service, method, "OK")
    assert m._attrs_for_result(service, method, grpc.StatusCode.ABORTED)[1]["status"] == "ABORTED"


def test_rpc_metrics_is_a_process_wide_singleton() -> None:
    assert telemetry.rpc_metrics() is telemetry.rpc_metrics()


# --------------------------------------------------------------------------- SQLAlchemy


def test_instrument_sqlalchemy_accepts_async_engine() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("postgresql+asyncpg://peony@127.0.0.1:1/peony_test")
    instrument_sqlalchemy(engine)
    instrument_sqlalchemy(engine)
    assert engine.sync_engine in telemetry._instrumented_engines
    engine_tracer = telemetry._instrumented_engines[engine.sync_engine]
    assert sqlalchemy.event.contains(
        engine.sync_engine, "before_cursor_execute", engine_tracer._before_cur_exec
    )
