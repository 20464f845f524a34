"""OpenTelemetry for every Peony process: providers, propagation, gRPC client spans, RED metrics.

Configuration is by environment, as in the OpenTelemetry demo:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT``: when
  set, spans (``BatchSpanProcessor``) and metrics (``PeriodicExportingMetricReader``) are exported
  over OTLP (plaintext for ``http://``). Without an endpoint an SDK ``TracerProvider`` is still
  installed, so trace ids exist for logs and for W3C propagation, but nothing is exported.
- ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or ``..._{TRACES,METRICS,LOGS}_PROTOCOL``): ``grpc`` (default)
  or ``http/protobuf``; with HTTP the generic endpoint gets the signal's path (``/v1/traces``...),
  a signal-specific endpoint is used as given. ``http/json`` has no Python exporter: refused.
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp`` (default), ``console`` or
  ``none`` (comma-separated for several). ``OTEL_LOGS_EXPORTER``: ``none`` by default (pods'
  stdout JSON is what log collectors read); ``otlp`` also sends every log record, rendered and
  redacted exactly as on stdout, to the OTLP endpoint. Unknown values are refused at start.
- ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` override the resource defaults
  (``service.name=peony-<service>``, ``service.version``, ``service.namespace=peony``,
  ``deployment.environment`` from ``PEONY_ENV``).
- Everything the SDK reads itself keeps working: ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_*``,
  ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_EXPORTER_OTLP_HEADERS``/``_TIMEOUT``/``_INSECURE``/
  ``_CERTIFICATE``/``_COMPRESSION``, ``OTEL_SDK_DISABLED``.

The server-side interceptor lives in ``kit.grpc_server`` and uses ``rpc_metrics()`` from here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kit.deadline import budget_metadata
from kit.throttle import ThrottlingInterceptor, is_overload_refusal, throttle_for

__all__ = [
    "HttpServerMetrics",
    "OutboundCalls",
    "RpcClientMetrics",
    "RpcMetrics",
    "TelemetryHandle",
    "build_telemetry",
    "client_interceptors",
    "configure_telemetry",
    "current_traceparent",
    "extract_context",
    "http_server_metrics",
    "inject_context",
    "instrument_sqlalchemy",
    "rpc_client_metrics",
    "rpc_metrics",
    "tracer",
]

# Seconds; the SDK's default buckets are tuned for milliseconds.
RPC_DURATION_BUCKETS_S: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0,
)  # fmt: skip

_TRACECONTEXT = TraceContextTextMapPropagator()


# --------------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------------


@dataclass
class TelemetryHandle:
    """What ``configure_telemetry`` installed; ``shutdown()`` flushes and stops it (on SIGTERM)."""

    service: str
    resource: Resource
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    logger_provider: Any = None  # an SDK LoggerProvider when logs are exported (OTEL_LOGS_EXPORTER)
    exporting_traces: bool = False
    exporting_metrics: bool = False
    exporting_logs: bool = False
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        millis = int(timeout_s * 1000)
        ok = True
        if self.tracer_provider is not None:
            ok = self.tracer_provider.force_flush(millis) and ok
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(millis) and ok
        if self.logger_provider is not None:
            ok = self.logger_provider.force_flush(millis) and ok
        return ok

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Export what is buffered, then stop the providers. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout_s
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(int(timeout_s * 1000))
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            remaining = max(0.5, deadline - time.monotonic())
            self.meter_provider.shutdown(timeout_millis=remaining * 1000)
        if self.logger_provider is not None:
            from kit.logging import detach_log_handler

            detach_log_handler()
            self.logger_provider.shutdown()


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def build_resource(service: str, version: str, environ: Mapping[str, str] | None = None) -> Resource:
    """Peony's resource; ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` win over it."""
    env = os.environ if environ is None else environ
    defaults = {
        "service.name": f"peony-{service}",
        "service.version": version,
        "service.namespace": "peony",
        "deployment.environment": _env(env, "PEONY_ENV") or "dev",
    }
    # Resource.create() adds the SDK defaults (telemetry.sdk.*) and reads the OTEL_* variables,
    # but lets our attributes override them; merge the environment on top so operators win.
    resource = Resource.create(defaults)
    overrides: dict[str, str] = {}
    for item in (_env(env, "OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            overrides[key.strip()] = unquote(value.strip())
    if name := _env(env, "OTEL_SERVICE_NAME"):
        overrides["service.name"] = name
    return resource.merge(Resource(overrides))


def _otlp_kwargs(endpoint: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"endpoint": endpoint}
    if endpoint.startswith("http://"):
        kwargs["insecure"] = True
    return kwargs


def build_telemetry(
    service: str,
    version: str,
    *,
    endpoint: str | None = None,
    environ: Mapping[str, str] | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> TelemetryHandle:
    """Create (but do not install globally) the providers ``configure_telemetry`` would install.

    ``endpoint`` overrides the ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variables (tests pass the
    in-process receiver's address). Extra processors/readers are added as given.
    """
    env = os.environ if environ is None else environ
    resource = build_resource(service, version, env)

    exporters = {signal: _exporter_names(env, signal) for signal in ("traces", "metrics", "logs")}
    traces_endpoint = _signal_endpoint(env, "traces", endpoint) if "otlp" in exporters["traces"] else None
    metrics_endpoint = _signal_endpoint(env, "metrics", endpoint) if "otlp" in exporters["metrics"] else None
    logs_endpoint = _signal_endpoint(env, "logs", endpoint) if "otlp" in exporters["logs"] else None
    console_traces = "console" in exporters["traces"]

    if traces_endpoint or console_traces or span_processors or _env(env, "OTEL_TRACES_SAMPLER"):
        tracer_provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
    else:
        # Nothing here would ever read a recorded span: start no traces of our own. Spans still get
        # ids (log lines keep their trace_id), and a sampled caller's decision is kept (ParentBased)
        # so a trace started upstream still reaches services that do export.
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

        tracer_provider = TracerProvider(resource=resource, sampler=ParentBased(root=ALWAYS_OFF))
    if traces_endpoint or console_traces:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        # BatchSpanProcessor reads OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, ...
        if traces_endpoint:
            tracer_provider.add_span_processor(
                BatchSpanProcessor(_otlp_exporter(env, "traces", traces_endpoint))
            )
        if console_traces:
            tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    for processor in span_processors:
        tracer_provider.add_span_processor(processor)

    readers: list[MetricReader] = list(metric_readers)
    if metrics_endpoint or "console" in exporters["metrics"]:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

        # PeriodicExportingMetricReader reads OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT.
        if metrics_endpoint:
            readers.append(PeriodicExportingMetricReader(_otlp_exporter(env, "metrics", metrics_endpoint)))
        if "console" in exporters["metrics"]:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)

    logger_provider = None
    if logs_endpoint or "console" in exporters["logs"]:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogExporter

        logger_provider = LoggerProvider(resource=resource)
        if logs_endpoint:
            logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(_otlp_exporter(env, "logs", logs_endpoint))
            )
        if "console" in exporters["logs"]:
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogExporter()))

    return TelemetryHandle(
        service=service,
        resource=resource,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        exporting_traces=bool(traces_endpoint),
        exporting_metrics=bool(metrics_endpoint),
        exporting_logs=bool(logs_endpoint),
    )


