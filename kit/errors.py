"""Domain errors and their wire form (AIP-193).

Handlers raise these; the server interceptor turns them into a `google.rpc.Status` carrying an
`ErrorInfo` (machine-readable reason) and, for bad input, a `BadRequest` with one field violation
per problem. Anything else that escapes a handler is a bug and becomes a bare INTERNAL.

Plain exceptions: this module is imported by every ``domain/`` package, which must not depend on
gRPC. ``code`` is the canonical status *name* (``google.rpc.Code``); the edge
(``kit.grpc_server.grpc_code``) maps it to a ``grpc.StatusCode``.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "peony.dev"


class DomainError(Exception):
    """A refusal the caller can act on. Subclasses fix the gRPC code."""

    code: str = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})

    def details(self) -> list[any_pb2.Any]:
        info = any_pb2.Any()
        info.Pack(
            error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        )
        return [info]

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(
            code=code_pb2.Code.Value(self.code), message=self.message, details=self.details()
        )


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: list[tuple[str, str]] | None = None,
        message: str | None = None,
        *,
        reason: str | None = None,
    ):
        self.violations = list(violations or [])
        if message is None:
            message = "; ".join(f"{f}: {d}" for f, d in self.violations) or "invalid argument"
        super().__init__(message, reason=reason)

    def details(self) -> list[any_pb2.Any]:
        details = super().details()
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad)
            details.append(packed)
        return details


class NotFound(DomainError):
    code = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = "FAILED_PRECONDITION"


class Aborted(DomainError):
    code = "ABORTED"
    default_reason = "ABORTED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = "RESOURCE_EXHAUSTED"
    default_reason = "RESOURCE_EXHAUSTED"


class Overloaded(ResourceExhausted):
    """Refused for load, not for anything the request did: retry after `retry_delay_s` (sent as a
    `google.rpc.RetryInfo` next to the `ErrorInfo`, which is what well-behaved clients wait for)."""

    default_reason = "OVERLOADED"

    def __init__(self, message: str, *, retry_delay_s: float, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.retry_delay_s = retry_delay_s

    def details(self) -> list[any_pb2.Any]:
        details = super().details()
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(self.retry_delay_s * 1000))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(packed)
        return details


class Violations:
    """Collects every problem with a request so the caller gets them all in one reply."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def require(self, field: str, value: object, description: str = "is required") -> bool:
        if value in (None, "", b"") or (isinstance(value, list | tuple) and not value):
            self.add(field, description)
            return False
        return True

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, *, reason: str | None = None) -> None:
        if self.items:
            raise InvalidArgument(self.items, reason=reason)


def grpc_trailers(status: status_pb2.Status) -> tuple[tuple[str, bytes], ...]:
    """The trailing metadata that carries the rich status (what grpc_status.rpc_status reads)."""
    return (("grpc-status-details-bin", status.SerializeToString()),)


INTERNAL_STATUS = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
