"""The REST/JSON gateway: aiohttp in front, one ``grpc.aio`` channel per backend behind.

Per request: find the route (generated from ``google.api.http``), apply the rate limits
(gateway/ratelimit.py: 429 before anything reaches a backend), transcode path/query/body into the
request message, call the backend with its route class's deadline (gateway/settings.py) and the
caller's ``authorization`` and ``x-request-id``, and render the response (or the error) as JSON; a
backend that sheds load or is unavailable gives 429/503 with ``Retry-After``. The backend channels
retry ``UNAVAILABLE`` only, under a retry budget (kit/grpc_client.py). The gateway is the root of
every trace: a SERVER span per request (continuing an incoming ``traceparent``), the backend call
as a CLIENT span inside it (``kit.telemetry.client_interceptors``), and ``traceparent`` /
``x-trace-id`` response headers so a caller can find the trace.

``/healthz`` is liveness (always 200 while the process serves); ``/readyz`` is readiness: 200 while
the gateway can serve (routes loaded, not draining), with every backend's health in its body; a
backend that is down only fails its own routes (503 naming it). Backend channels are balanced
over every replica (``round_robin`` over a ``dns:///`` or ``ipv4:`` target, kit/grpc_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway import openapi, receipts
from gateway.errors import GatewayError, error_body, retry_after_seconds, rpc_error_to_http
from gateway.ratelimit import RateLimiter, TenantOfToken
from gateway.routing import MethodNotAllowed, Route, Router, compile_routes
from gateway.services import EXPOSED_SERVICES, load_services
from gateway.settings import GatewaySettings, gateway_settings
from gateway.transcode import build_request, render_response, response_json
from kit.auth import TokenVerifier
from kit.deadline import budget_metadata
from kit.eventloop import event_loop_name
from kit.eventloop import run as run_event_loop
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target
from kit.logging import configure_logging, get_logger, hot_logger
from kit.telemetry import OutboundCalls, configure_telemetry, http_server_metrics

__all__ = ["Gateway", "build_app", "main", "serve"]

log = get_logger("peony.gateway")
access_log = hot_logger("peony.gateway")  # the one line per request: the cheap path (kit/logging.py)

READY_TIMEOUT_S = 2.0
TIMEOUT_HEADER = "X-Request-Timeout"
JSON_TYPE = "application/json"
# What aiohttp writes for content_type=JSON_TYPE, charset="utf-8"; set as a header it skips the
# per-response parsing of those two arguments.
_JSON_CONTENT_TYPE = {"Content-Type": "application/json; charset=utf-8"}
_NO_PARENT = otel_context.Context()  # a request without trace headers starts a new trace
GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("peony_gateway")

_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_RATE_LIMITED_BY = {
    "tenant": "too many requests for this tenant",
    "token": "too many requests with this token",
    "anonymous": "too many requests without a valid token",
}


def _channel_options(config: Any) -> list[tuple[str, Any]]:
    # Balanced over every replica of the backend (round_robin, health-checked, keepalives), and
    # retrying UNAVAILABLE only, jittered, under a retry budget; never RESOURCE_EXHAUSTED (the
    # caller gets 429 + Retry-After). Safe for mutations: see kit/grpc_client.py.
    return client_channel_options(
        getattr(config, "grpc_channel", None) or ClientChannelSettings(),
        retries={},
        max_message_bytes=config.max_message_bytes,
    )


def _json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=response_json(payload),
        headers=_JSON_CONTENT_TYPE if headers is None else {**_JSON_CONTENT_TYPE, **headers},
    )


def _request_timeout(request: web.Request, route_timeout: float) -> float:
    """The backend call's deadline: the route class's, or the client's header if that is shorter."""
    raw = request.headers.get(TIMEOUT_HEADER)
    if raw is None:
        return route_timeout
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise GatewayError.bad_request([(TIMEOUT_HEADER, "must be a positive number of seconds")])
    return min(value, route_timeout)


# The gateways of this process whose backend health the gauge reports (one in production; tests
# build several apps), by id; weak values: an app that is never closed does not keep its gateway alive.
_WATCHED: weakref.WeakValueDictionary[int, Gateway] = weakref.WeakValueDictionary()
_gauge_registered = False


def _observe_backend_health(_options: Any) -> list[metrics.Observation]:
    return [
        metrics.Observation(1 if state == "SERVING" else 0, {"peony.backend": key})
        for gateway in list(_WATCHED.values())
        for key, state in gateway.backend_states.items()
    ]


