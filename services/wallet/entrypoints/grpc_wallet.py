"""WalletService RPCs of the wallet itself: balances and statement, settings, the payment PIN,
top-up plans, top-up and stored-value refund. A mixin of WalletServicer (grpc_servicer.py), which
supplies `_mutate`, `_read`, `_tokens` (kit.servicer), `_check_pin` and `_one_call`."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import is_resource_id, new_id, parse_name
from kit.members_client import member_of_card
from kit.pagination import page_size
from services.wallet.entrypoints.mapping import (
    enum_name,
    member_id_of,
    plan_to_proto,
    settings_to_proto,
    store_id_of,
    stored_kinds,
    tender_of,
    transaction_id_of,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.service_layer import one_call, statement, wallet_settings
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer import top_up_plans as plans
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

# `TopUpRequest.member` when the card presented names the member (AIP-159's "-")
CARD_HOLDER = "members/-"

_SETTINGS_FIELDS = (
    "spend_order",
    "currency_code",
    "pin_max_attempts",
    "pin_lockout_minutes",
    "hold_default_ttl_minutes",
    "free_care_service",
    "max_manual_discount_bps",
    "membership_fee_minor",
    "membership_months",
    "membership_renewal_notice_days",
    "member_day_of_month",
    "member_day_points_multiplier_permille",
    "member_day_tier_ids",
)


class WalletRpc:
    # --- wallet & statement -------------------------------------------------------------------
    async def GetWallet(self, request: pb.GetWalletRequest, context) -> pb.GetWalletResponse:
        name = request.name.removesuffix("/wallet")
        member_id = member_id_of(name, "name")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")

        async def read(uow: WalletUnitOfWork) -> pb.GetWalletResponse:
            await uow.members.require(member_id)
            return pb.GetWalletResponse(wallet=wallet_to_proto(await sv.snapshot(uow, member_id)))

        return await self._read(read)

    async def GetTransaction(self, request: pb.GetTransactionRequest, context) -> pb.GetTransactionResponse:
        transaction_id, member_id = transaction_id_of(request.name)
        caller = current_principal()
        caller.require(auth.WALLET_READ)

        async def read(uow: WalletUnitOfWork):
            posted = await statement.transaction(uow, caller, transaction_id, member_id, request.name)
            return pb.GetTransactionResponse(transaction=transaction_to_proto(posted, caller.tenant))

        return await self._read(read)

    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context
    ) -> pb.ListTransactionsResponse:
        member_id = member_id_of(request.parent, "parent")
        store_id = parse_name(request.store, "stores") if request.store else None
        if request.store and not store_id:
            raise InvalidArgument([("store", "must be stores/{store}")])
        kinds = stored_kinds(request.kinds)
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        start = request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None
        binding = f"{caller.tenant}|statement|{member_id}|{store_id}|{start}|{end}|{sorted(kinds)}"
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding)
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow: WalletUnitOfWork) -> pb.ListTransactionsResponse:
            rows = await statement.page(
                uow,
                member_id,
                limit=size,
                before=before,
                store_id=store_id,
                start=start,
                end=end,
                kinds=kinds,
            )
            token = ""
            if len(rows) == size:
                token = self._tokens.encode(
                    {"t": rows[-1].create_time.isoformat(), "id": rows[-1].transaction_id}, binding=binding
                )
            return pb.ListTransactionsResponse(
                transactions=[transaction_to_proto(r, caller.tenant) for r in rows], next_page_token=token
            )

        return await self._read(read)

    # --- settings -----------------------------------------------------------------------------
    async def GetWalletSettings(self, request, context) -> pb.GetWalletSettingsResponse:
        current_principal().require(auth.WALLET_READ)
        s = await self._read(lambda uow: uow.settings.get())
        return pb.GetWalletSettingsResponse(wallet_settings=settings_to_proto(s))

    async def UpdateWalletSettings(self, request, context) -> pb.UpdateWalletSettingsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        paths = list(request.update_mask.paths) or [
            f.name for f, _ in request.wallet_settings.ListFields() if f.name in _SETTINGS_FIELDS
        ]
        bad = [p for p in paths if p not in _SETTINGS_FIELDS]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} is not a field you can update") for p in bad]
                or [("update_mask", "name at least one field to update")]
            )
        patch = request.wallet_settings
        values = {path: getattr(patch, path) for path in paths}
        if "member_day_tier_ids" in values:
            values["member_day_tier_ids"] = tuple(values["member_day_tier_ids"])
        if "spend_order" in values:
            values["spend_order"] = enum_name(
                stored_value_pb2.SpendOrder, patch.spend_order, unknown="invalid"
            )

        async def effect(uow: WalletUnitOfWork) -> pb.UpdateWalletSettingsResponse:
            updated = await wallet_settings.update(uow, caller, values, field="wallet_settings")
            return pb.UpdateWalletSettingsResponse(wallet_settings=settings_to_proto(updated))

        return await self._mutate("UpdateWalletSettings", request, pb.UpdateWalletSettingsResponse, effect)

    # --- PIN and plans ------------------------------------------------------------------------
    async def SetPaymentPin(self, request: pb.SetPaymentPinRequest, context) -> pb.SetPaymentPinResponse:
        member_id = member_id_of(request.member, "member")
        caller = current_principal()
        if request.old_pin:
            await self._check_pin(member_id, request.old_pin, store_id=None)

        async def effect(uow: WalletUnitOfWork) -> pb.SetPaymentPinResponse:
            await sv.set_pin(uow, caller, member_id, request.pin)
            return pb.SetPaymentPinResponse(wallet=wallet_to_proto(await sv.snapshot(uow, member_id)))

        return await self._mutate("SetPaymentPin", request, pb.SetPaymentPinResponse, effect)

    async def CreateTopUpPlan(self, request, context) -> pb.CreateTopUpPlanResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        p = request.top_up_plan
        v = Violations()
        if request.top_up_plan_id and not is_resource_id(request.top_up_plan_id):
            v.add("top_up_plan_id", "must match [a-z0-9][a-z0-9-]{0,62}")
        v.require("top_up_plan.display_name", p.display_name.strip())
        release = enum_name(stored_value_pb2.BonusRelease, p.bonus_release, unknown="immediate")
        plans.check_terms(
            v,
            "top_up_plan",
            pay_minor=p.pay_minor,
            bonus_minor=p.bonus_minor,
            release=release,
            months=p.release_months,
        )
        stores = [parse_name(s, "stores") for s in p.stores]
        if any(s is None for s in stores):
            v.add("top_up_plan.stores", "each must be stores/{store}")
        v.raise_if_any()
        plan = plans.TopUpPlan(
            plan_id=request.top_up_plan_id or new_id(),
            display_name=p.display_name.strip(),
            pay_minor=p.pay_minor,
            bonus_minor=p.bonus_minor,
            bonus_release=release,
            release_months=p.release_months if release == "monthly" else 1,
            active=True,
            stores=[s for s in stores if s],
        )

        async def effect(uow: WalletUnitOfWork) -> pb.CreateTopUpPlanResponse:
            created, currency = await plans.create(uow, caller, plan, p.currency_code)
            return pb.CreateTopUpPlanResponse(top_up_plan=plan_to_proto(created, currency))

        return await self._mutate("CreateTopUpPlan", request, pb.CreateTopUpPlanResponse, effect)

    async def ListTopUpPlans(self, request, context) -> pb.ListTopUpPlansResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        binding = f"{caller.tenant}|plans|{request.store}|{request.show_inactive}"
        size = page_size(request.page_size)
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")
        store = parse_name(request.store, "stores") if request.store else None

        async def read(uow: WalletUnitOfWork) -> pb.ListTopUpPlansResponse:
            currency = (await uow.settings.get()).currency_code
            shown, last = await plans.listed(
                uow, limit=size, after=after, store_id=store, show_inactive=request.show_inactive
            )
            token = self._tokens.encode({"after": last}, binding=binding) if last else ""
            return pb.ListTopUpPlansResponse(
                top_up_plans=[plan_to_proto(p, currency) for p in shown], next_page_token=token
            )

        return await self._read(read)

    async def UpdateTopUpPlan(
        self, request: pb.UpdateTopUpPlanRequest, context
    ) -> pb.UpdateTopUpPlanResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        plan_id = parse_name(request.top_up_plan.name, "topUpPlans")
        if plan_id is None:
            raise InvalidArgument([("top_up_plan.name", "must be topUpPlans/{plan}")])
        paths = list(request.update_mask.paths)
        bad = [p for p in paths if p not in plans.UPDATABLE]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} cannot be updated (create a new plan)") for p in bad]
                or [("update_mask", "name at least one of display_name, active, stores")]
            )
        p = request.top_up_plan
        values: dict = {}
        v = Violations()
        if "display_name" in paths:
            v.require("top_up_plan.display_name", p.display_name.strip())
            values["display_name"] = p.display_name.strip()
        if "active" in paths:
            values["active"] = p.active
        if "stores" in paths:
            stores = [parse_name(s, "stores") for s in p.stores]
            if any(s is None for s in stores):
                v.add("top_up_plan.stores", "each must be stores/{store}")
            values["stores"] = [s for s in stores if s]
        v.raise_if_any()

        async def effect(uow: WalletUnitOfWork) -> pb.UpdateTopUpPlanResponse:
            plan = await plans.update(uow, caller, plan_id, values)
            currency = (await uow.settings.get()).currency_code
            return pb.UpdateTopUpPlanResponse(top_up_plan=plan_to_proto(plan, currency))

        return await self._mutate("UpdateTopUpPlan", request, pb.UpdateTopUpPlanResponse, effect)

    async def TopUp(self, request: pb.TopUpRequest, context) -> pb.TopUpResponse:
        by_card = bool(request.card_number) and request.member in ("", CARD_HOLDER)
        member_id = "" if by_card else member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        tender = tender_of(request.tender)
        plan_id = parse_name(request.plan, "topUpPlans") or "" if request.plan else ""
        if request.plan and not plan_id:
            raise InvalidArgument([("plan", "must be topUpPlans/{plan}")])
        caller = current_principal()
        if request.card_number:
            # A card presented at the till: only an active card identifies its member; checked
            # before anything is written, and a retry of a top-up that succeeded replays.
            caller.require(auth.WALLET_WRITE)
            replay = await self._recorded_response("TopUp", request, pb.TopUpResponse)
            if replay is not None:
                return replay
            card_member = await member_of_card(
                self._uows.deps.get("members_client"), caller.tenant, request.card_number
            )
            if member_id and card_member != member_id:
                raise InvalidArgument([("card_number", "is not a card of the top-up's member")])
            member_id = card_member

        # the top-up as both paths take it (one call, or statement by statement under the locks)
        top_up = dict(
            member_id=member_id,
            store_id=store_id,
            amount=request.amount_minor,
            currency=request.currency_code,
            tender=tender,
            plan_id=plan_id,
            sold_by=request.sold_by,
            staff_position=request.staff_position,
        )

        async def effect(uow: WalletUnitOfWork) -> pb.TopUpResponse:
            result = await sv.top_up(uow, caller, **top_up)
            return pb.TopUpResponse(
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        response = await one_call.planned_twice(
            lambda: one_call.top_up(
                self._one_call,
                caller,
                request,
                **top_up,
                response_type=pb.TopUpResponse,
                respond=lambda posted, wallet: pb.TopUpResponse(
                    transaction=transaction_to_proto(posted, caller.tenant), wallet=wallet_to_proto(wallet)
                ),
            )
        )
        if response is not None:
            return response
        # Both plans were stale (or a duplicate raced it): re-planned under the locks (or replayed).
        return await self._mutate("TopUp", request, pb.TopUpResponse, effect)

    async def RefundStoredValue(self, request, context) -> pb.RefundStoredValueResponse:
        member_id = member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        tender = tender_of(request.tender)
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.RefundStoredValueResponse:
            result = await sv.refund_stored_value(
                uow, caller, member_id=member_id, store_id=store_id, tender=tender
            )
            return pb.RefundStoredValueResponse(
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
                principal_refunded_minor=result.principal_refunded,
                bonus_voided_minor=result.bonus_voided + result.scheduled_bonus_voided,
            )

        return await self._mutate("RefundStoredValue", request, pb.RefundStoredValueResponse, effect)
