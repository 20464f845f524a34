"""The public route providers post delivery receipts to: ``POST /v1/notify/receipts/{provider}``.

Not a transcoded route: providers post their own formats (JSON arrays, form bodies, XML) and
authenticate with their own signatures, not a Peony JWT. The gateway forwards the raw callback
(headers, body, query) to notify's ``RecordReceipts`` as itself — role ``service`` plus
``receipt_forwarder`` (kit/auth.py) — and notify verifies the provider's signature through the
provider's adapter before anything is written. The provider gets back the answer it expects
(``ack_content_type`` / ``ack_body``), or a JSON error: 400 for a receipt that fails verification
or does not parse, 404 for an unknown provider.

Receipts are not tenant-scoped (notify matches them by the provider's message id), but a service
token names a tenant: the gateway's forwarding token is for the pseudo-tenant ``_receipts``
(a token file used in production needs an entry for it).
"""

from __future__ import annotations

from typing import Any

import grpc
from aiohttp import web
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from peony.notify.v1 import notify_service_pb2 as npb

from gateway.errors import GatewayError, retry_after_seconds, rpc_error_to_http
from kit.service_auth import ServiceCredentialError, ServiceCredentials

PATH = "/v1/notify/receipts/{provider}"
RECEIPTS_TENANT = "_receipts"
FORWARDER_ROLE = "receipt_forwarder"
MAX_BODY = 64 * 1024
DEADLINE_S = 10.0
_METHOD = "/peony.notify.v1.NotifyService/RecordReceipts"


def receipts_handler(gateway: Any, config: Any) -> Any:
    credentials = ServiceCredentials.from_config(config, extra_roles=(FORWARDER_ROLE,))
    tracer = trace.get_tracer("peony.gateway")

    async def handle(request: web.Request) -> web.StreamResponse:
        with tracer.start_as_current_span(
            f"POST {PATH}",
            context=propagate.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "http.route": PATH},
        ) as span:
            response = await _forward(gateway, credentials, request)
            span.set_attribute("http.response.status_code", response.status)
            return response

    return handle


async def _forward(gateway: Any, credentials: ServiceCredentials, request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(GatewayError.bad_request([("body", f"must be at most {MAX_BODY} bytes")]))
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(GatewayError.bad_request([("body", f"must be at most {MAX_BODY} bytes")]))
    backend = gateway.backends.get("notify")
    if backend is None or backend.channel is None:
        return _error(GatewayError(503, grpc.StatusCode.UNAVAILABLE, "notify is not configured"))
    try:
        metadata = credentials.metadata(RECEIPTS_TENANT)
    except ServiceCredentialError as exc:
        return _error(GatewayError(503, grpc.StatusCode.UNAVAILABLE, f"no forwarding credential: {exc}"))
    call = backend.channel.unary_unary(
        _METHOD,
        request_serializer=npb.RecordReceiptsRequest.SerializeToString,
        response_deserializer=npb.RecordReceiptsResponse.FromString,
    )
    message = npb.RecordReceiptsRequest(
        provider=request.match_info["provider"],
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=dict(request.query),
    )
    outbound = backend.outbound  # the gateway's own channel has no interceptors (app.py)
    traced = None
    try:
        if outbound is not None:
            # Inside the try: the client-side throttle refuses here, as a server would (429).
            traced, extended = outbound.start(_METHOD, list(metadata))
            metadata = tuple(extended)
        try:
            reply = await call(message, timeout=DEADLINE_S, metadata=metadata)
        except BaseException as exc:
            if traced is not None:
                outbound.failed(traced, exc)  # type: ignore[union-attr]
            raise
        if traced is not None:
            outbound.succeeded(traced)  # type: ignore[union-attr]
    except grpc.aio.AioRpcError as exc:
        status, payload = rpc_error_to_http(exc, backend="notify")
        retry_after = retry_after_seconds(exc, gateway.settings.retry_after_s)
        headers = None if retry_after is None else {"Retry-After": str(retry_after)}
        return web.json_response(payload, status=status, headers=headers)
    content_type = reply.ack_content_type.split(";")[0] or "text/plain"
    return web.Response(body=reply.ack_body, content_type=content_type)


def _error(exc: GatewayError) -> web.Response:
    return web.json_response(exc.body(), status=exc.http_status)
