"""A real, in-process OTLP/gRPC collector for tests.

    receiver = OtlpReceiver()
    endpoint = receiver.start()            # "http://127.0.0.1:<port>"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    ...start the services...
    spans = receiver.wait_for(lambda spans: [s for s in spans if s.name == "peony.members.v1.X/Y"])
    receiver.stop()

It implements the OTLP trace and metrics ``Export`` RPCs (and accepts logs), keeps everything in
memory and exposes spans as plain ``ReceivedSpan`` values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str  # 16 hex chars, "" for a root span
    name: str
    kind: str  # "SERVER", "CLIENT", "PRODUCER", "CONSUMER", "INTERNAL" (or "UNSPECIFIED")
    service_name: str  # the resource's service.name
    attributes: dict[str, Any]
    status: str = "UNSET"  # "UNSET", "OK", "ERROR"
    status_message: str = ""
    scope: str = ""  # instrumentation scope name
    start_ns: int = 0
    end_ns: int = 0
    events: tuple[str, ...] = ()  # event names (e.g. "exception")
    links: tuple[tuple[str, str], ...] = ()  # (trace_id, span_id) of linked spans
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}


def _kind(kind: int) -> str:
    return Span.SpanKind.Name(kind).removeprefix("SPAN_KIND_")


def _status(code: int) -> str:
    return Status.StatusCode.Name(code).removeprefix("STATUS_CODE_")


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            resource = attributes_dict(resource_spans.resource.attributes)
            service_name = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=_kind(span.kind),
                            service_name=service_name,
                            attributes=attributes_dict(span.attributes),
                            status=_status(span.status.code),
                            status_message=span.status.message,
                            scope=scope_spans.scope.name,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            events=tuple(e.name for e in span.events),
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                            resource=resource,
                        )
                    )
        self._receiver._add_spans(received)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        self._receiver._add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        bodies = [
            any_value(record.body)
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]
        self._receiver._add_logs(bodies)
        return logs_service_pb2.ExportLogsServiceResponse()


class OtlpReceiver:
    """An OTLP/gRPC endpoint on 127.0.0.1 that records what it is sent."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._spans: list[ReceivedSpan] = []
        self._metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self._metric_names: set[str] = set()
        self._log_bodies: list[Any] = []
        self._server: grpc.Server | None = None
        self.endpoint = ""

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Start serving; returns the endpoint for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        if self._server is not None:
            return self.endpoint
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-receiver"))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsService(self), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsService(self), server)
        port = server.add_insecure_port(f"{self._host}:0")
        if not port:
            raise RuntimeError(f"OtlpReceiver could not bind {self._host}")
        server.start()
        self._server = server
        self.endpoint = f"http://{self._host}:{port}"
        return self.endpoint

    def stop(self, grace: float | None = 1.0) -> None:
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None

    def __enter__(self) -> OtlpReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- recording

    def _add_spans(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    def _add_metrics(self, request: Any) -> None:
        names = {
            metric.name
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }
        with self._changed:
            self._metric_requests.append(request)
            self._metric_names |= names
            self._changed.notify_all()

    def _add_logs(self, bodies: list[Any]) -> None:
        with self._changed:
            self._log_bodies.extend(bodies)
            self._changed.notify_all()

    def log_bodies(self) -> list[Any]:
        """The body of every log record received so far (a copy)."""
        with self._lock:
            return list(self._log_bodies)

    def clear(self) -> None:
        with self._lock:
            self._log_bodies.clear()
            self._spans.clear()
            self._metric_requests.clear()
            self._metric_names.clear()

    # ---------------------------------------------------------------- queries

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans() if s.trace_id == trace_id]

    def metric_names(self) -> set[str]:
        with self._lock:
            return set(self._metric_names)

    def metric_requests(self) -> list[Any]:
        """The raw ``ExportMetricsServiceRequest`` messages, for tests that need data points."""
        with self._lock:
            return list(self._metric_requests)

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], T], timeout: float = 20.0) -> T:
        """Poll until ``predicate(spans)`` returns something truthy and return that.

        Raises ``TimeoutError`` listing what was received, to make failures readable.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.spans())
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._changed:
                self._changed.wait(min(remaining, 0.1))
        summary = "\n".join(
            f"  {s.service_name} {s.kind} {s.name} "
            f"trace={s.trace_id} span={s.span_id} parent={s.parent_span_id or '-'}"
            for s in self.spans()
        )
        raise TimeoutError(
            f"OtlpReceiver: condition not met within {timeout}s; received {len(self.spans())} spans:\n"
            f"{summary or '  (none)'}\nmetrics: {sorted(self.metric_names())}"
        )
