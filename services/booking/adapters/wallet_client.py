"""gRPC client of the wallet service, as booking uses it for appointments' holds.

The booking service calls the wallet as itself (kit/service_auth.py: role `service`, the
tenant of the request or job item being served), never with its caller's token. Every call has a
deadline (retries included, never past the deadline of the request being served); UNAVAILABLE (and
the wallet's ABORTED `REQUEST_IN_FLIGHT`) is retried a few times with jittered backoff under the
wallet's retry budget (`kit.service_auth.call_with_retries`), which is safe because every mutation
carries an idempotency `request_id`. Each call is a
CLIENT span and carries the W3C trace context (kit.telemetry's client interceptors).

Errors come back as `WalletError` with the wallet's status code, reason and metadata; a refusal
(`refused`) is the wallet's final answer, anything else (`transient`) may succeed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc

from kit.errors import DomainError
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target
from kit.logging import get_logger
from kit.retry import budget_for
from kit.service_auth import ServiceCredentialError, ServiceCredentials, call_with_retries
from kit.telemetry import client_interceptors

log = get_logger("peony.booking.wallet_client")

DEFAULT_DEADLINE_S = 5.0
DEFAULT_ATTEMPTS = 3
BACKOFF_S = 0.2
# The wallet's own answers: retrying the same request gives the same refusal.
_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


class WalletUnavailable(DomainError):
    """The wallet could not be reached (or could not answer) for a hold: UNAVAILABLE."""

    code = "UNAVAILABLE"
    default_reason = "WALLET_UNAVAILABLE"


@dataclass
class WalletError(Exception):
    code: grpc.StatusCode
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # fields named by a BadRequest

    def __str__(self) -> str:
        return f"wallet {self.code.name} {self.reason}: {self.message}"

    @property
    def refused(self) -> bool:
        """The wallet refused the request itself (not worth retrying)."""
        return self.code in _REFUSALS

    @property
    def transient(self) -> bool:
        return not self.refused


def _error_of(err: grpc.aio.AioRpcError) -> WalletError:
    reason, metadata, fields = "", {}, []
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw:
        try:
            for detail in status_pb2.Status.FromString(raw).details:
                info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
                if detail.Unpack(info):
                    reason, metadata = info.reason, dict(info.metadata)
                elif detail.Unpack(bad):
                    fields.extend(v.field for v in bad.field_violations)
        except Exception:  # a malformed detail leaves the bare status
            log.warning("unreadable error details from the wallet", code=err.code().name)
    return WalletError(err.code(), reason or err.code().name, err.details() or "", metadata, tuple(fields))


class WalletClient:
    def __init__(
        self,
        target: str,
        credentials: ServiceCredentials,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        channel_settings: ClientChannelSettings | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
    ):
        self.target = target
        self._credentials = credentials
        self._deadline_s = deadline_s
        self._attempts = max(1, attempts)
        # Balanced over every replica of the service (kit/grpc_client.py).
        self._channel = grpc.aio.insecure_channel(
            client_target(target),
            options=client_channel_options(channel_settings),
            interceptors=client_interceptors(target),
        )
        self._retry_budget = budget_for(target)
        self._stub = wpb_grpc.WalletServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def authorize_hold(
        self, tenant: str, request: wpb.AuthorizeHoldRequest
    ) -> wpb.AuthorizeHoldResponse:
        return await self._call("AuthorizeHold", self._stub.AuthorizeHold, tenant, request)

    async def capture_hold(self, tenant: str, request: wpb.CaptureHoldRequest) -> wpb.CaptureHoldResponse:
        return await self._call("CaptureHold", self._stub.CaptureHold, tenant, request)

    async def void_hold(self, tenant: str, request: wpb.VoidHoldRequest) -> wpb.VoidHoldResponse:
        return await self._call("VoidHold", self._stub.VoidHold, tenant, request)

    async def extend_hold(self, tenant: str, request: wpb.ExtendHoldRequest) -> wpb.ExtendHoldResponse:
        return await self._call("ExtendHold", self._stub.ExtendHold, tenant, request)

    async def get_hold(self, tenant: str, name: str) -> wpb.GetHoldResponse:
        return await self._call("GetHold", self._stub.GetHold, tenant, wpb.GetHoldRequest(name=name))

    async def _call(self, method: str, rpc, tenant: str, request):
        try:
            metadata = self._credentials.metadata(tenant)
        except ServiceCredentialError as exc:
            log.error("no service credential for the wallet", tenant=tenant, error=str(exc))
            raise WalletError(grpc.StatusCode.UNAUTHENTICATED, "NO_SERVICE_CREDENTIAL", str(exc)) from exc
        attempt = 0

        def retryable(exc: grpc.aio.AioRpcError) -> bool:
            nonlocal attempt
            attempt += 1
            error = _error_of(exc)
            if error.code == grpc.StatusCode.UNAVAILABLE or error.reason == "REQUEST_IN_FLIGHT":
                log.warning("wallet call retried", method=method, attempt=attempt, code=error.code.name)
                return True
            return False

        try:
            return await call_with_retries(
                rpc,
                request,
                metadata=metadata,
                deadline_s=self._deadline_s,
                attempts=self._attempts,
                backoff_s=BACKOFF_S,
                retryable=retryable,
                budget=self._retry_budget,
            )
        except grpc.aio.AioRpcError as exc:
            raise _error_of(exc) from exc
