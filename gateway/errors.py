"""gRPC status -> HTTP status and the JSON error body (the google.rpc / AIP-193 shape).

Every error the gateway returns, whether it came from a backend or was produced locally
(bad JSON, unknown route, body too large, backend down), has one shape::

    {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "...",
               "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [{"field": "pageSize", "description": "..."}]}]}}

Backend details come from the ``grpc-status-details-bin`` trailer (a serialized
``google.rpc.Status``) and are rendered with the proto3 JSON mapping.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "ERROR_DOMAIN",
    "GatewayError",
    "error_body",
    "grpc_code_to_http",
    "retry_after_seconds",
    "rpc_error_to_http",
    "status_to_http",
]

from kit.errors import ERROR_DOMAIN  # one domain for every Peony ErrorInfo

STATUS_DETAILS_KEY = "grpc-status-details-bin"

_HTTP_BY_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_CODE_BY_INT: dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}

# Codes whose backend message/details are not shown to callers: they describe server faults,
# and an unhandled exception's text (or a transport error naming internal addresses) is not an
# API message.
_OPAQUE = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
# Detail types that are safe to pass through even for opaque codes.
_SAFE_OPAQUE_DETAILS = ("type.googleapis.com/google.rpc.RequestInfo",)


def grpc_code_to_http(code: grpc.StatusCode) -> int:
    """The HTTP status for a gRPC code (google.rpc.Code mapping; anything unknown is 500)."""
    return _HTTP_BY_CODE.get(code, 500)


def code_from_int(value: int) -> grpc.StatusCode:
    return _CODE_BY_INT.get(value, grpc.StatusCode.UNKNOWN)


def error_body(
    http_status: int, code: grpc.StatusCode, message: str, details: Sequence[dict[str, Any]] = ()
) -> dict:
    return {
        "error": {
            "code": http_status,
            "status": code.name,
            "message": message,
            "details": list(details),
        }
    }


def _detail_to_dict(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        return json_format.MessageToDict(detail)
    except Exception:
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode("ascii")}


def details_to_json(details: Iterable[any_pb2.Any]) -> list[dict[str, Any]]:
    return [_detail_to_dict(d) for d in details]


def status_to_http(status: status_pb2.Status) -> tuple[int, dict]:
    """``(http status, body)`` for a ``google.rpc.Status``."""
    code = code_from_int(status.code)
    http = grpc_code_to_http(code)
    if code in _OPAQUE:
        safe = [d for d in status.details if d.type_url in _SAFE_OPAQUE_DETAILS]
        return http, error_body(http, code, "internal error", details_to_json(safe))
    return http, error_body(http, code, status.message, details_to_json(status.details))


def _status_from_trailers(trailers: Iterable[tuple[str, Any]] | None) -> status_pb2.Status | None:
    for key, value in trailers or ():
        if key != STATUS_DETAILS_KEY:
            continue
        raw = value
        if isinstance(raw, str):  # should be bytes for a -bin key; tolerate base64 text
            try:
                raw = base64.b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                return None
        try:
            return status_pb2.Status.FromString(raw)
        except DecodeError:
            return None
    return None


def rpc_error_to_http(error: grpc.RpcError, *, backend: str) -> tuple[int, dict]:
    """``(http status, body)`` for a failed backend call (``grpc.aio.AioRpcError``)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    status = _status_from_trailers(trailers)
    if status is not None and status.code == code.value[0]:
        return status_to_http(status)
    http = grpc_code_to_http(code)
    if code in _OPAQUE:
        return http, error_body(http, code, "internal error")
    if code is grpc.StatusCode.UNAVAILABLE:
        # Transport errors name internal addresses; say which backend instead.
        return http, error_body(
            http,
            code,
            f"the {backend} service is unavailable, retry later",
            [info_detail("BACKEND_UNAVAILABLE", {"service": backend})],
        )
    message = error.details() if hasattr(error, "details") else ""
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"the {backend} service did not answer in time"
    return http, error_body(http, code, message or code.name.replace("_", " ").lower())


# A backend that sheds load (RESOURCE_EXHAUSTED) or cannot be reached (UNAVAILABLE): the caller may
# come back later, and HTTP says when with Retry-After (RFC 9110 §10.2.3, whole seconds).
_RETRY_LATER = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def retry_after_seconds(error: grpc.RpcError, default_s: int) -> int | None:
    """``Retry-After`` for a failed backend call: None unless the code says "retry later"; else the
    status's ``google.rpc.RetryInfo`` delay rounded up to whole seconds (at least 1), or ``default_s``."""
    code = error.code() if hasattr(error, "code") else None
    if code not in _RETRY_LATER:
        return None
    status = _status_from_trailers(error.trailing_metadata() if hasattr(error, "trailing_metadata") else None)
    for detail in status.details if status is not None else ():
        if detail.type_url != _RETRY_INFO_TYPE:
            continue
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info) and info.HasField("retry_delay"):
            delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            return max(1, math.ceil(delay))
    return default_s


def info_detail(reason: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return json_format.MessageToDict(
        _pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {}))
    )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class GatewayError(Exception):
    """An error the gateway answers by itself, without (or instead of) calling a backend."""

    def __init__(
        self,
        http_status: int,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        violations: Sequence[tuple[str, str]] = (),
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        retry_after_s: int | None = None,
    ):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.reason = reason or code.name
        self.violations = list(violations)
        self.metadata = dict(metadata or {})
        self.headers = dict(headers or {})
        # "Come back in N seconds": a Retry-After header and a google.rpc.RetryInfo detail.
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(retry_after_s)

    @classmethod
    def bad_request(
        cls,
        violations: Sequence[tuple[str, str]],
        message: str | None = None,
        *,
        reason: str = "INVALID_ARGUMENT",
    ) -> GatewayError:
        if message is None:
            message = "; ".join(f"{f}: {d}" if f else d for f, d in violations) or "invalid request"
        return cls(400, grpc.StatusCode.INVALID_ARGUMENT, message, reason=reason, violations=violations)

    def to_status(self) -> status_pb2.Status:
        details = [
            _pack(
                error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
            )
        ]
        if self.retry_after_s is not None:
            retry = error_details_pb2.RetryInfo()
            retry.retry_delay.seconds = self.retry_after_s
            details.append(_pack(retry))
        if self.violations:
            details.append(
                _pack(
                    error_details_pb2.BadRequest(
                        field_violations=[
                            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                            for f, d in self.violations
                        ]
                    )
                )
            )
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)

    def body(self) -> dict:
        return error_body(
            self.http_status, self.code, self.message, details_to_json(self.to_status().details)
        )
