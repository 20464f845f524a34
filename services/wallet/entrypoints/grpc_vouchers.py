"""WalletService RPCs for vouchers, the points rewards catalog and daily check-in: a mixin of
WalletServicer (see grpc_servicer.py for the helpers it relies on: self._mutate, self._read,
self._tokens). Helpers of grpc_servicer are imported inside the methods (it imports this module).
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import points_pb2, vouchers_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy.engine import Row

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.ids import is_resource_id, new_id, parse_name, parse_path
from kit.pagination import page_size
from kit.proto import ts
from services.wallet.domain import vouchers as dv
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer import vouchers as vs

_VOUCHER_KIND = {
    dv.AMOUNT_OFF: vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
    dv.PERCENT_OFF: vouchers_pb2.VOUCHER_KIND_PERCENT_OFF,
    dv.FREE_SERVICE: vouchers_pb2.VOUCHER_KIND_FREE_SERVICE,
}
_VOUCHER_KIND_BACK = {v: k for k, v in _VOUCHER_KIND.items()}
_VOUCHER_STATE = {
    dv.ISSUED: vouchers_pb2.VOUCHER_STATE_ISSUED,
    dv.REDEEMED: vouchers_pb2.VOUCHER_STATE_REDEEMED,
    dv.VOIDED: vouchers_pb2.VOUCHER_STATE_VOIDED,
    dv.EXPIRED: vouchers_pb2.VOUCHER_STATE_EXPIRED,
}
_VOUCHER_STATE_BACK = {v: k for k, v in _VOUCHER_STATE.items()}
_REWARD_KIND = {
    dv.PRODUCT: points_pb2.REWARD_KIND_PRODUCT,
    dv.SERVICE: points_pb2.REWARD_KIND_SERVICE,
    dv.VOUCHER: points_pb2.REWARD_KIND_VOUCHER,
}
_REWARD_KIND_BACK = {v: k for k, v in _REWARD_KIND.items()}
_REWARD_UPDATABLE = ("display_name", "points_cost", "stock", "active", "item")


def template_to_proto(r: Row) -> vouchers_pb2.VoucherTemplate:
    return vouchers_pb2.VoucherTemplate(
        name=f"voucherTemplates/{r.template_id}",
        display_name=r.display_name,
        kind=_VOUCHER_KIND[r.kind],
        amount_off_minor=r.amount_off_minor,
        percent_off_bps=r.percent_off_bps,
        max_discount_minor=r.max_discount_minor,
        free_service=r.free_service,
        min_spend_minor=r.min_spend_minor,
        stores=[f"stores/{s}" for s in r.stores],
        valid_days=r.valid_days,
        valid_from=ts(r.valid_from),
        valid_until=ts(r.valid_until),
        currency_code=r.currency_code,
        active=r.active,
        create_time=ts(r.create_time),
    )


def voucher_to_proto(r: Row, now: datetime | None = None) -> vouchers_pb2.Voucher:
    state = dv.effective_state(r.state, r.valid_until, now or datetime.now(UTC))
    return vouchers_pb2.Voucher(
        name=vs.voucher_name(r),
        template=f"voucherTemplates/{r.template_id}",
        code=r.code,
        state=_VOUCHER_STATE[state],
        valid_from=ts(r.valid_from),
        valid_until=ts(r.valid_until),
        redeemed_checkout=f"checkouts/{r.redeemed_checkout_id}" if r.state == dv.REDEEMED else "",
        display_name=r.display_name,
        kind=_VOUCHER_KIND[r.kind],
        amount_off_minor=r.amount_off_minor,
        percent_off_bps=r.percent_off_bps,
        max_discount_minor=r.max_discount_minor,
        free_service=r.free_service,
        min_spend_minor=r.min_spend_minor,
        stores=[f"stores/{s}" for s in r.stores],
        reason=r.reason,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def reward_to_proto(r: Row) -> points_pb2.Reward:
    return points_pb2.Reward(
        name=f"rewards/{r.reward_id}",
        display_name=r.display_name,
        points_cost=r.points_cost,
        stock=r.stock,
        kind=_REWARD_KIND[r.kind],
        item=r.item,
        active=r.active,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def _stores(names, field: str) -> list[str]:
    stores = [parse_name(s, "stores") for s in names]
    if any(s is None for s in stores):
        raise InvalidArgument([(field, "each must be stores/{store}")])
    return [s for s in stores if s]


def _optional_store(name: str) -> str | None:
    if not name:
        return None
    from services.wallet.entrypoints.grpc_servicer import store_id_of

    return store_id_of(name)


def _new_resource_id(value: str, field: str) -> str:
    if value and not is_resource_id(value):
        raise InvalidArgument([(field, "must match [a-z0-9][a-z0-9-]{0,62}")])
    return value or new_id()


class VouchersRpc:
    # --- voucher templates --------------------------------------------------------------------
    async def CreateVoucherTemplate(self, request, context) -> pb.CreateVoucherTemplateResponse:
        caller = current_principal()
        t = request.voucher_template
        template_id = _new_resource_id(request.voucher_template_id, "voucher_template_id")
        terms = dv.VoucherTerms(
            display_name=t.display_name.strip(),
            kind=_VOUCHER_KIND_BACK.get(t.kind, ""),
            amount_off_minor=t.amount_off_minor,
            percent_off_bps=t.percent_off_bps,
            max_discount_minor=t.max_discount_minor,
            free_service=t.free_service,
            min_spend_minor=t.min_spend_minor,
            stores=_stores(t.stores, "voucher_template.stores"),
        )
        valid_from = t.valid_from.ToDatetime(UTC) if t.HasField("valid_from") else None
        valid_until = t.valid_until.ToDatetime(UTC) if t.HasField("valid_until") else None

        async def effect(uow) -> pb.CreateVoucherTemplateResponse:
            row = await vs.create_template(
                uow,
                caller,
                template_id=template_id,
                terms=terms,
                valid_days=t.valid_days,
                valid_from=valid_from,
                valid_until=valid_until,
                currency=t.currency_code,
            )
            return pb.CreateVoucherTemplateResponse(voucher_template=template_to_proto(row))

        return await self._mutate("CreateVoucherTemplate", request, pb.CreateVoucherTemplateResponse, effect)

    async def ListVoucherTemplates(self, request, context) -> pb.ListVoucherTemplatesResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        binding = f"{caller.tenant}|voucherTemplates"
        size = page_size(request.page_size)
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow) -> pb.ListVoucherTemplatesResponse:
            rows = await vs.vouchers_of(uow).list_templates(limit=size, after=after)
            token = (
                self._tokens.encode({"after": rows[-1].template_id}, binding=binding)
                if len(rows) == size
                else ""
            )
            return pb.ListVoucherTemplatesResponse(
                voucher_templates=[template_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    # --- vouchers -----------------------------------------------------------------------------
    async def IssueVoucher(self, request, context) -> pb.IssueVoucherResponse:
        from services.wallet.entrypoints.grpc_servicer import member_id_of

        member_id = member_id_of(request.member, "member")
        template_id = parse_name(request.template, "voucherTemplates")
        if not template_id:
            raise InvalidArgument([("template", "must be voucherTemplates/{template}")])
        caller = current_principal()

        async def effect(uow) -> pb.IssueVoucherResponse:
            row = await vs.issue_voucher(
                uow, caller, member_id=member_id, template_id=template_id, reason=request.reason
            )
            return pb.IssueVoucherResponse(voucher=voucher_to_proto(row))

        return await self._mutate("IssueVoucher", request, pb.IssueVoucherResponse, effect)

    async def VoidVoucher(self, request, context) -> pb.VoidVoucherResponse:
        ids = parse_path(request.name, "members/{uuid}/vouchers/{uuid}")
        if ids is None:
            raise InvalidArgument([("name", "must be members/{member}/vouchers/{voucher}")])
        caller = current_principal()

        async def effect(uow) -> pb.VoidVoucherResponse:
            row = await vs.void_voucher(uow, caller, member_id=ids[0], voucher_id=ids[1])
            return pb.VoidVoucherResponse(voucher=voucher_to_proto(row))

        return await self._mutate("VoidVoucher", request, pb.VoidVoucherResponse, effect)

    async def ListVouchers(self, request, context) -> pb.ListVouchersResponse:
        from services.wallet.entrypoints.grpc_servicer import member_id_of, store_id_of

        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        states = set()
        for s in request.states:
            if s not in _VOUCHER_STATE_BACK:
                raise InvalidArgument([("states", "unknown voucher state")])
            states.add(_VOUCHER_STATE_BACK[s])
        cart = None
        if request.HasField("valid_for_cart"):
            cart = (
                store_id_of(request.valid_for_cart.store, "valid_for_cart.store"),
                request.valid_for_cart.subtotal_minor,
            )
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|vouchers|{member_id}|{sorted(states)}|{cart}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor.get("id") else None

        async def read(uow) -> pb.ListVouchersResponse:
            await uow.members.require(member_id, "parent")  # an unknown member is NOT_FOUND, not []
            rows, nxt = await vs.list_vouchers(
                uow, member_id, limit=size, before=before, states=states, cart=cart
            )
            token = (
                self._tokens.encode({"t": nxt[0].isoformat(), "id": nxt[1]}, binding=binding) if nxt else ""
            )
            return pb.ListVouchersResponse(
                vouchers=[voucher_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    # --- rewards catalog ----------------------------------------------------------------------
    async def CreateReward(self, request, context) -> pb.CreateRewardResponse:
        caller = current_principal()
        r = request.reward
        reward_id = _new_resource_id(request.reward_id, "reward_id")

        async def effect(uow) -> pb.CreateRewardResponse:
            row = await rw.create_reward(
                uow,
                caller,
                reward_id=reward_id,
                display_name=r.display_name,
                points_cost=r.points_cost,
                stock=r.stock,
                kind=_REWARD_KIND_BACK.get(r.kind, ""),
                item=r.item,
            )
            return pb.CreateRewardResponse(reward=reward_to_proto(row))

        return await self._mutate("CreateReward", request, pb.CreateRewardResponse, effect)

    async def ListRewards(self, request, context) -> pb.ListRewardsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        binding = f"{caller.tenant}|rewards|{request.show_inactive}"
        size = page_size(request.page_size)
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow) -> pb.ListRewardsResponse:
            rows = await vs.vouchers_of(uow).list_rewards(limit=size, after=after)
            token = (
                self._tokens.encode({"after": rows[-1].reward_id}, binding=binding)
                if len(rows) == size
                else ""
            )
            return pb.ListRewardsResponse(
                rewards=[reward_to_proto(r) for r in rows if request.show_inactive or r.active],
                next_page_token=token,
            )

        return await self._read(read)

    async def UpdateReward(self, request, context) -> pb.UpdateRewardResponse:
        caller = current_principal()
        reward_id = parse_name(request.reward.name, "rewards")
        if not reward_id:
            raise InvalidArgument([("reward.name", "must be rewards/{reward}")])
        r = request.reward
        paths = list(request.update_mask.paths)
        if not paths:  # AIP-134 with an empty mask: the fields that are set
            paths = [f.name for f, _ in r.ListFields() if f.name in _REWARD_UPDATABLE]
        bad = [p for p in paths if p not in _REWARD_UPDATABLE]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} is not a field you can update") for p in bad]
                or [("update_mask", "name at least one field to update")]
            )
        values = {p: getattr(r, p) for p in paths}

        async def effect(uow) -> pb.UpdateRewardResponse:
            row = await rw.update_reward(uow, caller, reward_id=reward_id, values=values)
            return pb.UpdateRewardResponse(reward=reward_to_proto(row))

        return await self._mutate("UpdateReward", request, pb.UpdateRewardResponse, effect)

    async def RedeemReward(self, request, context) -> pb.RedeemRewardResponse:
        from services.wallet.entrypoints.grpc_servicer import (
            member_id_of,
            transaction_to_proto,
            wallet_to_proto,
        )
        from services.wallet.service_layer import stored_value as sv

        member_id = member_id_of(request.member, "member")
        reward_id = parse_name(request.reward, "rewards")
        if not reward_id:
            raise InvalidArgument([("reward", "must be rewards/{reward}")])
        store_id = _optional_store(request.store)
        caller = current_principal()

        async def effect(uow) -> pb.RedeemRewardResponse:
            done = await rw.redeem_reward(
                uow, caller, member_id=member_id, reward_id=reward_id, store_id=store_id
            )
            return pb.RedeemRewardResponse(
                transaction=transaction_to_proto(done.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
                voucher=voucher_to_proto(done.voucher) if done.voucher is not None else None,
                reward=reward_to_proto(done.reward),
            )

        return await self._mutate("RedeemReward", request, pb.RedeemRewardResponse, effect)

    # --- check-in -----------------------------------------------------------------------------
    async def CheckIn(self, request, context) -> pb.CheckInResponse:
        from services.wallet.entrypoints.grpc_servicer import (
            member_id_of,
            transaction_to_proto,
            wallet_to_proto,
        )
        from services.wallet.service_layer import stored_value as sv

        member_id = member_id_of(request.member, "member")
        store_id = _optional_store(request.store)
        caller = current_principal()

        async def effect(uow) -> pb.CheckInResponse:
            done = await rw.check_in(uow, caller, member_id=member_id, store_id=store_id)
            return pb.CheckInResponse(
                points=done.points,
                streak_days=done.streak_days,
                streak_bonus_points=done.streak_bonus,
                transaction=transaction_to_proto(done.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("CheckIn", request, pb.CheckInResponse, effect)
