"""WalletService RPCs for checkout: a mixin of WalletServicer (see grpc_servicer.py for the helpers
it relies on: self._mutate, self._read, self._check_pin, self._tokens)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import checkout_pb2, commission_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument
from kit.ids import parse_name, parse_path
from kit.pagination import page_size
from kit.proto import ts
from services.wallet.domain import checkout as pricing

_STATE = {
    "completed": checkout_pb2.CHECKOUT_STATE_COMPLETED,
    "partially_refunded": checkout_pb2.CHECKOUT_STATE_PARTIALLY_REFUNDED,
    "refunded": checkout_pb2.CHECKOUT_STATE_REFUNDED,
    "reversed": checkout_pb2.CHECKOUT_STATE_REVERSED,
}
_CUSTOMER = {"new": commission_pb2.CUSTOMER_TYPE_NEW, "member": commission_pb2.CUSTOMER_TYPE_MEMBER}
_CUSTOMER_BACK = {v: k for k, v in _CUSTOMER.items()} | {commission_pb2.CUSTOMER_TYPE_UNSPECIFIED: ""}
_RULE_TENDER = {
    ledger_pb2.TENDER_UNSPECIFIED: "",
    ledger_pb2.TENDER_CASH: "cash",
    ledger_pb2.TENDER_BANK_CARD: "bank_card",
    ledger_pb2.TENDER_WECHAT_PAY: "wechat_pay",
    ledger_pb2.TENDER_ALIPAY: "alipay",
    ledger_pb2.TENDER_STORED_VALUE: "stored_value",
    ledger_pb2.TENDER_POINTS: "points",
    ledger_pb2.TENDER_PACKAGE: "package",
    ledger_pb2.TENDER_VOUCHER: "voucher",
}
_RULE_TENDER_BACK = {v: k for k, v in _RULE_TENDER.items()}
_BASIS = {commission_pb2.COMMISSION_BASIS_PERCENT: "percent", commission_pb2.COMMISSION_BASIS_FIXED: "fixed"}
_BASIS_BACK = {v: k for k, v in _BASIS.items()}


def _tender_enum(tender: str) -> int:
    return _RULE_TENDER_BACK.get(tender, ledger_pb2.TENDER_UNSPECIFIED)


def _dt(value, field: str) -> datetime | None:
    return value.ToDatetime(UTC) if value.seconds or value.nanos else None


def record_to_proto(rec) -> commission_pb2.CommissionRecord:
    return commission_pb2.CommissionRecord(
        name=f"commissionRecords/{rec.record_id}",
        checkout=f"checkouts/{rec.checkout_id}" if rec.checkout_id else "",
        line_index=rec.line_index,
        staff=rec.staff,
        amount_minor=rec.amount_minor,
        rule=f"commissionRules/{rec.rule_id}",
        create_time=ts(rec.create_time),
        store=f"stores/{rec.store_id}",
        item=rec.item,
        base_minor=rec.base_minor,
        refund=f"checkouts/{rec.checkout_id}/refunds/{rec.refund_id}" if rec.refund_id else "",
        currency_code=rec.currency_code,
        package=f"members/{rec.package_member_id}/packages/{rec.package_id}" if rec.package_id else "",
    )


def rule_to_proto(r) -> commission_pb2.CommissionRule:
    return commission_pb2.CommissionRule(
        name=f"commissionRules/{r.rule_id}",
        display_name=r.display_name,
        item=r.item,
        category=r.category,
        store=f"stores/{r.store_id}" if r.store_id else "",
        staff_position=r.staff_position,
        customer_type=_CUSTOMER.get(r.customer_type, commission_pb2.CUSTOMER_TYPE_UNSPECIFIED),
        tender=_tender_enum(r.tender),
        basis=_BASIS_BACK[r.basis],
        percent_bps=r.percent_bps,
        fixed_minor=r.fixed_minor,
        priority=r.priority,
        active=r.active,
        create_time=ts(r.create_time),
    )


def refund_to_proto(rf, currency: str, member_id: str | None = None) -> checkout_pb2.Refund:
    return checkout_pb2.Refund(
        name=f"checkouts/{rf.checkout_id}/refunds/{rf.refund_id}",
        lines=[checkout_pb2.RefundLine(line_index=i, quantity=q) for i, q in rf.lines],
        full=rf.full,
        amount_minor=rf.amount_minor,
        points_restored=rf.points_restored,
        sessions_restored=rf.sessions_restored,
        create_time=ts(rf.create_time),
        points_clawed_back=rf.points_clawed_back,
        principal_refunded_minor=rf.principal_refunded_minor,
        bonus_refunded_minor=rf.bonus_refunded_minor,
        tenders=[checkout_pb2.TenderAmount(tender=_tender_enum(t), amount_minor=a) for t, a in rf.tenders],
        vouchers_restored=list(rf.vouchers_restored),
        transaction=_tx_name(rf.transaction_id, member_id),
        reason=rf.reason,
        currency_code=currency,
    )


def _tx_name(transaction_id: str | None, member_id: str | None) -> str:
    if not transaction_id:
        return ""
    return (
        f"members/{member_id}/transactions/{transaction_id}"
        if member_id
        else f"transactions/{transaction_id}"
    )


def checkout_to_proto(result) -> checkout_pb2.Checkout:
    c = result.record
    records_by_line: dict[int, list] = {}
    for rec in result.commission:
        records_by_line.setdefault(rec.line_index, []).append(record_to_proto(rec))
    line_results = []
    for i, res in enumerate(c["line_results"]):
        funding = res["funding"]
        net = (
            res["gross"]
            - res["package_covered"]
            - res["tier_discount"]
            - res["voucher_discount"]
            - res["points_deduction"]
        )
        line_results.append(
            checkout_pb2.CheckoutLineResult(
                line_index=i,
                discount_minor=res["tier_discount"] + res["voucher_discount"] + res["points_deduction"],
                net_minor=net,
                package_sessions_used=res["sessions"],
                commission_records=records_by_line.get(i, []),
                gross_minor=res["gross"],
                tier_discount_minor=res["tier_discount"],
                voucher_discount_minor=res["voucher_discount"],
                points_deduction_minor=res["points_deduction"],
                package_covered_minor=res["package_covered"],
                package=res.get("package", ""),
                principal_funded_minor=funding.get(pricing.PRINCIPAL, 0),
                bonus_funded_minor=funding.get(pricing.BONUS, 0),
                points_earned=res["points_earned"],
                refunded_quantity=c["refunded_units"][i],
                commission_base_minor=res["commission_base"],
            )
        )
    member_id = c["member_id"]
    return checkout_pb2.Checkout(
        name=f"checkouts/{c['checkout_id']}" if c["checkout_id"] else "",
        member=f"members/{member_id}" if member_id else "",
        store=f"stores/{c['store_id']}",
        lines=[
            checkout_pb2.CheckoutLine(
                item=line["item"],
                category=line["category"],
                quantity=line["quantity"],
                list_price_minor=line["list_price"],
                serving_staff=line["serving_staff"],
                staff_position=line["staff_position"],
                use_package=line["use_package"],
                display_name=line["display_name"],
            )
            for line in c["lines"]
        ],
        vouchers=list(c["vouchers"]),
        points_to_redeem=c["points_to_redeem"],
        stored_value_minor=c["principal_funded_minor"] + c["bonus_funded_minor"],
        tenders=[checkout_pb2.TenderAmount(tender=_tender_enum(t), amount_minor=a) for t, a in c["tenders"]],
        currency_code=c["currency_code"],
        subtotal_minor=c["subtotal_minor"],
        tier_discount_minor=c["tier_discount_minor"],
        voucher_discount_minor=c["voucher_discount_minor"],
        points_deduction_minor=c["points_deduction_minor"],
        package_covered_minor=c["package_covered_minor"],
        total_due_minor=c["total_due_minor"],
        principal_funded_minor=c["principal_funded_minor"],
        bonus_funded_minor=c["bonus_funded_minor"],
        points_earned=c["points_earned"],
        line_results=line_results,
        state=_STATE.get(c["state"], checkout_pb2.CHECKOUT_STATE_UNSPECIFIED),
        refunded_minor=c["refunded_minor"],
        create_time=ts(c.get("create_time")),
        qualifying_spend_minor=c["qualifying_spend_minor"],
        transaction=_tx_name(c.get("transaction_id"), member_id),
        customer_type=_CUSTOMER.get(c["customer_type"], commission_pb2.CUSTOMER_TYPE_UNSPECIFIED),
        tier_id=c["tier_id"],
        tier_discount_bps=c["tier_discount_bps"],
        refunds=[f"checkouts/{rf.checkout_id}/refunds/{rf.refund_id}" for rf in result.refunds],
        update_time=ts(c.get("update_time")),
    )


def _checkout_id(name: str, field: str) -> str:
    checkout_id = parse_name(name, "checkouts", uuid=True)
    if checkout_id is None:
        raise InvalidArgument([(field, "must be checkouts/{checkout}")])
    return checkout_id


class CheckoutRpc:
    async def Checkout(self, request: pb.CheckoutRequest, context) -> pb.CheckoutResponse:
        from services.wallet.entrypoints.grpc_servicer import (
            member_id_of,
            store_id_of,
            tender_of,
            wallet_to_proto,
        )
        from services.wallet.service_layer import checkout as co
        from services.wallet.service_layer import stored_value as sv

        member_id = member_id_of(request.member, "member") if request.member else None
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
        if request.stored_value_minor > 0 and member_id:
            await self._check_pin(member_id, request.payment_pin, store_id=store_id)
        return await self._mutate("Checkout", request, pb.CheckoutResponse, run)

    async def GetCheckout(self, request: pb.GetCheckoutRequest, context) -> pb.GetCheckoutResponse:
        from services.wallet.service_layer import checkout as co

        checkout_id = _checkout_id(request.name, "name")
        caller = current_principal()

        async def read(uow) -> pb.GetCheckoutResponse:
            return pb.GetCheckoutResponse(checkout=checkout_to_proto(await co.get(uow, caller, checkout_id)))

        return await self._read(read)

    async def ListCheckouts(self, request: pb.ListCheckoutsRequest, context) -> pb.ListCheckoutsResponse:
        from services.wallet.entrypoints.grpc_servicer import member_id_of, store_id_of
        from services.wallet.service_layer import checkout as co

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
        start = _dt(request.start_time, "start_time")
        end = _dt(request.end_time, "end_time")
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
        from services.wallet.entrypoints.grpc_servicer import wallet_to_proto
        from services.wallet.service_layer import checkout as co
        from services.wallet.service_layer import stored_value as sv

        checkout_id = _checkout_id(request.checkout, "checkout")
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
        from services.wallet.entrypoints.grpc_servicer import store_id_of
        from services.wallet.service_layer import commission as com

        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        rule = request.commission_rule
        values = {
            "display_name": rule.display_name.strip(),
            "item": rule.item.strip(),
            "category": rule.category.strip(),
            "store_id": store_id_of(rule.store, "commission_rule.store") if rule.store else "",
            "staff_position": rule.staff_position.strip(),
            "customer_type": _CUSTOMER_BACK.get(rule.customer_type, "invalid"),
            "tender": _RULE_TENDER.get(rule.tender, "invalid"),
            "basis": _BASIS.get(rule.basis, "invalid"),
            "percent_bps": rule.percent_bps,
            "fixed_minor": rule.fixed_minor,
            "priority": rule.priority,
        }

        async def effect(uow) -> pb.CreateCommissionRuleResponse:
            row = await com.create_rule(uow, caller, rule_id=request.commission_rule_id, values=values)
            return pb.CreateCommissionRuleResponse(commission_rule=rule_to_proto(row))

        return await self._mutate("CreateCommissionRule", request, pb.CreateCommissionRuleResponse, effect)

    async def ListCommissionRules(self, request, context) -> pb.ListCommissionRulesResponse:
        from services.wallet.entrypoints.grpc_servicer import store_id_of
        from services.wallet.service_layer import commission as com

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
        from services.wallet.entrypoints.grpc_servicer import store_id_of
        from services.wallet.service_layer import commission as com

        caller = current_principal()
        caller.require(auth.WALLET_READ)
        store_id = store_id_of(request.store) if request.store else None
        caller.require_staff()
        caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        checkout_id = _checkout_id(request.checkout, "checkout") if request.checkout else None
        start = _dt(request.start_time, "start_time")
        end = _dt(request.end_time, "end_time")
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

    async def GetCommissionReport(self, request, context) -> pb.GetCommissionReportResponse:
        from services.wallet.entrypoints.grpc_servicer import store_id_of
        from services.wallet.service_layer import commission as com

        caller = current_principal()
        caller.require(auth.WALLET_READ)
        store_id = store_id_of(request.store) if request.store else None
        caller.require_staff()
        caller.require_store_scope(f"stores/{store_id}" if store_id else None)
        start = _dt(request.start_time, "start_time")
        end = _dt(request.end_time, "end_time")
        if start is None or end is None:
            raise InvalidArgument([("start_time", "start_time and end_time are required")])

        async def read(uow) -> pb.GetCommissionReportResponse:
            rows = await com.report(uow, caller, staff=request.staff, store_id=store_id, start=start, end=end)
            currency = (await uow.settings.get()).currency_code
            return pb.GetCommissionReportResponse(
                rows=[
                    pb.CommissionReportRow(
                        staff=r.staff, sales_minor=r.sales, commission_minor=r.commission, record_count=r.n
                    )
                    for r in rows
                ],
                total_commission_minor=sum(r.commission for r in rows),
                currency_code=currency,
            )

        return await self._read(read)
