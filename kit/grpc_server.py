"""The gRPC server every Peony service runs on.

One wrapper per unary method does the per-call cross-cutting work (`KitCalls`; the runner wraps
each servicer's handlers once when it registers them, so no grpc.aio interceptor runs per call --
an interceptor layer costs measurable throughput): a SERVER span continuing the caller's W3C
trace, admission control (shedding calls that queued too long before their handler, and a bound on
concurrent calls: see `AdmissionControl`) and the caller's
deadline (`kit.deadline`; an expired call does nothing, a handler is cancelled at it), bearer-token
authentication, decoding and bounding the request (undecodable bytes and
fields past their limits are INVALID_ARGUMENT before any handler runs, see `kit.limits`), domain
errors → `google.rpc.Status`, and RED metrics.

`GrpcServiceRunner` adds health (`grpc.health.v1`) and reflection (`grpc.reflection.v1` and
`v1alpha`) to every service, enforces
the max message size, and on SIGTERM turns health to NOT_SERVING, drains in-flight calls within
the grace period, then stops background workers (outbox relay, consumers) and closes resources.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from kit import deadline, limits
from kit.auth import TokenVerifier, reset_principal, set_principal
from kit.config import ServiceConfig
from kit.db import is_invalid_input
from kit.errors import INTERNAL_STATUS, DomainError, InvalidArgument, Overloaded, grpc_trailers
from kit.logging import get_logger
from kit.telemetry import rpc_metrics

log = get_logger("peony.grpc")
_tracer = trace.get_tracer("peony.grpc.server")

# Infrastructure services answer without a token (probes, grpcurl discovery).
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# grpcio-reflection (1.85) implements only v1alpha; v1 is the same protocol under a new package
# (wire-identical messages), and grpcurl and newer clients ask for it first.
REFLECTION_V1_SERVICE = "grpc.reflection.v1.ServerReflection"
# The admission bound of a `KitCalls` built without one (the runner passes the configured bound).
DEFAULT_MAX_INFLIGHT_RPCS = 80


def grpc_code(err: DomainError) -> grpc.StatusCode:
    """The gRPC status of a domain error (the domain names it; only the edge knows gRPC)."""
    return grpc.StatusCode[err.code]


class _MetadataGetter:
    """Reads W3C headers straight from gRPC invocation metadata."""

    @staticmethod
    def get(carrier: Sequence[tuple[str, Any]], key: str) -> list[str] | None:
        values = [v for k, v in carrier if k == key]
        return values or None

    @staticmethod
    def keys(carrier: Sequence[tuple[str, Any]]) -> list[str]:
        return [k for k, _ in carrier]


_getter = _MetadataGetter()


class AdmissionControl:
    """Decides, before any other work, whether a server process takes a call. Two signals:

    1. **The time the call queued before its handler** (CoDel, ``PEONY_SHED_QUEUE_TARGET_MS``): past
       saturation calls do not wait in front of this check but *behind* it -- grpc.aio takes one
       call from gRPC core per event-loop iteration, so while the handlers keep the loop busy,
       calls pile up unrequested in core (C, before any Python code) and reach the interceptor
       seconds later with their deadline spent, while the in-flight count stays at a handful
       (measured: 6-9 in flight, waits growing to 5 s; bench/README.md, bench_overload). The
       caller's timeout (``kit.deadline.BUDGET_HEADER``) minus ``time_remaining()`` is how long a
       call waited. As in CoDel / folly's ``Codel`` ("Fail at Scale"): when the *shortest* wait of
       the last interval (``PEONY_SHED_QUEUE_INTERVAL_MS``) exceeded the target, a queue is standing
       (a burst drains within an interval, a standing queue does not), and while it stands every
       call that waited over twice the target is refused at once -- cheaply, so the loop gets back
       to taking calls and the queue drains; the calls that did not wait long are served. A call
       without the header is not judged by this signal.
    2. **A static bound on the calls served at once** (``PEONY_MAX_INFLIGHT_RPCS``, by default two
       per database connection: ``kit.config.INFLIGHT_RPCS_PER_DB_CONNECTION``): the pool is what
       an admitted call waits for otherwise.

    A refused call gets RESOURCE_EXHAUSTED ``OVERLOADED`` and a ``RetryInfo`` (``SHED_RETRY_DELAY_S``,
    jittered so refused clients do not come back together), before authentication, decoding or any
    handler work: refusing must stay cheaper than serving. Plain attributes: the server's calls all
    run on one event loop, so ``+= 1`` needs no lock, and a check is a few compares.
    """

    __slots__ = (
        "_calls",
        "_interval_ends",
        "_min_wait_s",
        "in_flight",
        "lag_floor",
        "lag_limit_s",
        "limit",
        "loop_lag_s",
        "queue_interval_s",
        "queue_standing",
        "queue_target_s",
    )

    def __init__(
        self,
        limit: int,
        *,
        queue_target_s: float = 0.0,
        queue_interval_s: float = 0.1,
        lag_limit_s: float = 0.0,
        lag_floor: int = 2,
    ):
        if limit < 1:
            raise ValueError("the admission bound must be at least 1")
        if queue_target_s < 0 or queue_interval_s <= 0:
            raise ValueError("the queueing target must be >= 0 and the interval > 0")
        self.limit = limit
        self.in_flight = 0
        self.queue_target_s = queue_target_s  # 0 = off
        self.queue_interval_s = queue_interval_s
        self.queue_standing = False
        self._interval_ends = 0.0
        self._min_wait_s = 0.0
        self._calls = 0
        # Optional (PEONY_SHED_LOOP_LAG_MS, off by default): while the event loop runs this late,
        # only `lag_floor` calls run at once and the rest are refused. Measured weaker than the
        # queueing time (it refused members' internal callers, not the calls that had queued).
        self.lag_limit_s = lag_limit_s
        self.lag_floor = lag_floor
        self.loop_lag_s = 0.0

    def queued_too_long(self, waited_s: float | None, now: float) -> bool:
        """Whether a call that waited ``waited_s`` before its handler (``None``: unknown) is refused
        because a queue is standing. ``now`` is ``time.monotonic()``."""
        if waited_s is None or not self.queue_target_s:
            return False
        if now >= self._interval_ends:
            # An interval ended: a queue stood through it if even its shortest wait was too long,
            # over enough calls to be a queue (a lone call delayed by a busy loop is not one), and
            # the interval is the one just before (after an idle gap nothing is queued).
            # The first call of the next interval is never refused (it starts the new minimum).
            self.queue_standing = (
                self._min_wait_s > self.queue_target_s
                and self._calls >= QUEUE_MIN_CALLS
                and now < self._interval_ends + self.queue_interval_s
            )
            self._interval_ends = now + self.queue_interval_s
            self._min_wait_s = waited_s
            self._calls = 1
            return False
        self._calls += 1
        if waited_s < self._min_wait_s:
            self._min_wait_s = waited_s
        return self.queue_standing and waited_s > 2 * self.queue_target_s

    def full(self) -> bool:
        if self.in_flight >= self.limit:
            return True
        lagging = bool(self.lag_limit_s) and self.loop_lag_s > self.lag_limit_s
        return lagging and self.in_flight >= self.lag_floor

    async def watch_loop_lag(self, interval_s: float = 0.01) -> None:
        """Measure how late the event loop wakes a sleeper (smoothed); runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(interval_s)
            late = max(0.0, loop.time() - before - interval_s)
            self.loop_lag_s = 0.5 * self.loop_lag_s + 0.5 * late


