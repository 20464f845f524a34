"""gRPC client of the wallet's internal `ApplyImportBatch`: the import worker writes the wallet's
opening balances and vouchers through the wallet (each service owns its database), as members'
own identity with the `importer` role (kit/auth.py), which only it holds."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc

from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target
from kit.service_auth import ServiceCredentials
from kit.telemetry import client_interceptors

IMPORTER_ROLE = "importer"
CALL_TIMEOUT_S = 120.0  # one batch of 500 openings in one wallet transaction
# Transient: the wallet restarting, overloaded or a serialization conflict. Anything else is a
# defect or a refusal and fails the operation.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
ATTEMPTS = 8


def _ts(value) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class WalletImports:
    def __init__(
        self,
        target: str,
        credentials: ServiceCredentials,
        *,
        channel_settings: ClientChannelSettings | None = None,
    ):
        self._credentials = credentials
        self._channel = grpc.aio.insecure_channel(
            client_target(target),
            options=client_channel_options(channel_settings),
            interceptors=client_interceptors(target),
        )
        self._stub = wpb_grpc.WalletServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def apply(self, tenant: str, request: wpb.ApplyImportBatchRequest) -> wpb.ApplyImportBatchResponse:
        """Idempotent by (import id, row) on the wallet's side, so a retry after a lost reply is safe."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._stub.ApplyImportBatch(
                    request, metadata=self._credentials.metadata(tenant), timeout=CALL_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or attempt == ATTEMPTS:
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
