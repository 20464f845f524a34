"""WalletService RPCs for vouchers, the points rewards catalog and daily check-in: a mixin of
WalletServicer (grpc_servicer.py), which supplies `_mutate`, `_read` and `_tokens` (kit.servicer).
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.ids import is_resource_id, parse_name, parse_path
from kit.pagination import page_size
from services.wallet.domain import vouchers as dv
from services.wallet.entrypoints.mapping import (
    member_id_of,
    optional_store_id_of,
    store_id_of,
    store_ids_of,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.entrypoints.mapping_vouchers import (
    new_resource_id,
    reward_kind_of,
    reward_to_proto,
    template_to_proto,
    voucher_kind_of,
    voucher_state_of,
    voucher_to_proto,
)
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer import vouchers as vs

_REWARD_UPDATABLE = ("display_name", "points_cost", "stock", "active", "item")


class VouchersRpc:
    # --- voucher templates --------------------------------------------------------------------
    async def CreateVoucherTemplate(self, request, context) -> pb.CreateVoucherTemplateResponse:
        caller = current_principal()
        t = request.voucher_template
        template_id = new_resource_id(request.voucher_template_id, "voucher_template_id")
        terms = dv.VoucherTerms(
            display_name=t.display_name.strip(),
            kind=voucher_kind_of(t.kind),
            amount_off_minor=t.amount_off_minor,
            percent_off_bps=t.percent_off_bps,
            max_discount_minor=t.max_discount_minor,
            free_service=t.free_service,
            min_spend_minor=t.min_spend_minor,
            stores=store_ids_of(t.stores, "voucher_template.stores"),
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

    async def GetVoucherTemplate(self, request, context) -> pb.GetVoucherTemplateResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        template_id = parse_name(request.name, "voucherTemplates")
        if not template_id or not is_resource_id(template_id):
            raise InvalidArgument([("name", "must be voucherTemplates/{template}")])

        async def read(uow) -> pb.GetVoucherTemplateResponse:
            row = await vs.require_template(uow, template_id)  # NOT_FOUND VOUCHER_TEMPLATE_NOT_FOUND
            return pb.GetVoucherTemplateResponse(voucher_template=template_to_proto(row))

        return await self._read(read)

    async def DeactivateVoucherTemplate(self, request, context) -> pb.DeactivateVoucherTemplateResponse:
        caller = current_principal()
        template_id = parse_name(request.name, "voucherTemplates")
        if not template_id or not is_resource_id(template_id):
            raise InvalidArgument([("name", "must be voucherTemplates/{template}")])

        async def effect(uow) -> pb.DeactivateVoucherTemplateResponse:
            row = await vs.deactivate_template(uow, caller, template_id)
            return pb.DeactivateVoucherTemplateResponse(voucher_template=template_to_proto(row))

        return await self._mutate(
            "DeactivateVoucherTemplate", request, pb.DeactivateVoucherTemplateResponse, effect
        )

    # --- vouchers -----------------------------------------------------------------------------
    async def IssueVoucher(self, request, context) -> pb.IssueVoucherResponse:
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
        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        states = set()
        for s in request.states:
            state = voucher_state_of(s)
            if not state:
                raise InvalidArgument([("states", "unknown voucher state")])
            states.add(state)
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
        reward_id = new_resource_id(request.reward_id, "reward_id")

        async def effect(uow) -> pb.CreateRewardResponse:
            row = await rw.create_reward(
                uow,
                caller,
                reward_id=reward_id,
                display_name=r.display_name,
                points_cost=r.points_cost,
                stock=r.stock,
                kind=reward_kind_of(r.kind),
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
        member_id = member_id_of(request.member, "member")
        reward_id = parse_name(request.reward, "rewards")
        if not reward_id:
            raise InvalidArgument([("reward", "must be rewards/{reward}")])
        store_id = optional_store_id_of(request.store)
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
        member_id = member_id_of(request.member, "member")
        store_id = optional_store_id_of(request.store)
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