# Calls an interval must see before its waits can declare a standing queue: sparse calls delayed by
# a busy machine (GC, a CPU-starved test run) are not a queue, and must not be shed.
QUEUE_MIN_CALLS = 4

# RetryInfo.retry_delay of a shed call: long enough for the in-flight calls to finish a few
# transactions, short enough that a client which waits for it sees little extra latency.
SHED_RETRY_DELAY_S = (0.1, 0.5)


def _deadline_passed(time_left: float | None, started: float) -> bool:
    return time_left is not None and time.perf_counter() - started >= time_left


_OK = grpc.StatusCode.OK
_RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
_DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED
# The metadata keys W3C propagation reads (kit.telemetry installs tracecontext + baggage).
_TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
# What extracting from a call without those headers gives: a root context.
_NO_PARENT = otel_context.Context()


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode()


def _overloaded() -> Overloaded:
    delay = random.uniform(*SHED_RETRY_DELAY_S)  # jitter, not security
    return Overloaded("the server is overloaded; retry after the RetryInfo delay", retry_delay_s=delay)


class KitCalls:
    """The per-call work of every Peony RPC, bound once per method.

    `wrap(method, handler)` returns the handler that does, around the servicer's behaviour:
    admission control, the deadline, the SERVER span, authentication, decoding and bounding the
    request, error mapping and RED metrics. Everything that depends only on the method (its
    service and method names, the span's name and attributes, the decode-error message) is
    resolved here, at registration, not per call. `GrpcServiceRunner` wraps each servicer's
    handlers when it registers them, so grpc.aio runs no interceptor chain per call (an
    interceptor costs an extra coroutine and a handler lookup on every call);
    `KitServerInterceptor` offers the same wrapping as an interceptor.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        admission: AdmissionControl | None = None,
        *,
        min_remaining_s: float = deadline.MIN_REMAINING_S,
    ):
        self.verifier = verifier
        self.min_remaining_s = min_remaining_s
        self.metrics = rpc_metrics()
        self.admission = admission or AdmissionControl(DEFAULT_MAX_INFLIGHT_RPCS)

    def wrap(self, method: str, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
        """The kit's handler for `method` (infrastructure services and streaming RPCs, which
        Peony's APIs do not use yet, pass through unwrapped)."""
        if handler is None or handler.unary_unary is None or method.startswith(PUBLIC_SERVICE_PREFIXES):
            return handler
        # The wrapper receives the raw bytes and decodes them itself: a DecodeError raised by
        # grpc's own deserializer would reach the caller as UNKNOWN with the exception's class.
        return grpc.unary_unary_rpc_method_handler(
            self._handle(method, handler.unary_unary, handler.request_deserializer),
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )

    def _handle(
        self,
        method: str,
        behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]],
        deserialize: Callable[[bytes], Any] | None,
    ):
        _, service_name, method_name = method.split("/")
        verifier = self.verifier
        metrics = self.metrics
        admission = self.admission
        min_remaining_s = self.min_remaining_s
        span_name = method[1:]
        span_attributes = {"rpc.system": "grpc", "rpc.service": service_name, "rpc.method": method_name}
        malformed_message = f"the request is not a valid {method_name} request message"
        not_implemented_message = f"{method_name} is not implemented"
        budget_header = deadline.BUDGET_HEADER
        perf_counter = time.perf_counter
        start_span = _tracer.start_span
        server_kind = SpanKind.SERVER
        attach, detach = otel_context.attach, otel_context.detach
        set_span_in_context = trace.set_span_in_context

        async def handle(raw: Any, context: grpc.aio.ServicerContext) -> Any:
            started = perf_counter()
            time_left = context.time_remaining()  # None: the caller set no deadline
            metadata = context.invocation_metadata() or ()
            # One pass over the metadata for everything the kit reads from it (a repeated key:
            # its first value counts).
            authorization = budget = None
            traced = False
            for key, value in metadata:
                if key == "authorization":
                    if authorization is None:
                        authorization = value
                elif key == budget_header:
                    if budget is None:
                        budget = value
                elif key in _TRACE_HEADERS:
                    traced = True
            # Admission first, before any other work: refusing must stay cheaper than serving.
            waited_s = None if budget is None else deadline.waited(_text(budget), time_left)
            if (
                waited_s is not None and admission.queued_too_long(waited_s, time.monotonic())
            ) or admission.full():
                metrics.record_shed(service_name, method_name)
                metrics.record(service_name, method_name, _RESOURCE_EXHAUSTED, perf_counter() - started)
                err = _overloaded()
                await context.abort(
                    _RESOURCE_EXHAUSTED, err.message, trailing_metadata=grpc_trailers(err.to_status())
                )
            # A call that cannot finish in time does nothing.
            if time_left is not None and time_left < min_remaining_s:
                metrics.record(service_name, method_name, _DEADLINE_EXCEEDED, perf_counter() - started)
                await context.abort(_DEADLINE_EXCEEDED, "the deadline expired before the call started")
            deadline_token = deadline.set_deadline(time_left)
            # Without W3C headers the span starts a new trace (what extracting nothing gives).
            parent = propagate.extract(metadata, getter=_getter) if traced else _NO_PARENT
            span = start_span(
                span_name,
                context=parent,
                kind=server_kind,
                attributes=span_attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
            context_token = attach(set_span_in_context(span, parent))
            code = _OK
            principal_token = None
            admission.in_flight += 1
            try:
                principal = verifier.verify_header(None if authorization is None else _text(authorization))
                principal_token = set_principal(principal)
                request = raw
                if deserialize is not None:  # a handler without one takes the raw bytes
                    try:
                        request = deserialize(raw)
                    except DecodeError:
                        raise InvalidArgument(message=malformed_message, reason="MALFORMED_REQUEST") from None
                    limits.validate(request)
                # At the deadline gRPC cancels this task (once): the CancelledError unwinds the
                # handler, asyncpg sends PostgreSQL a cancel request for the statement in
                # flight, and the unit of work rolls back, so nothing is written. No second
                # timer here: a second cancellation would interrupt that clean-up, and SQLAlchemy
                # would then drop the connection without the cancel request, leaving the
                # statement running on the server.
                return await behaviour(request, context)
            except DomainError as err:
                code = grpc_code(err)
                status = err.to_status()
                span.set_attribute("peony.error.reason", err.reason)
                if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    span.set_status(Status(StatusCode.ERROR))
                await context.abort(code, err.message, trailing_metadata=grpc_trailers(status))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
                raise
            except asyncio.CancelledError:
                # by the client, or by gRPC at the deadline
                code = (
                    grpc.StatusCode.DEADLINE_EXCEEDED
                    if _deadline_passed(time_left, started)
                    else grpc.StatusCode.CANCELLED
                )
                raise
            except NotImplementedError:
                # The generated base servicer's answer for an RPC the service does not offer.
                code = grpc.StatusCode.UNIMPLEMENTED
                await context.abort(code, not_implemented_message)
            except Exception as exc:
                if is_invalid_input(exc):
                    # A safety net: input is validated before the database, but a value that
                    # PostgreSQL (or asyncpg, encoding a parameter) still refuses as data is the
                    # caller's mistake, not a bug. Logged without the value (it may be PII).
                    code = grpc.StatusCode.INVALID_ARGUMENT
                    log.warning("database refused a value as invalid input", rpc_method=method)
                    err = InvalidArgument(
                        message="a value in the request is not valid", reason="INVALID_VALUE"
                    )
                    span.set_attribute("peony.error.reason", err.reason)
                    await context.abort(code, err.message, trailing_metadata=grpc_trailers(err.to_status()))
                else:
                    code = grpc.StatusCode.INTERNAL
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    log.exception("unhandled error in handler", rpc_method=method)
                    await context.abort(
                        code, INTERNAL_STATUS.message, trailing_metadata=grpc_trailers(INTERNAL_STATUS)
                    )
            finally:
                admission.in_flight -= 1
                deadline.reset(deadline_token)
                if principal_token is None:
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                else:
                    reset_principal(principal_token)
                    span.set_attributes(
                        {"peony.tenant": principal.tenant, "rpc.grpc.status_code": code.value[0]}
                    )
                span.end()
                detach(context_token)
                metrics.record(service_name, method_name, code, perf_counter() - started)

        return handle


class KitServerInterceptor(grpc.aio.ServerInterceptor):
    """`KitCalls` as a grpc.aio interceptor, for a server whose handlers the kit did not register
    (the runner wraps its servicers' handlers directly: no interceptor runs per call)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        admission: AdmissionControl | None = None,
        *,
        min_remaining_s: float = deadline.MIN_REMAINING_S,
    ):
        self._calls = KitCalls(verifier, admission, min_remaining_s=min_remaining_s)
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method: str = handler_call_details.method
        if method.startswith(PUBLIC_SERVICE_PREFIXES):
            return await continuation(handler_call_details)
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        wrapped = self._calls.wrap(method, await continuation(handler_call_details))
        if wrapped is not None:
            self._wrapped[method] = wrapped
        return wrapped


class _WrappedGenericHandler(grpc.GenericRpcHandler):
    """A servicer's generic handler whose unary handlers go through `KitCalls` (wrapped once per
    method, on first use)."""

    def __init__(self, inner: grpc.GenericRpcHandler, calls: KitCalls):
        self._inner = inner
        self._calls = calls
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._calls.wrap(method, self._inner.service(handler_call_details))
            # Only known methods are cached: unknown names from a client cannot grow the dict.
            if wrapped is not None:
                self._wrapped[method] = wrapped
        return wrapped


class _KitRegistrar:
    """What a generated `add_XServicer_to_server` is given instead of the server: it registers the
    servicer's handlers on the server wrapped by `KitCalls`."""

    def __init__(self, server: grpc.aio.Server, calls: KitCalls):
        self._server = server
        self._calls = calls

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_WrappedGenericHandler(h, self._calls) for h in handlers))

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        wrap = self._calls.wrap
        self._server.add_registered_method_handlers(
            service_name,
            {name: wrap(f"/{service_name}/{name}", h) for name, h in method_handlers.items()},
        )