def _watch_backend_health(gateway: Gateway) -> None:
    """``peony.gateway.backend.serving`` {peony.backend}: 1 while the backend answers SERVING."""
    global _gauge_registered
    _WATCHED[id(gateway)] = gateway
    if not _gauge_registered:
        metrics.get_meter("peony.gateway").create_observable_gauge(
            "peony.gateway.backend.serving",
            callbacks=[_observe_backend_health],
            unit="1",
            description="1 while the backend answers grpc.health.v1 SERVING to this gateway, else 0",
        )
        _gauge_registered = True


def _unwatch_backend_health(gateway: Gateway) -> None:
    _WATCHED.pop(id(gateway), None)


@dataclass
class _Backend:
    key: str
    target: str
    channel: grpc.aio.Channel | None = None
    owned: bool = False
    # Client spans and metrics of calls on an owned channel (it has no interceptors: see
    # kit.telemetry.OutboundCalls); None on a caller's channel, whose interceptors are its own.
    outbound: OutboundCalls | None = None


@dataclass
class Gateway:
    """State shared by the handlers of one application."""

    config: Any
    router: Router
    backends: dict[str, _Backend]
    settings: GatewaySettings = field(default_factory=GatewaySettings)
    limiter: RateLimiter | None = None  # None: no rate limits (build_app always sets one)
    tenant_of: TenantOfToken | None = None  # only when a limit needs to know who is asking
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer("peony.gateway"))
    draining: bool = False
    # backend key -> last health answer ("SERVING", "NOT_SERVING", "UNAVAILABLE", ...)
    backend_states: dict[str, str] = field(default_factory=dict)
    # id(route) -> (stub, timeout, grpc path, the backend's OutboundCalls or None)
    _callables: dict[int, tuple[Any, float, str, OutboundCalls | None]] = field(default_factory=dict)
    methods: frozenset[str] = frozenset()
    _watcher: asyncio.Task[None] | None = None
    # The propagator's header names (traceparent, tracestate, baggage), per propagator object.
    _textmap: Any = None
    _trace_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        standard = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
        self.methods = frozenset(standard | {r.http_method for r in self.router.routes})

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self, _app: web.Application | None = None) -> None:
        for backend in self.backends.values():
            if backend.channel is None:
                # No interceptors: each call is traced by ``backend.outbound`` (cheaper per call).
                backend.channel = grpc.aio.insecure_channel(
                    client_target(backend.target), options=_channel_options(self.config)
                )
                backend.outbound = OutboundCalls(backend.target)
                backend.owned = True
        for route in self.router.routes:
            backend = self.backends[route.backend]
            assert backend.channel is not None
            grpc_path = route.grpc_path
            stub = backend.channel.unary_unary(
                grpc_path,
                request_serializer=route.request_class.SerializeToString,
                response_deserializer=route.response_class.FromString,
            )
            timeout = self.settings.timeout_for(route.http_method, grpc_path)
            self._callables[id(route)] = (stub, timeout, grpc_path, backend.outbound)
        _watch_backend_health(self)
        interval = self.settings.health_interval_s
        if interval > 0:
            self._watcher = asyncio.get_running_loop().create_task(self.watch_backends(interval))
        log.info(
            "gateway.routes",
            routes=len(self.router.routes),
            backends={k: b.target for k, b in self.backends.items()},
        )

    async def close(self, _app: web.Application | None = None) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        _unwatch_backend_health(self)
        self._callables.clear()
        for backend in self.backends.values():
            if backend.owned and backend.channel is not None:
                await backend.channel.close(grace=1.0)
                backend.channel = None
                backend.outbound = None
                backend.owned = False

    # -- the proxy handler ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        method = request.method
        # Span/log attributes must stay low-cardinality: unknown methods are "_OTHER" (semconv).
        known_method = method if method in self.methods else "_OTHER"
        template = ""
        error_type = ""
        span = self.tracer.start_span(
            known_method,
            context=self._parent_context(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": known_method},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            try:
                try:
                    found = self.router.match(method, request.rel_url.raw_path)
                except MethodNotAllowed as exc:
                    template = exc.template
                    raise GatewayError(
                        405,
                        grpc.StatusCode.UNIMPLEMENTED,
                        f"method {method} is not allowed on this path",
                        reason="METHOD_NOT_ALLOWED",
                        metadata={"allowed": ",".join(exc.allowed)},
                        headers={"Allow": ", ".join(exc.allowed)},
                    ) from None
                except UnicodeDecodeError:
                    raise GatewayError.bad_request([("path", "path variables are not valid UTF-8")]) from None
                if found is None:
                    raise GatewayError(
                        404, grpc.StatusCode.NOT_FOUND, "no route for this path", reason="NO_ROUTE"
                    )
                template = found.route.path_template
                span.update_name(f"{method} {template}")
                response, error_type = await self._proxy(request, found.route, found.path_params)
            except GatewayError as exc:
                error_type = exc.code.name
                response = _json_response(exc.http_status, exc.body(), exc.headers)
            except web.HTTPRequestEntityTooLarge:
                error_type = "REQUEST_TOO_LARGE"
                response = self._too_large()
            except asyncio.CancelledError:
                # The client went away; aiohttp cancels the handler (and with it the backend call).
                span.set_attribute("http.response.status_code", 499)
                span.set_status(Status(StatusCode.ERROR, "CANCELLED"))
                self._access_log(known_method, template, 499, started, span)
                raise
            except Exception as exc:
                error_type = type(exc).__qualname__
                log.exception("gateway.unhandled_error", route=template or "(unmatched)", method=known_method)
                span.record_exception(exc)
                response = _json_response(500, error_body(500, grpc.StatusCode.INTERNAL, "internal error"))
            status = response.status
            if span.is_recording():  # an unsampled span would drop these anyway
                if template:
                    span.set_attribute("http.route", template)
                    span.set_attribute("url.path", template)  # the template: no ids/PII, low cardinality
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, error_type or str(status)))
                    span.set_attribute("error.type", error_type or str(status))
            ctx = span.get_span_context()
            trace_id = None
            if ctx.is_valid:
                trace_id = f"{ctx.trace_id:032x}"
                headers = response.headers
                headers["traceparent"] = f"00-{trace_id}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
                headers["X-Trace-Id"] = trace_id
            request_id = request.headers.get("X-Request-Id")
            if request_id:
                response.headers["X-Request-Id"] = request_id
            self._access_log(known_method, template, status, started, span, trace_id)
        finally:
            otel_context.detach(token)
            span.end()
        return response

    def _parent_context(self, headers: Mapping[str, str]) -> otel_context.Context:
        """The caller's trace context, extracted only when it sent a header the propagator reads
        (without one, extraction would yield an empty context anyway, at some cost per request)."""
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._textmap, self._trace_headers = textmap, tuple(textmap.fields)
        for name in self._trace_headers:
            if name in headers:
                return propagate.extract(headers)
        return _NO_PARENT

    def _too_large(self) -> web.Response:
        limit = self.config.max_message_bytes
        exc = GatewayError(
            413,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body is larger than {limit} bytes",
            reason="REQUEST_TOO_LARGE",
            metadata={"maxBytes": str(limit)},
        )
        return _json_response(413, exc.body())

    async def _read_body(self, request: web.Request) -> bytes:
        if not request.body_exists:
            return b""
        limit = self.config.max_message_bytes
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        return await request.read()  # aiohttp enforces client_max_size for chunked bodies

    def _admit(self, request: web.Request) -> None:
        """Rate limits (gateway/ratelimit.py), before the body is read and before any backend call.

        The tenant comes from a verified token only: the services' own verifier, cached per token
        until it expires, so after a token's first request this costs one dict lookup. A request
        whose token does not verify is anonymous here; its backend answers 401 as before.
        """
        limiter = self.limiter
        if limiter is None:
            return
        now = time.monotonic()
        tenant = None
        authorization = request.headers.get("Authorization")
        if authorization and self.tenant_of is not None:
            tenant = self.tenant_of(authorization, now)
        # The peer address only matters to anonymous requests (looking it up has a cost).
        client = (request.remote or "") if tenant is None else ""
        refusal = limiter.admit(tenant=tenant, token=authorization, client=client, now=now)
        if refusal is not None:
            raise GatewayError(
                429,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{_RATE_LIMITED_BY[refusal.limit]}, retry after {refusal.retry_after_s} s",
                reason="RATE_LIMITED",
                metadata={"limit": refusal.limit},
                retry_after_s=refusal.retry_after_s,
            )

    async def _proxy(
        self, request: web.Request, route: Route, path_params: dict[str, str]
    ) -> tuple[web.Response, str]:
        self._admit(request)
        body = await self._read_body(request)
        message = build_request(route, path_params, request.rel_url.query.items(), body)
        stub, route_timeout, grpc_path, outbound = self._callables[id(route)]
        timeout = _request_timeout(request, route_timeout)
        # the budget lets the backend shed a call that queued too long (kit.grpc_server)
        metadata: list[tuple[str, str]] = [budget_metadata(timeout)]
        auth = request.headers.get("Authorization")
        if auth is not None:
            metadata.append(("authorization", auth))
        request_id = request.headers.get("X-Request-Id")
        if request_id is not None:
            metadata.append(("x-request-id", request_id))
        try:
            if outbound is None:  # a caller's channel: its interceptors trace the call
                reply = await stub(message, timeout=timeout, metadata=tuple(metadata))
            else:
                traced, metadata = outbound.start(grpc_path, metadata)
                try:
                    reply = await stub(message, timeout=timeout, metadata=tuple(metadata))
                except BaseException as exc:
                    outbound.failed(traced, exc)
                    raise
                outbound.succeeded(traced)
        except grpc.aio.AioRpcError as exc:
            http, payload = rpc_error_to_http(exc, backend=route.backend)
            if http >= 500:
                log.warning(
                    "gateway.backend_error", backend=route.backend, rpc=route.grpc_path, code=exc.code().name
                )
            retry_after = retry_after_seconds(exc, self.settings.retry_after_s)
            headers = None if retry_after is None else {"Retry-After": str(retry_after)}
            return _json_response(http, payload, headers), exc.code().name
        return _json_response(200, render_response(route, reply)), ""

    # -- probes ---------------------------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.Response:
        return _json_response(200, {"status": "ok"})

    async def _check(self, backend: _Backend) -> str:
        if backend.channel is None:
            return "NO_CHANNEL"
        check = backend.channel.unary_unary(
            _HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        # Probes run every few seconds: give them an unsampled parent so that they do not each
        # become a trace (the client interceptor and the backend follow the parent's decision).
        unsampled = trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id=random.getrandbits(128) or 1,
                span_id=random.getrandbits(64) or 1,
                is_remote=False,
                trace_flags=trace.TraceFlags(0),
            )
        )
        token = otel_context.attach(trace.set_span_in_context(unsampled))
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # the channel has no interceptor to do it
        try:
            reply = await check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=READY_TIMEOUT_S,
                metadata=tuple(carrier.items()),
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        finally:
            otel_context.detach(token)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def check_backends(self) -> dict[str, str]:
        """Ask every backend's ``grpc.health.v1`` (through its balanced channel) and remember the
        answers: ``/readyz``'s body and the ``peony.gateway.backend.serving`` gauge report them."""
        keys = list(self.backends)
        states = await asyncio.gather(*(self._check(self.backends[k]) for k in keys))
        self.backend_states = dict(zip(keys, states, strict=True))
        return self.backend_states

    async def watch_backends(self, interval_s: float) -> None:
        """Keep :attr:`backend_states` current for the metric between probes; runs until cancelled."""
        while True:
            try:
                await self.check_backends()
            except Exception:  # a probe must never end the watch
                log.exception("gateway.backend_check_failed")
            await asyncio.sleep(interval_s)

    async def readyz(self, _request: web.Request) -> web.Response:
        """Ready means "this gateway can serve": routes loaded and not draining.

        A backend that is down does not make the gateway unready: its routes answer 503 naming
        it while every other route keeps working, so taking every gateway pod out of its Service
        (what one backend outage did before) would only turn a partial outage into a full one.
        The body reports each backend's health (``notReady`` lists the ones not SERVING).
        """
        backends = await self.check_backends()
        not_ready = [k for k, s in backends.items() if s != "SERVING"]
        if self.draining:
            return _json_response(503, {"status": "draining", "backends": backends, "notReady": not_ready})
        if not self.router.routes:
            return _json_response(503, {"status": "no_routes", "backends": backends, "notReady": not_ready})
        if not_ready:
            return _json_response(200, {"status": "degraded", "backends": backends, "notReady": not_ready})
        return _json_response(200, {"status": "ok", "backends": backends})

    # -- logging --------------------------------------------------------------------------------

    def _access_log(
        self,
        method: str,
        template: str,
        status: int,
        started: float,
        span: trace.Span,
        trace_id: str | None = None,
    ) -> None:
        elapsed = time.perf_counter() - started
        http_server_metrics().record(method, template, status, elapsed)
        if trace_id is None:
            ctx = span.get_span_context()
            trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
        access_log.info(
            "http.access",
            method=method,
            route=template or "(unmatched)",
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            trace_id=trace_id,
        )


