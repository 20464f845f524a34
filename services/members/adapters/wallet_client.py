"""gRPC client of the wallet service, as members uses it: checking a campaign's reward voucher
template at creation (``GetVoucherTemplate``), and writing an import's opening balances and
vouchers through the wallet's internal ``ApplyImportBatch`` (each service owns its database).

Members calls the wallet as itself (kit/service_auth.py: role ``service``, the tenant of the
request being served), with a deadline and UNAVAILABLE retried under the wallet's retry budget
(``kit.service_auth.call_with_retries``); the channel is balanced over every wallet replica
(kit/grpc_client.py). An unknown template is NOT_FOUND, a deactivated one FAILED_PRECONDITION;
a wallet that cannot be reached is UNAVAILABLE ``WALLET_UNAVAILABLE`` — never a campaign created
with a reward nobody checked. The import calls carry the extra role ``importer`` (kit/auth.py),
which only members' own identity holds; one channel serves both.
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc

from kit.config import ServiceConfig
from kit.errors import DomainError, FailedPrecondition, NotFound
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target, error_reason
from kit.logging import get_logger
from kit.retry import budget_for
from kit.service_auth import ServiceCredentialError, ServiceCredentials, call_with_retries
from kit.telemetry import client_interceptors

log = get_logger("peony.members.wallet_client")

DEFAULT_DEADLINE_S = 2.0
DEFAULT_ATTEMPTS = 3
BACKOFF_S = 0.2
DEADLINE_VAR = "PEONY_MEMBERS_WALLET_DEADLINE_SECONDS"

IMPORTER_ROLE = "importer"
IMPORT_CALL_TIMEOUT_S = 120.0  # one batch of 500 openings in one wallet transaction
# Transient for an import batch: the wallet restarting, overloaded or a serialization conflict.
# Anything else is a defect or a refusal and fails the operation.
IMPORT_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
# Tries per batch call. Only the ImportService's worker calls ApplyImportBatch, and it retries the
# whole run from its checkpoint with its own doubling backoff (PEONY_MEMBERS_IMPORT_MAX_ATTEMPTS):
# a long in-call retry loop on top of that multiplied the calls to a wallet that is down (8 x 5).
IMPORT_ATTEMPTS = 3


def _ts(value) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class WalletUnavailable(DomainError):
    """The wallet could not be asked (down, no service credential): UNAVAILABLE."""

    code = "UNAVAILABLE"
    default_reason = "WALLET_UNAVAILABLE"


class WalletClient:
    def __init__(
        self,
        target: str,
        credentials: ServiceCredentials,
        *,
        importer_credentials: ServiceCredentials | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        channel_settings: ClientChannelSettings | None = None,
    ):
        self.target = target
        self._credentials = credentials
        self._importer_credentials = importer_credentials
        self._deadline_s = deadline_s
        self._channel = grpc.aio.insecure_channel(
            client_target(target),
            options=client_channel_options(channel_settings),
            interceptors=client_interceptors(target),
        )
        self._retry_budget = budget_for(target)
        self._stub = wpb_grpc.WalletServiceStub(self._channel)

    @classmethod
    def from_config(cls, config: ServiceConfig) -> WalletClient:
        """``PEONY_WALLET_ADDR``, as members, deadline ``PEONY_MEMBERS_WALLET_DEADLINE_SECONDS``."""
        return cls(
            config.service_addrs["wallet"],
            ServiceCredentials.from_config(config),
            importer_credentials=ServiceCredentials.from_config(config, extra_roles=(IMPORTER_ROLE,)),
            deadline_s=float(config.extra.get(DEADLINE_VAR) or DEFAULT_DEADLINE_S),
            channel_settings=config.grpc_channel,
        )

    async def close(self) -> None:
        await self._channel.close()

    async def require_active_voucher_template(self, tenant: str, template_id: str, field: str) -> None:
        """NOT_FOUND / FAILED_PRECONDITION unless ``voucherTemplates/{template_id}`` exists and
        vouchers can still be issued from it."""
        name = f"voucherTemplates/{template_id}"
        try:
            metadata = self._credentials.metadata(tenant)
        except ServiceCredentialError as exc:
            log.error("no service credential for the wallet", tenant=tenant, error=str(exc))
            raise WalletUnavailable("members has no credential to ask the wallet") from exc
        try:
            got = await call_with_retries(
                self._stub.GetVoucherTemplate,
                wpb.GetVoucherTemplateRequest(name=name),
                metadata=metadata,
                deadline_s=self._deadline_s,
                attempts=DEFAULT_ATTEMPTS,
                backoff_s=BACKOFF_S,
                retryable=lambda exc: exc.code() == grpc.StatusCode.UNAVAILABLE,
                budget=self._retry_budget,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"{field}: {name} not found", reason="VOUCHER_TEMPLATE_NOT_FOUND") from None
            log.warning(
                "wallet template check failed", code=exc.code().name, reason=error_reason(exc), tenant=tenant
            )
            raise WalletUnavailable(f"the wallet did not answer for {name}") from exc
        if not got.voucher_template.active:
            raise FailedPrecondition(f"{field}: {name} is not active", reason="VOUCHER_TEMPLATE_INACTIVE")

    def _importer(self) -> ServiceCredentials:
        if self._importer_credentials is None:
            raise RuntimeError("this wallet client was built without the importer credential")
        return self._importer_credentials

    async def apply_import_batch(
        self, tenant: str, request: wpb.ApplyImportBatchRequest
    ) -> wpb.ApplyImportBatchResponse:
        """Idempotent by (import id, row) on the wallet's side, so a retry after a lost reply is safe."""
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            try:
                return await self._stub.ApplyImportBatch(
                    request, metadata=self._importer().metadata(tenant), timeout=IMPORT_CALL_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in IMPORT_RETRYABLE or attempt == IMPORT_ATTEMPTS:
                    raise
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")

    @staticmethod
    def openings_request(import_id: str, openings) -> wpb.ApplyImportBatchRequest:
        return wpb.ApplyImportBatchRequest(
            import_id=import_id,
            openings=[
                wpb.ImportOpening(
                    row=o.row,
                    member=f"members/{o.member_id}",
                    store=f"stores/{o.store_id}",
                    principal_minor=o.principal_minor,
                    bonus_minor=o.bonus_minor,
                    points=o.points,
                    points_expire_time=_ts(o.points_expire_time),
                    items=[
                        wpb.ImportOpeningItem(
                            service=i.service,
                            display_name=i.display_name,
                            sessions=i.sessions,
                            expire_time=_ts(i.expire_time),
                        )
                        for i in o.items
                    ],
                )
                for o in openings
            ],
        )

    @staticmethod
    def vouchers_request(import_id: str, vouchers, *, dry_run: bool) -> wpb.ApplyImportBatchRequest:
        return wpb.ApplyImportBatchRequest(
            import_id=import_id,
            dry_run=dry_run,
            vouchers=[
                wpb.ImportVoucher(
                    row=v.row,
                    member=f"members/{member_id}",
                    code=v.code,
                    display_name=v.name,
                    amount_off_minor=v.amount_minor,
                    min_spend_minor=v.min_spend_minor,
                    valid_until=_ts(v.valid_until),
                )
                for v, member_id in vouchers
            ],
        )