def _add_reflection(names: list[str], server: grpc.aio.Server) -> None:
    """Server reflection as `grpc.reflection.v1alpha` and `grpc.reflection.v1`, one servicer."""
    servicer = ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                REFLECTION_V1_SERVICE,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            ),
        )
    )


class BackgroundWorker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class ServiceRegistration:
    """A servicer and the generated function that adds it to a server."""

    full_name: str  # e.g. "peony.members.v1.MembersService"
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class GrpcServiceRunner:
    config: ServiceConfig
    registrations: list[ServiceRegistration]
    verifier: TokenVerifier
    workers: list[BackgroundWorker] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    server: grpc.aio.Server | None = None
    admission: AdmissionControl | None = None
    health: health.aio.HealthServicer | None = None
    port: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _lag_watch: asyncio.Task[None] | None = None

    async def start(self) -> int:
        opts = [
            ("grpc.max_receive_message_length", self.config.max_message_bytes),
            ("grpc.max_send_message_length", self.config.max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.so_reuseport", 0),
            # Long-lived client channels rebalance: each connection is closed (GOAWAY, calls in
            # flight get the grace) after this age, and the client resolves the replicas again.
            ("grpc.max_connection_age_ms", self.config.grpc_max_connection_age_ms),
            ("grpc.max_connection_age_grace_ms", self.config.grpc_max_connection_age_grace_ms),
            # Accept the clients' keepalive pings (kit/grpc_client.py), also on idle connections.
            ("grpc.http2.min_recv_ping_interval_without_data_ms", self.config.grpc_min_ping_interval_ms),
            ("grpc.http2.min_ping_interval_without_data_ms", self.config.grpc_min_ping_interval_ms),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        self.admission = AdmissionControl(
            self.config.max_inflight_rpcs,
            queue_target_s=self.config.shed_queue_target_ms / 1000,
            queue_interval_s=self.config.shed_queue_interval_ms / 1000,
            lag_limit_s=self.config.shed_loop_lag_ms / 1000,
        )
        if self.admission.lag_limit_s:
            self._lag_watch = asyncio.get_running_loop().create_task(self.admission.watch_loop_lag())
        rpc_metrics().watch_admission(self.config.service, self.admission)
        # gRPC's own bound (`maximum_concurrent_rpcs`) stays off: it would refuse first, with a bare
        # RESOURCE_EXHAUSTED and no RetryInfo, and count health checks against it. The kit's bound
        # refuses instead, with a status a client can act on; health and reflection are exempt.
        self.server = grpc.aio.server(options=opts, maximum_concurrent_rpcs=None)
        calls = KitCalls(self.verifier, self.admission, min_remaining_s=self.config.min_deadline_ms / 1000)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            REFLECTION_V1_SERVICE,
            reflection.SERVICE_NAME,
        ]
        registrar = _KitRegistrar(self.server, calls)
        for reg in self.registrations:
            reg.add_to_server(reg.servicer, registrar)
            names.append(reg.full_name)
        _add_reflection(names, self.server)
        self.port = self.server.add_insecure_port(self.config.grpc_addr)
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC port {self.config.grpc_addr}")
        await self.server.start()
        for worker in self.workers:
            await worker.start()
        for reg in self.registrations:
            await self.health.set(reg.full_name, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "grpc server started",
            address=self.config.grpc_addr,
            port=self.port,
            services=names,
            max_inflight_rpcs=self.admission.limit,
        )
        return self.port

    async def stop(self) -> None:
        """Graceful stop: NOT_SERVING, drain in-flight calls, stop workers, close resources."""
        if self._lag_watch is not None:
            self._lag_watch.cancel()
        if self._stopping.is_set():
            return
        self._stopping.set()
        grace = self.config.shutdown_grace_seconds
        started = time.monotonic()
        assert self.server is not None and self.health is not None
        await self.health.enter_graceful_shutdown()
        # Give load balancers a moment to see NOT_SERVING before we refuse new calls.
        await asyncio.sleep(min(1.0, grace / 10))
        await self.server.stop(max(1.0, grace - (time.monotonic() - started) - 2))
        for worker in reversed(self.workers):
            try:
                await asyncio.wait_for(worker.stop(), timeout=max(1.0, grace - (time.monotonic() - started)))
            except Exception:
                log.exception("background worker did not stop cleanly", worker=type(worker).__name__)
        for close in self.on_close:
            try:
                await close()
            except Exception:
                log.exception("error while closing resources")
        rpc_metrics().unwatch_admission(self.config.service, self.admission)
        log.info("grpc server stopped", drained_in_s=round(time.monotonic() - started, 3))

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        await self.start()
        await stop_requested.wait()
        log.info("shutdown requested; draining")
        await self.stop()