_HTTP_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@web.middleware
async def _json_http_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own refusals (e.g. ``POST /healthz``) in the gateway's JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, grpc.StatusCode.UNKNOWN)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _json_response(exc.status, error_body(exc.status, code, exc.reason), headers)


def build_app(
    config: Any,
    *,
    channels: Mapping[str, grpc.aio.Channel] | None = None,
    services: list[tuple[Any, str]] | None = None,
) -> web.Application:
    """The gateway application.

    ``services`` is ``[(ServiceDescriptor, backend key)]`` (default: the registry in
    :mod:`gateway.services`; a registered service whose generated code is missing is an error in
    production and skipped with a warning otherwise). ``channels`` maps backend keys to ready
    ``grpc.aio`` channels (the caller owns them and their interceptors); channels for the other
    backends are created at startup from ``config.service_addrs`` with
    ``kit.telemetry.client_interceptors`` and closed at cleanup.
    """
    if services is None:
        # In production a registered service without generated code is a broken build: fail at
        # start. Elsewhere skip it (protos are often mid-edit in development) and say so.
        strict = bool(getattr(config, "is_production", False))
        services, missing = load_services(EXPOSED_SERVICES, strict=strict)
        for problem in missing:
            log.warning("gateway.service_missing", problem=problem)
    router = compile_routes(services)
    backends: dict[str, _Backend] = {}
    for _, key in services:
        if key in backends:
            continue
        given = (channels or {}).get(key)
        target = config.service_addrs.get(key, "") if given is None else "(provided)"
        if given is None and not target:
            raise ValueError(f"no address for backend {key!r} (set PEONY_{key.upper()}_ADDR)")
        backends[key] = _Backend(key=key, target=target, channel=given)
    settings = gateway_settings(config)
    limiter = RateLimiter(settings)
    tenant_of = (
        TenantOfToken(TokenVerifier(config.auth), max_keys=settings.max_keys)
        if limiter.needs_principal
        else None
    )
    gateway = Gateway(
        config=config,
        router=router,
        backends=backends,
        settings=settings,
        limiter=limiter,
        tenant_of=tenant_of,
    )

    app = web.Application(
        client_max_size=config.max_message_bytes,
        handler_args={"max_field_size": 16 * 1024},
        middlewares=[_json_http_errors],
    )
    app[GATEWAY_KEY] = gateway
    app.router.add_get("/healthz", gateway.healthz, allow_head=False)
    app.router.add_get("/readyz", gateway.readyz, allow_head=False)
    openapi.add_routes(app)  # /openapi.json and /docs (Swagger UI)
    if "insights" in backends:  # the HQ dashboard page (static; its data comes from the API)
        from gateway import insights_page

        insights_page.add_routes(app)
    if "notify" in backends:  # providers' receipt callbacks: raw, signed by the provider (receipts.py)
        app.router.add_post(receipts.PATH, receipts.receipts_handler(gateway, config))
    app.router.add_route("*", "/{tail:.*}", _handler(gateway))
    app.on_startup.append(gateway.open)
    app.on_cleanup.append(gateway.close)
    return app


