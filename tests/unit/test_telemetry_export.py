"""kit.telemetry's standard OTEL_* settings (protocol, exporters, logs over OTLP) and the
gRPC-client and HTTP-server metrics with their semantic-convention names."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from kit.logging import attach_log_handler, configure_logging, detach_log_handler, get_logger
from kit.telemetry import HttpServerMetrics, build_telemetry, client_interceptors, otlp_log_handler
from tests.support.otlp_receiver import OtlpReceiver


@pytest.fixture
def http_collector() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    """A plain HTTP server recording (path, content type, body size) of each POST, as an
    OTLP/HTTP collector would receive them."""
    received: list[tuple[str, str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(size)
            received.append((self.path, self.headers.get("Content-Type", ""), size))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_http_protobuf_protocol_posts_each_signal_to_its_path(http_collector) -> None:
    base, received = http_collector
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    handle = build_telemetry("members", "1.0", environ=env)
    try:
        assert handle.exporting_traces and handle.exporting_metrics and not handle.exporting_logs
        with handle.tracer_provider.get_tracer("t").start_as_current_span("work"):
            pass
        handle.meter_provider.get_meter("m").create_counter("peony.test.counter").add(1)
        assert handle.force_flush(10)
    finally:
        handle.shutdown()
    paths = {path for path, kind, size in received if kind == "application/x-protobuf" and size}
    assert {"/v1/traces", "/v1/metrics"} <= paths


def test_exporters_none_exports_nothing_and_unknown_values_are_refused(http_collector) -> None:
    base, received = http_collector
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }
    handle = build_telemetry("members", "1.0", environ=env)
    assert not handle.exporting_traces and not handle.exporting_metrics
    with handle.tracer_provider.get_tracer("t").start_as_current_span("work"):
        pass
    handle.force_flush(5)
    handle.shutdown()
    assert received == []
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        build_telemetry("members", "1.0", environ={"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="http/json"):
        build_telemetry(
            "members",
            "1.0",
            environ={"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        )


def test_logs_go_over_otlp_when_configured_rendered_and_redacted_like_stdout(capsys) -> None:
    with OtlpReceiver() as receiver:
        handle = build_telemetry(
            "members", "1.0", endpoint=receiver.endpoint, environ={"OTEL_LOGS_EXPORTER": "otlp"}
        )
        assert handle.exporting_logs and handle.logger_provider is not None
        configure_logging("members", "INFO", "json")
        attach_log_handler(otlp_log_handler(handle.logger_provider))
        try:
            get_logger("peony.test").info("member.contact_changed", phone="+8613812345678", tier="gold")
            assert handle.force_flush(10)
            bodies = [b for b in receiver.log_bodies() if "member.contact_changed" in str(b)]
        finally:
            detach_log_handler()
            handle.shutdown()
    (body,) = bodies
    record = json.loads(body)
    assert record["event"] == "member.contact_changed" and record["tier"] == "gold"
    assert "13812345678" not in body  # the same redaction as the stdout line
    stdout = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "contact_changed" in line]
    assert stdout and stdout[0]["phone"] == record["phone"]
    assert not any(getattr(h, "_peony_otlp", False) for h in logging.getLogger().handlers)


def _points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    return [
        point
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_grpc_client_calls_are_measured_with_the_semconv_name() -> None:
    async def echo(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "peony.test.v1.EchoService", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(
            target, interceptors=client_interceptors(target, meter_provider=provider)
        ) as channel:
            assert await channel.unary_unary("/peony.test.v1.EchoService/Echo")(b"x") == b"x"
            with pytest.raises(grpc.aio.AioRpcError):
                await channel.unary_unary("/peony.test.v1.EchoService/Missing")(b"x")
    finally:
        await server.stop(None)
    points = {p.attributes["rpc.method"]: p for p in _points(reader, "rpc.client.call.duration")}
    assert points["Echo"].count == 1
    assert points["Echo"].attributes["rpc.grpc.status_code"] == 0
    assert points["Echo"].attributes["server.address"] == target
    assert points["Missing"].attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]


def test_http_server_metrics_use_the_route_template_and_mark_5xx() -> None:
    reader = InMemoryMetricReader()
    metrics = HttpServerMetrics(MeterProvider(metric_readers=[reader]))
    metrics.record("GET", "/v1/members/{member_id}", 200, 0.004)
    metrics.record("GET", "/v1/members/{member_id}", 200, 0.006)
    metrics.record("POST", "/v1/wallets/{wallet_id}:topUp", 503, 0.1)
    points = _points(reader, "http.server.request.duration")
    by_status = {p.attributes["http.response.status_code"]: p for p in points}
    assert by_status[200].count == 2 and by_status[200].attributes["http.route"] == "/v1/members/{member_id}"
    assert "error.type" not in by_status[200].attributes
    assert by_status[503].attributes["error.type"] == "503"