_EXPORTER_CHOICES = frozenset({"otlp", "console", "none"})
_SIGNAL_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}


def _exporter_names(env: Mapping[str, str], signal: str) -> frozenset[str]:
    """``OTEL_<SIGNAL>_EXPORTER`` as a set; ``otlp`` by default (``none`` for logs)."""
    default = "none" if signal == "logs" else "otlp"
    raw = _env(env, f"OTEL_{signal.upper()}_EXPORTER") or default
    names = frozenset(n.strip().lower() for n in raw.split(",") if n.strip())
    unknown = names - _EXPORTER_CHOICES
    if unknown:
        raise ValueError(
            f"OTEL_{signal.upper()}_EXPORTER={raw!r}: {sorted(unknown)} not supported (otlp, console, none)"
        )
    return names - {"none"}


def _signal_endpoint(env: Mapping[str, str], signal: str, override: str | None) -> str | None:
    specific = _env(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if override or specific:
        return override or specific
    generic = _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if generic and _protocol(env, signal) == "http/protobuf":
        return generic.rstrip("/") + "/" + _SIGNAL_PATHS[signal]  # the spec's rule for the base URL
    return generic


def _protocol(env: Mapping[str, str], signal: str) -> str:
    raw = _env(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or _env(
        env, "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = (raw or "grpc").lower()
    if protocol not in ("grpc", "http/protobuf"):
        raise ValueError(
            f"OTLP protocol {protocol!r} for {signal} is not supported: grpc or http/protobuf "
            "(the Python SDK has no http/json exporter)"
        )
    return protocol


def _otlp_exporter(env: Mapping[str, str], signal: str, endpoint: str) -> Any:
    """The OTLP exporter of ``signal`` for the configured protocol. Headers, timeout, compression
    and certificates come from the ``OTEL_EXPORTER_OTLP_*`` variables the exporters read."""
    if _protocol(env, signal) == "http/protobuf":
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http
        elif signal == "metrics":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Http
        return Http(endpoint=endpoint)
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    elif signal == "metrics":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc
    else:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Grpc
    return Grpc(**_otlp_kwargs(endpoint))


_configure_lock = threading.Lock()
_handle: TelemetryHandle | None = None


def configure_telemetry(service: str, version: str) -> TelemetryHandle:
    """Install the process-wide tracer/meter providers and W3C propagators (once per process).

    Later calls return the first handle unchanged.
    """
    global _handle
    with _configure_lock:
        if _handle is not None:
            return _handle
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
        if _truthy(os.environ.get("OTEL_SDK_DISABLED")):
            _handle = TelemetryHandle(
                service=service,
                resource=build_resource(service, version),
                tracer_provider=None,
                meter_provider=None,
            )
            return _handle
        handle = build_telemetry(service, version)
        trace.set_tracer_provider(handle.tracer_provider)  # type: ignore[arg-type]
        metrics.set_meter_provider(handle.meter_provider)  # type: ignore[arg-type]
        if handle.logger_provider is not None:
            from kit.logging import attach_log_handler

            attach_log_handler(otlp_log_handler(handle.logger_provider))
        _handle = handle
        return handle


class _OtlpLogHandler(logging.Handler):
    """Emits each ``logging`` record to an SDK ``LoggerProvider``: the body is the formatted
    line (``kit.logging`` sets its redacting JSON formatter), the trace context the current one.
    Only the body and the code location are exported: structlog's records carry the unredacted
    event dict in private attributes."""

    _SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"}

    def __init__(self, logger_provider: Any) -> None:
        super().__init__()
        self._provider = logger_provider

    def emit(self, record: logging.LogRecord) -> None:
        from opentelemetry._logs import LogRecord, SeverityNumber

        try:
            severity = self._SEVERITY.get(record.levelname, "INFO")
            self._provider.get_logger(record.name).emit(
                LogRecord(
                    timestamp=int(record.created * 1e9),
                    observed_timestamp=time.time_ns(),
                    context=otel_context.get_current(),
                    severity_text=severity,
                    severity_number=getattr(SeverityNumber, severity),
                    body=self.format(record),
                    attributes={"code.function.name": record.funcName, "code.line.number": record.lineno},
                )
            )
        except Exception:
            self.handleError(record)


def otlp_log_handler(logger_provider: Any) -> logging.Handler:
    """A ``logging`` handler that emits each record to ``logger_provider`` (OTLP logs)."""
    return _OtlpLogHandler(logger_provider)


def tracer(name: str = "peony") -> trace.Tracer:
    """A tracer from the global provider (a proxy until ``configure_telemetry`` has run)."""
    return trace.get_tracer(name)


# --------------------------------------------------------------------------------------------
# Propagation
# --------------------------------------------------------------------------------------------


def inject_context(
    carrier: MutableMapping[str, str], context: otel_context.Context | None = None
) -> MutableMapping[str, str]:
    """Write the W3C ``traceparent``/``tracestate``/``baggage`` of ``context`` (default: the current
    context) into ``carrier`` and return it."""
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(
    carrier: Mapping[str, str], context: otel_context.Context | None = None
) -> otel_context.Context:
    """The context described by W3C headers in ``carrier`` (use as ``parent`` / ``context=``)."""
    return propagate.extract(carrier, context=context)


def current_traceparent() -> tuple[str, str]:
    """``(traceparent, tracestate)`` of the current span; ``("", "")`` when there is none."""
    if not trace.get_current_span().get_span_context().is_valid:
        return "", ""
    carrier: dict[str, str] = {}
    _TRACECONTEXT.inject(carrier)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


# --------------------------------------------------------------------------------------------
# SQLAlchemy
# --------------------------------------------------------------------------------------------

_instrumented_engines: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_instrument_lock = threading.Lock()


def instrument_sqlalchemy(engine: Any, *, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace every statement of ``engine`` (an ``AsyncEngine`` or a sync ``Engine``); idempotent per engine.

    Spans carry the SQL text with placeholders (``db.statement``), never bound parameter values,
    and no sqlcommenter comment is added to queries.

    ``SQLAlchemyInstrumentor().instrument(engine=...)`` is a process-wide singleton: it works for
    the first engine only (later calls are ignored with a warning) and monkey-patches
    ``create_engine``/``Engine.connect`` globally. We attach the instrumentation's ``EngineTracer``
    to each engine instead, which is exactly what that call does for its ``engine`` argument.
    """
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sa_instr_version

    sync_engine = getattr(engine, "sync_engine", engine)
    with _instrument_lock:
        if sync_engine in _instrumented_engines:
            return
        scope = "opentelemetry.instrumentation.sqlalchemy"
        otel_tracer = trace.get_tracer(scope, sa_instr_version, tracer_provider)
        meter = metrics.get_meter(scope, sa_instr_version)
        connections_usage = meter.create_up_down_counter(
            name="db.client.connections.usage",
            unit="connections",
            description="Connections currently in the state given by the state attribute.",
        )
        _instrumented_engines[sync_engine] = EngineTracer(
            otel_tracer, sync_engine, connections_usage, enable_commenter=False
        )
        _redact_db_errors(sync_engine)


def _redact_db_errors(sync_engine: Any) -> None:
    """Replace the instrumentation's ``handle_error`` listener with one that scrubs the message.

    It puts ``str(original_exception)`` in the span status, and asyncpg appends the server's
    ``DETAIL`` line (``Key (phone)=(...) already exists``) to that text.
    """
    from opentelemetry.instrumentation.sqlalchemy import engine as sa_engine_module
    from sqlalchemy import event

    upstream = getattr(sa_engine_module, "_handle_error", None)
    if upstream is None or not event.contains(sync_engine, "handle_error", upstream):
        return  # instrumentation changed shape; keep its behaviour rather than break
    event.remove(sync_engine, "handle_error", upstream)
    event.listen(sync_engine, "handle_error", _handle_db_error)


def _handle_db_error(context: Any) -> None:
    from kit.logging import redact

    span = getattr(context.execution_context, "_otel_span", None)
    if span is None:
        return
    if span.is_recording():
        exc = context.original_exception
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {redact(str(exc))}"[:1000]))
    span.end()


# --------------------------------------------------------------------------------------------
# RED metrics
# --------------------------------------------------------------------------------------------

_STATUS_BY_NAME: dict[str, grpc.StatusCode] = {code.name: code for code in grpc.StatusCode}
_STATUS_BY_INT: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def _status(code: str | int | grpc.StatusCode) -> grpc.StatusCode:
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return _STATUS_BY_INT.get(code, grpc.StatusCode.UNKNOWN)
    return _STATUS_BY_NAME.get(code.upper().removeprefix("STATUSCODE."), grpc.StatusCode.UNKNOWN)


class RpcMetrics:
    """gRPC server RED metrics with OpenTelemetry semantic-convention names and attributes.

    - ``rpc.server.call.duration`` histogram (s; the current semantic-convention name, formerly
      ``rpc.server.duration``): ``rpc.system``, ``rpc.service``, ``rpc.method``,
      ``rpc.grpc.status_code`` (int)
    - ``rpc.server.requests`` counter: the same plus ``status`` (the code's name, e.g. ``NOT_FOUND``);
      an observable counter over a plain count per attribute set, read when metrics are collected:
      each SDK measurement costs several microseconds (a ``Measurement``, its attributes cleaned,
      the exemplar filter), and the histogram already pays that once per call
    - ``rpc.server.active_requests`` up-down counter: ``rpc.system``, ``rpc.service``, ``rpc.method``
    - ``peony.rpc.server.shed`` counter: calls refused by admission control (RESOURCE_EXHAUSTED
      ``OVERLOADED``), by ``rpc.service`` and ``rpc.method``
    - ``peony.rpc.server.in_flight`` gauge: RPCs being served now by the process, against its
      admission bound ``peony.rpc.server.max_in_flight`` (both by ``peony.service``); read from the
      server's counter when metrics are collected, so the hot path pays nothing for it

    Attribute dicts are cached per (service, method[, code]) so the hot path allocates nothing.
    """

    _MAX_CACHED = 4096  # bound the caches if a client probes many unknown method names

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("peony.rpc", meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "rpc.server.call.duration",
            unit="s",
            description="Duration of inbound RPCs",
            explicit_bucket_boundaries_advisory=list(RPC_DURATION_BUCKETS_S),
        )
        # (service, method, status name) -> [calls, the counter's attributes]
        self._request_counts: dict[tuple[str, str, str], list[Any]] = {}
        self.requests = meter.create_observable_counter(
            "rpc.server.requests",
            callbacks=[self._observe_requests],
            unit="{request}",
            description="Inbound RPCs by status",
        )
        self.in_flight = meter.create_up_down_counter(
            "rpc.server.active_requests", unit="{request}", description="Inbound RPCs in progress"
        )
        self.shed = meter.create_counter(
            "peony.rpc.server.shed", unit="{request}", description="Inbound RPCs refused by admission control"
        )
        self._admission: dict[str, Any] = {}  # service -> object with `in_flight` and `limit`
        meter.create_observable_gauge(
            "peony.rpc.server.in_flight",
            callbacks=[self._observe_admission("in_flight")],
            unit="{request}",
            description="Inbound RPCs being served now (admission control's count)",
        )
        meter.create_observable_gauge(
            "peony.rpc.server.max_in_flight",
            callbacks=[self._observe_admission("limit")],
            unit="{request}",
            description="Admission bound: inbound RPCs beyond it are refused with RESOURCE_EXHAUSTED",
        )
        self._done_attrs: dict[tuple[str, str, Any], tuple[dict[str, Any], dict[str, Any], list[Any]]] = {}
        self._method_attrs: dict[tuple[str, str], dict[str, Any]] = {}

    def _attrs_for_method(self, rpc_service: str, rpc_method: str) -> dict[str, Any]:
        key = (rpc_service, rpc_method)
        attrs = self._method_attrs.get(key)
        if attrs is None:
            attrs = {"rpc.system": "grpc", "rpc.service": rpc_service, "rpc.method": rpc_method}
            if len(self._method_attrs) < self._MAX_CACHED:
                self._method_attrs[key] = attrs
        return attrs

    def _attrs_for_result(
        self, rpc_service: str, rpc_method: str, code: str | int | grpc.StatusCode
    ) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        """The histogram's and the counter's attributes of a result, and its count cell."""
        key = (rpc_service, rpc_method, code)
        found = self._done_attrs.get(key)
        if found is None:
            status = _status(code)
            hist = {
                **self._attrs_for_method(rpc_service, rpc_method),
                "rpc.grpc.status_code": status.value[0],
            }
            counter = {**hist, "status": status.name}
            # One cell per (service, method, status), however the code was named. Only methods a
            # servicer registered are recorded (the server wraps no unknown name), so the bound is
            # a safety net: past it a result is counted in the histogram only.
            count_key = (rpc_service, rpc_method, status.name)
            cell = self._request_counts.get(count_key)
            if cell is None:
                cell = [0, counter]
                if len(self._request_counts) < self._MAX_CACHED:
                    self._request_counts[count_key] = cell
            found = (hist, counter, cell)
            if len(self._done_attrs) < self._MAX_CACHED:
                self._done_attrs[key] = found
        return found

    def record(
        self, rpc_service: str, rpc_method: str, code: str | int | grpc.StatusCode, duration_s: float
    ) -> None:
        """Record one finished RPC; ``code`` is a status name such as ``"OK"`` (or a ``grpc.StatusCode``)."""
        hist, _counter, cell = self._attrs_for_result(rpc_service, rpc_method, code)
        self.duration.record(duration_s, hist)
        cell[0] += 1  # the event loop's thread only; read by `_observe_requests` at collection

    def _observe_requests(self, _options: metrics.CallbackOptions) -> list[metrics.Observation]:
        return [metrics.Observation(calls, attrs) for calls, attrs in list(self._request_counts.values())]

    def record_shed(self, rpc_service: str, rpc_method: str) -> None:
        self.shed.add(1, self._attrs_for_method(rpc_service, rpc_method))

    def watch_admission(self, service: str, admission: Any) -> None:
        """Report ``admission.in_flight`` and ``admission.limit`` for ``service`` in the gauges."""
        self._admission[service] = admission

    def unwatch_admission(self, service: str, admission: Any) -> None:
        if self._admission.get(service) is admission:
            del self._admission[service]

    def _observe_admission(self, attribute: str) -> Any:
        def callback(_options: metrics.CallbackOptions) -> list[metrics.Observation]:
            return [
                metrics.Observation(getattr(admission, attribute), {"peony.service": service})
                for service, admission in list(self._admission.items())
            ]

        return callback

    def start(self, rpc_service: str, rpc_method: str) -> None:
        self.in_flight.add(1, self._attrs_for_method(rpc_service, rpc_method))

    def end(self, rpc_service: str, rpc_method: str) -> None:
        self.in_flight.add(-1, self._attrs_for_method(rpc_service, rpc_method))


_rpc_metrics: RpcMetrics | None = None
_rpc_metrics_lock = threading.Lock()


def rpc_metrics() -> RpcMetrics:
    """The process-wide ``RpcMetrics`` on the global meter provider (created on first use)."""
    global _rpc_metrics
    if _rpc_metrics is None:
        with _rpc_metrics_lock:
            if _rpc_metrics is None:
                _rpc_metrics = RpcMetrics()
    return _rpc_metrics


class RpcClientMetrics:
    """Outbound gRPC calls (gateway -> services, booking -> wallet, ... -> members):

    - ``rpc.client.call.duration`` histogram (s): ``rpc.system``, ``rpc.service``, ``rpc.method``,
      ``rpc.grpc.status_code`` (int), ``server.address`` (the channel's target)
    """

    _MAX_CACHED = 4096

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("peony.rpc.client", meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "rpc.client.call.duration",
            unit="s",
            description="Duration of outbound RPCs, as the caller saw them",
            explicit_bucket_boundaries_advisory=list(RPC_DURATION_BUCKETS_S),
        )
        self._attrs: dict[tuple[str, str, str, int], dict[str, Any]] = {}

    def record(
        self, target: str, service: str, method: str, code: grpc.StatusCode, duration_s: float
    ) -> None:
        key = (target, service, method, code.value[0])
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = {
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": method,
                "rpc.grpc.status_code": code.value[0],
                "server.address": target,
            }
            if len(self._attrs) < self._MAX_CACHED:
                self._attrs[key] = attrs
        self.duration.record(duration_s, attrs)


class HttpServerMetrics:
    """The REST gateway's inbound requests, with the HTTP semantic-convention names:

    - ``http.server.request.duration`` histogram (s): ``http.request.method`` (``_OTHER`` for
      unknown methods), ``http.route`` (the route template, never the path: no ids),
      ``http.response.status_code``, and ``error.type`` (the status) for 5xx
    """

    _MAX_CACHED = 4096

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("peony.http.server", meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of inbound HTTP requests",
            explicit_bucket_boundaries_advisory=list(RPC_DURATION_BUCKETS_S),
        )
        self._attrs: dict[tuple[str, str, int], dict[str, Any]] = {}

    def record(self, method: str, route: str, status: int, duration_s: float) -> None:
        key = (method, route, status)
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = {"http.request.method": method, "http.response.status_code": status}
            if route:
                attrs["http.route"] = route
            if status >= 500:
                attrs["error.type"] = str(status)
            if len(self._attrs) < self._MAX_CACHED:
                self._attrs[key] = attrs
        self.duration.record(duration_s, attrs)


_client_metrics: RpcClientMetrics | None = None
_http_metrics: HttpServerMetrics | None = None


def rpc_client_metrics() -> RpcClientMetrics:
    """The process-wide ``RpcClientMetrics`` on the global meter provider (created on first use)."""
    global _client_metrics
    if _client_metrics is None:
        with _rpc_metrics_lock:
            if _client_metrics is None:
                _client_metrics = RpcClientMetrics()
    return _client_metrics


def http_server_metrics() -> HttpServerMetrics:
    """The process-wide ``HttpServerMetrics`` on the global meter provider (created on first use)."""
    global _http_metrics
    if _http_metrics is None:
        with _rpc_metrics_lock:
            if _http_metrics is None:
                _http_metrics = HttpServerMetrics()
    return _http_metrics


@dataclass(frozen=True)
class OutboxStats:
    """What a service's outbox holds unpublished: its backlog and its parked (poison) rows."""

    pending: int
    oldest_pending_at: datetime | None
    parked: int

    def oldest_pending_age_s(self, now: datetime | None = None) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, ((now or datetime.now(UTC)) - self.oldest_pending_at).total_seconds())


class OutboxMetrics:
    """The outbox relay's metrics (``peony.service`` attribute = the outbox's service):

    - ``peony.outbox.parked`` counter: rows parked after repeated rejections (+ ``peony.event_type``)
    - ``peony.outbox.parked_rows`` gauge: rows parked now
    - ``peony.outbox.pending`` gauge: rows waiting to be published (parked ones excluded)
    - ``peony.outbox.oldest_pending_age`` gauge (s): age of the oldest of those

    The gauges read the snapshot each relay refreshes (a callback cannot query the database).
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("peony.outbox", meter_provider=meter_provider)
        self.parked = meter.create_counter(
            "peony.outbox.parked", unit="{event}", description="Outbox rows parked as unpublishable"
        )
        self._sources: dict[str, Any] = {}
        meter.create_observable_gauge(
            "peony.outbox.parked_rows",
            callbacks=[self._observe(lambda s: s.parked)],
            unit="{event}",
            description="Outbox rows parked now (waiting for `peony outbox retry`)",
        )
        meter.create_observable_gauge(
            "peony.outbox.pending",
            callbacks=[self._observe(lambda s: s.pending)],
            unit="{event}",
            description="Outbox rows not yet published (parked rows excluded)",
        )
        meter.create_observable_gauge(
            "peony.outbox.oldest_pending_age",
            callbacks=[self._observe(lambda s: s.oldest_pending_age_s())],
            unit="s",
            description="Age of the oldest outbox row not yet published",
        )

    def watch(self, service: str, source: Any) -> None:
        """Report ``source()`` (an ``OutboxStats`` or None) for ``service`` in the gauges."""
        self._sources[service] = source

    def unwatch(self, service: str, source: Any) -> None:
        if self._sources.get(service) == source:
            del self._sources[service]

    def _observe(self, value_of: Any) -> Any:
        def callback(_options: metrics.CallbackOptions) -> list[metrics.Observation]:
            out = []
            for service, source in list(self._sources.items()):
                stats = source()
                if stats is not None:
                    out.append(metrics.Observation(value_of(stats), {"peony.service": service}))
            return out

        return callback


_outbox_metrics: weakref.WeakKeyDictionary[Any, OutboxMetrics] = weakref.WeakKeyDictionary()
_global_outbox_metrics: OutboxMetrics | None = None


def outbox_metrics(meter_provider: metrics.MeterProvider | None = None) -> OutboxMetrics:
    """The ``OutboxMetrics`` of ``meter_provider`` (default: the global one), created once each."""
    global _global_outbox_metrics
    with _rpc_metrics_lock:
        if meter_provider is None:
            if _global_outbox_metrics is None:
                _global_outbox_metrics = OutboxMetrics()
            return _global_outbox_metrics
        found = _outbox_metrics.get(meter_provider)
        if found is None:
            found = _outbox_metrics[meter_provider] = OutboxMetrics(meter_provider)
        return found


@dataclass(frozen=True)
class ConsumerStats:
    """A durable JetStream consumer's backlog, from its consumer info."""

    lag: int  # messages on its subjects not yet delivered (``num_pending``)
    ack_pending: int  # delivered, not yet acked or nak'ed (``num_ack_pending``)
    redelivered: int  # delivered more than once and not yet acked (``num_redelivered``)


# Events committed per consumer transaction: 1 is the per-event fallback, the batch size the best case.
CONSUMER_BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ConsumerMetrics:
    """The event consumers' metrics (attributes ``peony.service`` and ``peony.consumer``, the durable):

    - ``peony.consumer.lag`` gauge: messages not yet delivered to the durable
    - ``peony.consumer.ack_pending`` gauge: delivered and not yet answered
    - ``peony.consumer.redelivered`` gauge: redelivered and not yet acked
    - ``peony.consumer.events`` counter: messages answered, by ``peony.messaging.outcome``
      (processed, duplicate, retry, dead_lettered)
    - ``peony.consumer.batch_events`` histogram: events committed per transaction
    - ``peony.consumer.dlq`` counter: messages moved to the consumer's dead-letter subject

    The gauges read the snapshot each consumer refreshes from JetStream (a callback cannot await).
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("peony.consumer", meter_provider=meter_provider)
        self.events = meter.create_counter(
            "peony.consumer.events", unit="{event}", description="Consumed messages by outcome"
        )
        self.dlq = meter.create_counter(
            "peony.consumer.dlq", unit="{event}", description="Messages moved to a dead-letter subject"
        )
        self.batch_events = meter.create_histogram(
            "peony.consumer.batch_events",
            unit="{event}",
            description="Events committed per consumer transaction",
            explicit_bucket_boundaries_advisory=list(CONSUMER_BATCH_BUCKETS),
        )
        self._sources: dict[tuple[str, str], Any] = {}
        meter.create_observable_gauge(
            "peony.consumer.lag",
            callbacks=[self._observe(lambda s: s.lag)],
            unit="{message}",
            description="Messages of the consumer's subjects not yet delivered to it",
        )
        meter.create_observable_gauge(
            "peony.consumer.ack_pending",
            callbacks=[self._observe(lambda s: s.ack_pending)],
            unit="{message}",
            description="Messages delivered to the consumer and not yet answered",
        )
        meter.create_observable_gauge(
            "peony.consumer.redelivered",
            callbacks=[self._observe(lambda s: s.redelivered)],
            unit="{message}",
            description="Messages redelivered to the consumer and not yet acked",
        )

    def watch(self, service: str, durable: str, source: Any) -> None:
        """Report ``source()`` (a ``ConsumerStats`` or None) for the durable in the gauges."""
        self._sources[(service, durable)] = source

    def unwatch(self, service: str, durable: str, source: Any) -> None:
        if self._sources.get((service, durable)) == source:
            del self._sources[(service, durable)]

    def _observe(self, value_of: Any) -> Any:
        def callback(_options: metrics.CallbackOptions) -> list[metrics.Observation]:
            out = []
            for (service, durable), source in list(self._sources.items()):
                stats = source()
                if stats is not None:
                    attrs = {"peony.service": service, "peony.consumer": durable}
                    out.append(metrics.Observation(value_of(stats), attrs))
            return out

        return callback


_consumer_metrics: weakref.WeakKeyDictionary[Any, ConsumerMetrics] = weakref.WeakKeyDictionary()
_global_consumer_metrics: ConsumerMetrics | None = None


def consumer_metrics(meter_provider: metrics.MeterProvider | None = None) -> ConsumerMetrics:
    """The ``ConsumerMetrics`` of ``meter_provider`` (default: the global one), created once each."""
    global _global_consumer_metrics
    with _rpc_metrics_lock:
        if meter_provider is None:
            if _global_consumer_metrics is None:
                _global_consumer_metrics = ConsumerMetrics()
            return _global_consumer_metrics
        found = _consumer_metrics.get(meter_provider)
        if found is None:
            found = _consumer_metrics[meter_provider] = ConsumerMetrics(meter_provider)
        return found


# --------------------------------------------------------------------------------------------
# gRPC client interceptors
# --------------------------------------------------------------------------------------------


def _split_method(method: str | bytes) -> tuple[str, str, str]:
    """``/peony.members.v1.MembersService/GetMember`` -> (span name, rpc.service, rpc.method)."""
    full = method.decode() if isinstance(method, bytes) else method
    full = full.lstrip("/")
    service, _, name = full.rpartition("/")
    return full, service, name


def _with_trace_metadata(
    metadata: Any, ctx: otel_context.Context, timeout: float | None = None
) -> grpc.aio.Metadata:
    """The call's metadata with the trace context and, for a call with a timeout, the caller's
    budget (``kit.deadline.BUDGET_HEADER``: the server sheds calls that queued too long)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    if timeout is not None:
        key, value = budget_metadata(timeout)
        carrier[key] = value
    out = grpc.aio.Metadata()
    for key, value in metadata or ():
        if key.lower() not in carrier:
            out.add(key, value)
    for key, value in carrier.items():
        out.add(key, value)
    return out


class _ClientTracing:
    def __init__(
        self,
        target: str | None,
        tracer_provider: trace.TracerProvider | None,
        client_metrics: RpcClientMetrics | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._tracer: trace.Tracer | None = None
        self._metrics = client_metrics
        self._target = target or ""
        self._peer: dict[str, Any] = {}
        if target:
            # A balanced target (``dns:///svc:port``, ``ipv4:a:p,b:q``) names the first address.
            for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
                target = target.removeprefix(scheme)
            target = target.split(",")[0]
            host, _, port = target.rpartition(":")
            if host and port.isdigit():
                self._peer = {"server.address": host.strip("[]"), "server.port": int(port)}
            else:
                self._peer = {"server.address": target}

    def _begin(self, name: str, service: str, method: str) -> tuple[_ClientCall, otel_context.Context]:
        """The CLIENT span of one RPC (a child of the current span) and the context to propagate."""
        if self._tracer is None:
            self._tracer = trace.get_tracer("peony.grpc.client", tracer_provider=self._tracer_provider)
        if self._metrics is None:
            self._metrics = rpc_client_metrics()
        span = self._tracer.start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, **self._peer},
        )
        call = _ClientCall(span, self._metrics, self._target, service, method, time.perf_counter())
        return call, trace.set_span_in_context(span)

    def _start(self, client_call_details: grpc.aio.ClientCallDetails) -> tuple[_ClientCall, Any]:
        call, ctx = self._begin(*_split_method(client_call_details.method))
        details = grpc.aio.ClientCallDetails(
            method=client_call_details.method,
            timeout=client_call_details.timeout,
            metadata=_with_trace_metadata(client_call_details.metadata, ctx, client_call_details.timeout),
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return call, details


class OutboundCalls(_ClientTracing):
    """What ``client_interceptors`` does for a unary call, for a caller that invokes the stub itself.

    grpc.aio's interceptor machinery costs every call an extra task and a wrapping call object;
    on the REST gateway (one backend call per request) that was a measurable part of its CPU per
    request. The gateway's own channels have no interceptors and wrap each call with this
    instead: the same CLIENT span (child of the current span), the same ``traceparent`` in the
    outgoing metadata, the same ``rpc.client.call.duration``::

        outbound = OutboundCalls(target)
        call, metadata = outbound.start("/pkg.Service/Method", [("authorization", ...)])
        try:
            reply = await stub(request, metadata=metadata)
        except BaseException as exc:
            outbound.failed(call, exc)
            raise
        outbound.succeeded(call)
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        client_metrics = RpcClientMetrics(meter_provider) if meter_provider is not None else None
        super().__init__(target, tracer_provider, client_metrics)
        self._names: dict[str, tuple[str, str, str]] = {}
        self._throttle = throttle_for(target)  # kit/throttle.py: None when it is off

    def start(
        self, grpc_path: str, metadata: list[tuple[str, str]]
    ) -> tuple[_ClientCall, list[tuple[str, str]]]:
        """Start the call's span; ``metadata`` (extended in place) gains the trace context."""
        names = self._names.get(grpc_path)
        if names is None:
            names = _split_method(grpc_path)
            if len(self._names) < 4096:  # method paths come from code, but stay bounded anyway
                self._names[grpc_path] = names
        call, ctx = self._begin(*names)
        throttle = self._throttle
        if throttle is not None and not throttle.admit():  # refused before it leaves the process
            refusal = throttle.refuse(grpc_path)
            _fail(call, refusal)
            raise refusal
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=ctx)
        if carrier:
            if any(key.lower() in carrier for key, _ in metadata):  # ours replace the caller's
                metadata[:] = [(k, v) for k, v in metadata if k.lower() not in carrier]
            metadata.extend(carrier.items())
        return call, metadata

    def succeeded(self, call: _ClientCall) -> None:
        if self._throttle is not None:
            self._throttle.record(True)
        _finish(call, grpc.StatusCode.OK)

    def failed(self, call: _ClientCall, exc: BaseException) -> None:
        if self._throttle is not None:
            overload = isinstance(exc, grpc.aio.AioRpcError) and is_overload_refusal(
                exc.code(), exc.trailing_metadata()
            )
            self._throttle.record(not overload)
        _fail(call, exc)


@dataclass
class _ClientCall:
    """One outbound RPC: its span and what its duration is recorded under."""

    span: trace.Span
    metrics: RpcClientMetrics
    target: str
    service: str
    method: str
    started: float

    def record(self, code: grpc.StatusCode) -> None:
        self.metrics.record(self.target, self.service, self.method, code, time.perf_counter() - self.started)


def _finish(call: _ClientCall, code: grpc.StatusCode) -> None:
    span = call.span
    call.record(code)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


def _fail(call: _ClientCall, exc: BaseException) -> None:
    from kit.logging import redact  # local import: kit.logging is optional for telemetry users

    span = call.span
    code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
    if code is None and isinstance(exc, asyncio.CancelledError):
        code = grpc.StatusCode.CANCELLED
    call.record(code or grpc.StatusCode.UNKNOWN)
    span.set_attribute("rpc.grpc.status_code", (code or grpc.StatusCode.UNKNOWN).value[0])
    span.set_attribute("error.type", code.name if code else type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, redact(str(exc))[:500] if code is None else code.name))
    span.end()


_background: set[asyncio.Future[None]] = set()


class _UnaryUnaryClientInterceptor(_ClientTracing, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        outbound, details = self._start(client_call_details)
        try:
            call = await continuation(details, request)
            code = await call.code()  # waits for the RPC to finish; the caller still gets the call
        except BaseException as exc:
            _fail(outbound, exc)
            raise
        _finish(outbound, code)
        return call


async def _start_streaming(
    tracing: _ClientTracing, continuation: Any, client_call_details: Any, request: Any
) -> Any:
    """Start the call and end its span when the call is done (read to the end, failed or cancelled).

    The interceptor must return the call before it completes (the caller reads/writes the
    stream), so the span is closed from the call's done callback.
    """
    outbound, details = tracing._start(client_call_details)
    try:
        call = await continuation(details, request)
    except BaseException as exc:
        _fail(outbound, exc)
        raise

    def done(finished: Any) -> None:
        async def close() -> None:
            try:
                code = await finished.code()  # already known: returns at once
            except BaseException as exc:  # pragma: no cover - defensive
                _fail(outbound, exc)
                return
            _finish(outbound, code)

        task = asyncio.ensure_future(close())
        _background.add(task)
        task.add_done_callback(_background.discard)

    call.add_done_callback(done)
    return call


class _UnaryStreamClientInterceptor(_ClientTracing, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await _start_streaming(self, continuation, client_call_details, request)


class _StreamUnaryClientInterceptor(_ClientTracing, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await _start_streaming(self, continuation, client_call_details, request_iterator)


class _StreamStreamClientInterceptor(_ClientTracing, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await _start_streaming(self, continuation, client_call_details, request_iterator)


def client_interceptors(
    target: str | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """grpc.aio client interceptors: a CLIENT span per RPC, its ``rpc.client.call.duration``, and
    W3C context in the outgoing metadata.

    Use as ``grpc.aio.insecure_channel(addr, interceptors=client_interceptors(addr))``; ``target``
    only adds ``server.address``/``server.port`` to the spans. Existing metadata (e.g.
    ``authorization``) is kept; a non-OK status sets the span status to ERROR.
    """
    client_metrics = RpcClientMetrics(meter_provider) if meter_provider is not None else None
    interceptors: list[grpc.aio.ClientInterceptor] = [
        _UnaryUnaryClientInterceptor(target, tracer_provider, client_metrics),
        _UnaryStreamClientInterceptor(target, tracer_provider, client_metrics),
        _StreamUnaryClientInterceptor(target, tracer_provider, client_metrics),
        _StreamStreamClientInterceptor(target, tracer_provider, client_metrics),
    ]
    throttle = throttle_for(target)  # kit/throttle.py: last, so the span sees a local refusal
    if throttle is not None:
        interceptors.append(ThrottlingInterceptor(throttle))
    return interceptors