def _handler(gateway: Gateway) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await gateway.handle(request)

    return handle


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


async def serve(
    config: Any,
    *,
    services: list[tuple[Any, str]] | None = None,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """Serve on ``config.service_addrs["gateway"]`` until SIGTERM/SIGINT (or ``stop`` is set).

    Then drain: stop accepting connections, let in-flight requests finish (up to
    ``config.shutdown_grace_seconds``), and close the backend channels. ``/readyz`` answers 503
    while draining. ``services``/``stop``/``started`` exist for tests and embedding.
    """
    app = build_app(config, services=services)
    gateway = app[GATEWAY_KEY]
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=config.shutdown_grace_seconds
    )
    await runner.setup()
    host, port = _split_addr(config.service_addrs.get("gateway") or "127.0.0.1:8080")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        log.info("gateway.started", addr=f"{host}:{port}", event_loop=type(loop).__module__.split(".")[0])
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        gateway.draining = True
        log.info("gateway.stopping", grace_s=config.shutdown_grace_seconds)
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # stop listening, wait for in-flight requests, then close channels
        log.info("gateway.stopped")


def main() -> None:
    """``peony gateway``: configuration from the environment, logs, telemetry, then serve."""
    from kit.config import ConfigError, load_config

    try:
        config = load_config("gateway")
        gateway_settings(config)  # PEONY_GATEWAY_* problems stop the process here, with the others
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None
    try:
        loop_name = event_loop_name()
    except ValueError as exc:
        print(f"peony gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging("gateway", config.log_level, config.log_format)
    try:
        handle = configure_telemetry("gateway", config.version)
    except ValueError as exc:  # an OTEL_* setting we cannot honour
        print(f"peony gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        run_event_loop(serve(config), loop_name)
    except KeyboardInterrupt:  # pragma: no cover - signal handlers normally catch it
        pass
    finally:
        if handle is not None:
            handle.shutdown()


if __name__ == "__main__":  # pragma: no cover
    main()
