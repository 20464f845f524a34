"""WalletService RPCs for checkout and commission: a mixin of WalletServicer (grpc_servicer.py),
which supplies `_mutate`, `_read`, `_tokens` (kit.servicer), `_check_pin` and `_one_call`."""

from __future__ import annotations

from datetime import datetime

from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.ids import parse_path
from kit.members_client import member_of_card
from kit.pagination import page_size
from services.wallet.domain import checkout as pricing
from services.wallet.entrypoints.mapping import member_id_of, store_id_of, tender_of, wallet_to_proto
from services.wallet.entrypoints.mapping_checkout import (
    approval_id_of,
    approval_to_proto,
    basis_of,
    checkout_id_of,
    checkout_to_proto,
    customer_type_of,
    record_to_proto,
    refund_to_proto,
    report_dimensions_of,
    report_row_to_proto,
    report_source_of,
    rule_tender_of,
    rule_to_proto,
    timestamp_of,
)
from services.wallet.service_layer import checkout as co
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import discount_approvals, one_call
from services.wallet.service_layer import stored_value as sv


class CheckoutRpc:
    async def Checkout(self, request: pb.CheckoutRequest, context) -> pb.CheckoutResponse:
        member_id = member_id_of(request.member, "member") if request.member else None
        if request.card_number:
            # A card presented at the till: only an active card identifies its member.
            current_principal().require(auth.WALLET_WRITE)
            if not request.validate_only:
                replay = await self._recorded_response("Checkout", request, pb.CheckoutResponse)
                if replay is not None:
                    return replay
            card_member = await member_of_card(
                self._uows.deps.get("members_client"), current_principal().tenant, request.card_number
            )
            if member_id is not None and card_member != member_id:
                raise InvalidArgument([("card_number", "is not a card of the checkout's member")])
            member_id = card_member
        store_id = store_id_of(request.store)
        lines, package_ids = [], []
        for i, line in enumerate(request.lines):
            package_id = None
            if line.use_package:
                ids = parse_path(line.use_package, "members/{uuid}/packages/{uuid}")
                if ids is None:
                    raise InvalidArgument(
                        [(f"lines[{i}].use_package", "must be members/{member}/packages/{package}")]
                    )
                if member_id is not None and ids[0] != member_id:
                    raise InvalidArgument(
                        [(f"lines[{i}].use_package", "must be a package of the checkout's member")]
                    )
                package_id = ids[1]
            package_ids.append(package_id)
            lines.append(
                pricing.Line(
                    item=line.item,
                    category=line.category,
                    quantity=line.quantity,
                    list_price=line.list_price_minor,
                    serving_staff=line.serving_staff,
                    staff_position=line.staff_position,
                    use_package=line.use_package,
                    display_name=line.display_name,
                )
            )
        voucher_ids = []
        for i, name in enumerate(request.vouchers):
            ids = parse_path(name, "members/{uuid}/vouchers/{uuid}")
            if ids is None or ids[0] != member_id:
                raise InvalidArgument(
                    [(f"vouchers[{i}]", "must be members/{member}/vouchers/{voucher} of the member")]
                )
            voucher_ids.append(ids[1])
        inp = co.CheckoutInput(
            member_id=member_id,
            store_id=store_id,
            lines=lines,
            voucher_ids=voucher_ids,
            points_to_redeem=request.points_to_redeem,
            stored_value=request.stored_value_minor,
            tenders=[
                (tender_of(t.tender, f"tenders[{i}].tender"), t.amount_minor)
                for i, t in enumerate(request.tenders)
            ],
            package_ids=package_ids,
            validate_only=request.validate_only,
            discount_approval_id=approval_id_of(request.discount_approval, "discount_approval")
            if request.discount_approval
            else None,
        )
        caller = current_principal()
        caller.require(auth.WALLET_WRITE)
        co.validate_input(inp)

        async def run(uow) -> pb.CheckoutResponse:
            result = await co.checkout(uow, caller, inp)
            wallet = wallet_to_proto(await sv.snapshot(uow, member_id)) if member_id else None
            return pb.CheckoutResponse(checkout=checkout_to_proto(result), wallet=wallet)

        if request.validate_only:
            return await self._read(run)
        if one_call.handles(inp):
            response = await one_call.planned_twice(
                lambda: one_call.checkout(
                    self._one_call,
                    caller,
                    inp,
                    request,
                    pin=request.payment_pin,
                    response_type=pb.CheckoutResponse,
                    respond=lambda result, wallet: pb.CheckoutResponse(
                        checkout=checkout_to_proto(result), wallet=wallet_to_proto(wallet) if wallet else None
                    ),
                )
            )
            if response is not None:
                return response
            # Both plans were stale (or a duplicate raced it): re-planned under the locks (or
            # replayed) statement by statement, the PIN checked again (it may be what changed).
        if request.stored_value_minor > 0 and member_id:
            await self._check_pin(member_id, request.payment_pin, store_id=store_id)
        return await self._mutate("Checkout", request, pb.CheckoutResponse, run)

    async def GetCheckout(self, request: pb.GetCheckoutRequest, context) -> pb.GetCheckoutResponse:
        checkout_id = checkout_id_of(request.name, "name")
        caller = current_principal()

        async def read(uow) -> pb.GetCheckoutResponse:
            return pb.GetCheckoutResponse(checkout=checkout_to_proto(await co.get(uow, caller, checkout_id)))

        return await self._read(read)

    async def ListCheckouts(self, request: pb.ListCheckoutsRequest, context) -> pb.ListCheckoutsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        member_id = member_id_of(request.member, "member") if request.member else None
        if member_id:
            caller.require_member(f"members/{member_id}")
        elif caller.is_member_self_service:
            raise InvalidArgument([("member", "is required for a member's own token")])
        store_id = store_id_of(request.store) if request.store else None
        if store_id or not member_id:  # a member's own history may span stores; a store's may not
            caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        start = timestamp_of(request.start_time)
        end = timestamp_of(request.end_time)
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|checkouts|{member_id}|{store_id}|{start}|{end}"
        cursor = self._tokens.decode(request.page_token, binding=binding)
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow) -> pb.ListCheckoutsResponse:
            results = await co.list_checkouts(
                uow,
                caller,
                limit=size,
                member_id=member_id,
                store_id=store_id,
                start=start,
                end=end,
                before=before,
            )
            token = ""
            if len(results) == size:
                last = results[-1].record
                token = self._tokens.encode(
                    {"t": last["create_time"].isoformat(), "id": last["checkout_id"]}, binding=binding
                )
            return pb.ListCheckoutsResponse(
                checkouts=[checkout_to_proto(r) for r in results], next_page_token=token
            )

        return await self._read(read)

    async def RefundCheckout(self, request: pb.RefundCheckoutRequest, context) -> pb.RefundCheckoutResponse:
        checkout_id = checkout_id_of(request.checkout, "checkout")
        caller = current_principal()
        lines = [(line.line_index, line.quantity) for line in request.lines]

        async def effect(uow) -> pb.RefundCheckoutResponse:
            result = await co.refund(
                uow, caller, checkout_id=checkout_id, lines=lines, full=request.full, reason=request.reason
            )
            member_id = result.checkout["member_id"]
            return pb.RefundCheckoutResponse(
                refund=refund_to_proto(result.refund, result.checkout["currency_code"], member_id),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)) if member_id else None,
            )

        return await self._mutate("RefundCheckout", request, pb.RefundCheckoutResponse, effect)

    # --- commission ---------------------------------------------------------------------------
    async def CreateCommissionRule(self, request, context) -> pb.CreateCommissionRuleResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        rule = request.commission_rule
        values = {
            "display_name": rule.display_name.strip(),
            "item": rule.item.strip(),
            "category": rule.category.strip(),
            "store_id": store_id_of(rule.store, "commission_rule.store") if rule.store else "",
            "staff_position": rule.staff_position.strip(),
            "customer_type": customer_type_of(rule.customer_type),
            "tender": rule_tender_of(rule.tender),
            "basis": basis_of(rule.basis),
            "percent_bps": rule.percent_bps,
            "fixed_minor": rule.fixed_minor,
            "priority": rule.priority,
        }

        async def effect(uow) -> pb.CreateCommissionRuleResponse:
            row = await com.create_rule(uow, caller, rule_id=request.commission_rule_id, values=values)
            return pb.CreateCommissionRuleResponse(commission_rule=rule_to_proto(row))

        return await self._mutate("CreateCommissionRule", request, pb.CreateCommissionRuleResponse, effect)

    async def ListCommissionRules(self, request, context) -> pb.ListCommissionRulesResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        store_id = store_id_of(request.store) if request.store else None
        caller.require_staff()
        caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|commissionRules|{store_id}"
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow) -> pb.ListCommissionRulesResponse:
            rows = await com.repo(uow).list_rules(limit=size, after=after, store_id=store_id)
            token = (
                self._tokens.encode({"after": rows[-1].rule_id}, binding=binding) if len(rows) == size else ""
            )
            return pb.ListCommissionRulesResponse(
                commission_rules=[rule_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def ListCommissionRecords(self, request, context) -> pb.ListCommissionRecordsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        store_id = store_id_of(request.store) if request.store else None
        caller.require_staff()
        caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        checkout_id = checkout_id_of(request.checkout, "checkout") if request.checkout else None
        start = timestamp_of(request.start_time)
        end = timestamp_of(request.end_time)
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|commissionRecords|{request.staff}|{store_id}|{start}|{end}|{checkout_id}"
        cursor = self._tokens.decode(request.page_token, binding=binding)
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow) -> pb.ListCommissionRecordsResponse:
            rows = await com.repo(uow).list_records(
                limit=size,
                staff=request.staff,
                store_id=store_id,
                start=start,
                end=end,
                checkout_id=checkout_id,
                before=before,
            )
            token = ""
            if len(rows) == size:
                token = self._tokens.encode(
                    {"t": rows[-1].create_time.isoformat(), "id": rows[-1].record_id}, binding=binding
                )
            return pb.ListCommissionRecordsResponse(
                commission_records=[record_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def ApproveCheckoutDiscount(
        self, request: pb.ApproveCheckoutDiscountRequest, context
    ) -> pb.ApproveCheckoutDiscountResponse:
        req = discount_approvals.ApprovalRequest(
            store_id=store_id_of(request.store),
            member_id=member_id_of(request.member, "member") if request.member else None,
            discount_bps=request.discount_bps,
            reason=request.reason,
            valid_minutes=request.valid_minutes,
        )
        caller = current_principal()
        discount_approvals.authorize(caller, req)  # before any read or effect

        async def effect(uow) -> pb.ApproveCheckoutDiscountResponse:
            row = await discount_approvals.approve(uow, caller, req)
            return pb.ApproveCheckoutDiscountResponse(discount_approval=approval_to_proto(row))

        return await self._mutate(
            "ApproveCheckoutDiscount", request, pb.ApproveCheckoutDiscountResponse, effect
        )

    async def GetCommissionReport(self, request, context) -> pb.GetCommissionReportResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        store_id = store_id_of(request.store) if request.store else None
        caller.require_staff()
        caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        start = timestamp_of(request.start_time)
        end = timestamp_of(request.end_time)
        if start is None or end is None:
            raise InvalidArgument([("start_time", "start_time and end_time are required")])
        dimensions = report_dimensions_of(request.group_by)
        source = report_source_of(request.source)

        async def read(uow) -> pb.GetCommissionReportResponse:
            rows = await com.report(
                uow,
                caller,
                staff=request.staff,
                store_id=store_id,
                start=start,
                end=end,
                dimensions=dimensions,
                source=source,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.GetCommissionReportResponse(
                rows=[report_row_to_proto(r, dimensions) for r in rows],
                total_commission_minor=sum(r.commission for r in rows),
                currency_code=currency,
            )

        return await self._read(read)
