"""WalletService RPCs for the finance views and ReverseTransaction: a mixin of WalletServicer
(grpc_servicer.py), which supplies `_mutate` and `_read` (kit.servicer).

Attribution rules of the views are documented in services/wallet/service_layer/finance.py:
stored value is owed by the store that sold it (lots per selling store; rows never negative and
sum exactly to the total owed), and inter-store clearing covers package sessions and
stored-value principal spent at another store than the one that sold it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import finance_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.ids import parse_path
from kit.proto import ts
from services.wallet.entrypoints.mapping import (
    store_name,
    time_of,
    transaction_id_of,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.service_layer import finance as fin
from services.wallet.service_layer import membership
from services.wallet.service_layer import reversals as rev
from services.wallet.service_layer import stored_value as sv


class FinanceRpc:
    # --- finance views --------------------------------------------------------------------------
    async def GetStoredValueLiability(
        self, request: pb.GetStoredValueLiabilityRequest, context
    ) -> pb.GetStoredValueLiabilityResponse:
        caller = current_principal()
        as_of = time_of(request, "as_of")
        result = await self._read(lambda uow: fin.stored_value_liability(uow, caller, as_of))
        return pb.GetStoredValueLiabilityResponse(
            rows=[
                finance_pb2.StoredValueLiability(
                    store=store_name(r.store_id),
                    principal_minor=r.principal,
                    bonus_minor=r.bonus,
                    locked_bonus_minor=r.locked_bonus,
                )
                for r in result.rows
            ],
            total_principal_minor=result.total_principal,
            total_bonus_minor=result.total_bonus,
            as_of=ts(result.as_of),
            currency_code=result.currency,
        )

    async def GetPointsLiability(
        self, request: pb.GetPointsLiabilityRequest, context
    ) -> pb.GetPointsLiabilityResponse:
        caller = current_principal()
        as_of = time_of(request, "as_of")
        result = await self._read(lambda uow: fin.points_liability(uow, caller, as_of))
        return pb.GetPointsLiabilityResponse(
            points_liability=finance_pb2.PointsLiability(
                points_outstanding=result.outstanding,
                valued_minor=result.valued_minor,
                points_pending=result.pending,
            ),
            as_of=ts(result.as_of),
            currency_code=result.currency,
        )

    async def GetPackageDeferredRevenue(
        self, request: pb.GetPackageDeferredRevenueRequest, context
    ) -> pb.GetPackageDeferredRevenueResponse:
        caller = current_principal()
        as_of = time_of(request, "as_of")
        result = await self._read(lambda uow: fin.package_deferred_revenue(uow, caller, as_of))
        return pb.GetPackageDeferredRevenueResponse(
            rows=[
                finance_pb2.PackageDeferredRevenue(
                    store=store_name(r.store_id), deferred_minor=r.deferred, sessions_outstanding=r.sessions
                )
                for r in result.rows
            ],
            total_deferred_minor=result.total,
            as_of=ts(result.as_of),
            currency_code=result.currency,
        )

    async def GetInterStoreClearing(
        self, request: pb.GetInterStoreClearingRequest, context
    ) -> pb.GetInterStoreClearingResponse:
        caller = current_principal()
        missing = [(f, "is required") for f in ("start_time", "end_time") if not request.HasField(f)]
        if missing:
            raise InvalidArgument(missing)
        start, end = time_of(request, "start_time"), time_of(request, "end_time")
        currency, rows = await self._read(lambda uow: fin.inter_store_clearing(uow, caller, start, end))
        return pb.GetInterStoreClearingResponse(
            entries=[
                finance_pb2.ClearingEntry(
                    sold_store=store_name(r.sold_store),
                    consumed_store=store_name(r.consumed_store),
                    amount_minor=r.amount_minor,
                    stored_value_minor=r.stored_value_minor,
                    package_minor=r.package_minor,
                )
                for r in rows
            ],
            currency_code=currency,
        )

    # --- membership (会员费 / 续费) ---------------------------------------------------------------
    async def GetMembership(self, request: pb.GetMembershipRequest, context) -> pb.GetMembershipResponse:
        ids = parse_path(request.name, "members/{uuid}/membership")
        if ids is None:
            raise InvalidArgument([("name", "must be members/{member}/membership")])
        member_id = ids[0]
        caller = current_principal()
        row = await self._read(lambda uow: membership.get(uow, caller, member_id))
        got = pb.Membership(name=f"members/{member_id}/membership")
        if row is not None:
            got.paid_until.CopyFrom(ts(row.paid_until))
            got.active = row.paid_until > datetime.now(UTC)
            got.periods_paid = row.periods_paid
            got.renewals = row.renewals
        return pb.GetMembershipResponse(membership=got)

    async def GetMembershipRenewalRate(
        self, request: pb.GetMembershipRenewalRateRequest, context
    ) -> pb.GetMembershipRenewalRateResponse:
        caller = current_principal()
        missing = [(f, "is required") for f in ("start_time", "end_time") if not request.HasField(f)]
        if missing:
            raise InvalidArgument(missing)
        start, end = time_of(request, "start_time"), time_of(request, "end_time")
        due, renewed = await self._read(
            lambda uow: membership.renewal_rate(uow, caller, start=start, end=end)
        )
        return pb.GetMembershipRenewalRateResponse(
            due=due, renewed=renewed, renewal_rate_bps=renewed * 10_000 // due if due else 0
        )

    # --- reversal -------------------------------------------------------------------------------
    async def ReverseTransaction(
        self, request: pb.ReverseTransactionRequest, context
    ) -> pb.ReverseTransactionResponse:
        transaction_id, member_id = transaction_id_of(request.name)
        if not request.reason.strip():
            raise InvalidArgument([("reason", "a reversal needs a reason (it is audited)")])
        caller = current_principal()

        async def effect(uow) -> pb.ReverseTransactionResponse:
            result = await rev.reverse_transaction(
                uow, caller, transaction_id=transaction_id, member_id=member_id, reason=request.reason
            )
            reversal = transaction_to_proto(result.reversal, caller.tenant)
            reversed_ = transaction_to_proto(result.original, caller.tenant)
            reversed_.reversed_by = sv.transaction_name(result.reversal)
            member = result.original.member_id
            return pb.ReverseTransactionResponse(
                reversal=reversal,
                reversed=reversed_,
                wallet=wallet_to_proto(await sv.snapshot(uow, member)) if member else None,
            )

        return await self._mutate("ReverseTransaction", request, pb.ReverseTransactionResponse, effect)
