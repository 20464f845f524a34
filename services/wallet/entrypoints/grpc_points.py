"""WalletService RPCs of points: lots, grants and adjustments, and the points policy. A mixin of
WalletServicer (grpc_servicer.py), which supplies `_mutate`, `_read` and `_tokens` (kit.servicer)."""

from __future__ import annotations

from peony.wallet.v1 import points_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.pagination import page_size
from services.wallet.entrypoints.mapping import (
    enum_name,
    lot_to_proto,
    member_id_of,
    points_policy_to_proto,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer import wallet_settings
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

# PointsPolicy field -> WalletSettings attribute
_POLICY_FIELDS = {
    "points_per_yuan": "points_per_yuan",
    "expiry_policy": "expiry_policy",
    "expiry_months": "expiry_months",
    "expiry_days": "expiry_days",
    "pending_days": "pending_days",
    "redemption_rate_points_per_yuan": "redemption_points_per_yuan",
    "min_redeem_points": "min_redeem_points",
    "max_redeem_bps": "max_redeem_bps",
    "expiring_notice_days": "expiring_notice_days",
    "check_in_points": "check_in_points",
    "check_in_streak_days": "check_in_streak_days",
    "check_in_streak_bonus_points": "check_in_streak_bonus",
}


class PointsRpc:
    async def ListPointLots(self, request: pb.ListPointLotsRequest, context) -> pb.ListPointLotsResponse:
        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|lots|{member_id}|{request.show_empty}"
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow: WalletUnitOfWork) -> pb.ListPointLotsResponse:
            await uow.members.require(member_id)
            rows = [r for r in await uow.lots.for_member(member_id) if after is None or r.lot_id > after]
            rows = [r for r in rows if request.show_empty or r.remaining > 0][:size]
            token = (
                self._tokens.encode({"after": rows[-1].lot_id}, binding=binding) if len(rows) == size else ""
            )
            return pb.ListPointLotsResponse(
                point_lots=[lot_to_proto(member_id, r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def GrantPoints(self, request: pb.GrantPointsRequest, context) -> pb.GrantPointsResponse:
        member_id = member_id_of(request.member, "member")
        source = enum_name(points_pb2.LotSource, request.source)
        if source not in ("referral", "activity", "birthday"):
            raise InvalidArgument([("source", "must be REFERRAL, ACTIVITY or BIRTHDAY")])
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.GrantPointsResponse:
            posted, lot = await pts.grant_points(
                uow, caller, member_id=member_id, points=request.points, source=source, reason=request.reason
            )
            return pb.GrantPointsResponse(
                transaction=transaction_to_proto(posted, caller.tenant),
                point_lot=lot_to_proto(member_id, lot),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("GrantPoints", request, pb.GrantPointsResponse, effect)

    async def AdjustPoints(self, request: pb.AdjustPointsRequest, context) -> pb.AdjustPointsResponse:
        member_id = member_id_of(request.member, "member")
        if request.delta == 0:
            raise InvalidArgument([("delta", "must not be zero")])
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.AdjustPointsResponse:
            lot = None
            if request.delta > 0:
                posted, lot = await pts.grant_points(
                    uow,
                    caller,
                    member_id=member_id,
                    points=request.delta,
                    source="adjustment",
                    reason=request.reason,
                )
            else:
                posted = await pts.deduct_points(
                    uow, caller, member_id=member_id, points=-request.delta, reason=request.reason
                )
            return pb.AdjustPointsResponse(
                transaction=transaction_to_proto(posted, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
                point_lot=lot_to_proto(member_id, lot) if lot else None,
            )

        return await self._mutate("AdjustPoints", request, pb.AdjustPointsResponse, effect)

    # --- statement, plan updates, points policy -----------------------------------------------

    # --- points policy ------------------------------------------------------------------------
    async def GetPointsPolicy(
        self, request: pb.GetPointsPolicyRequest, context
    ) -> pb.GetPointsPolicyResponse:
        current_principal().require(auth.WALLET_READ)
        settings = await self._read(lambda uow: uow.settings.get())
        return pb.GetPointsPolicyResponse(points_policy=points_policy_to_proto(settings))

    async def UpdatePointsPolicy(
        self, request: pb.UpdatePointsPolicyRequest, context
    ) -> pb.UpdatePointsPolicyResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        paths = list(request.update_mask.paths)
        bad = [p for p in paths if p not in _POLICY_FIELDS]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} is not a field you can update") for p in bad]
                or [("update_mask", "name at least one field to update")]
            )
        patch = request.points_policy
        values = {_POLICY_FIELDS[path]: getattr(patch, path) for path in paths}
        if "expiry_policy" in paths:
            values["expiry_policy"] = enum_name(
                points_pb2.PointsExpiryPolicy, patch.expiry_policy, unknown="invalid"
            )

        async def effect(uow: WalletUnitOfWork) -> pb.UpdatePointsPolicyResponse:
            updated = await wallet_settings.update(uow, caller, values, field="points_policy")
            return pb.UpdatePointsPolicyResponse(points_policy=points_policy_to_proto(updated))

        return await self._mutate("UpdatePointsPolicy", request, pb.UpdatePointsPolicyResponse, effect)
