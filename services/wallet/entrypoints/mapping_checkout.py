"""Proto <-> domain for the checkout and commission RPCs (grpc_checkout.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import checkout_pb2, commission_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as wallet_pb

from kit.errors import InvalidArgument
from kit.ids import parse_name
from kit.proto import ts
from services.wallet.domain import checkout as pricing
from services.wallet.entrypoints.mapping import enum_name, enum_value


def tender_enum(tender: str) -> int:
    return enum_value(ledger_pb2.Tender, tender)


def rule_tender_of(value: int) -> str:
    """A commission rule's tender: any tender, "" for all of them (UNSPECIFIED)."""
    return enum_name(ledger_pb2.Tender, value, unknown="invalid", unspecified="")


def customer_type_of(value: int) -> str:
    return enum_name(commission_pb2.CustomerType, value, unknown="invalid", unspecified="")


def basis_of(value: int) -> str:
    return enum_name(commission_pb2.CommissionBasis, value, unknown="invalid")


def timestamp_of(value) -> datetime | None:
    """An unset Timestamp field (zero) is no bound."""
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
        refund=f"checkouts/{rec.checkout_id}/refunds/{rec.refund_id}"
        if rec.refund_id and rec.checkout_id
        else "",
        clawback_transaction=f"transactions/{rec.refund_id}"
        if rec.refund_id and getattr(rec, "transaction_id", None)
        else "",
        currency_code=rec.currency_code,
        package=f"members/{rec.package_member_id}/packages/{rec.package_id}" if rec.package_id else "",
        transaction=f"transactions/{rec.transaction_id}" if getattr(rec, "transaction_id", None) else "",
        staff_position=getattr(rec, "staff_position", ""),
        tender=tender_enum(getattr(rec, "tender", "")),
        category=getattr(rec, "category", ""),
        source=record_source(rec),
    )


def record_source(rec) -> int:
    if getattr(rec, "transaction_id", None):
        return commission_pb2.COMMISSION_SOURCE_TOP_UP
    if rec.package_id:
        return commission_pb2.COMMISSION_SOURCE_PACKAGE_SALE
    return commission_pb2.COMMISSION_SOURCE_CHECKOUT


# GetCommissionReport's dimensions: proto value -> the report's column.
REPORT_DIMENSIONS = {
    commission_pb2.COMMISSION_REPORT_DIMENSION_STAFF: "staff",
    commission_pb2.COMMISSION_REPORT_DIMENSION_ITEM: "item",
    commission_pb2.COMMISSION_REPORT_DIMENSION_STORE: "store",
    commission_pb2.COMMISSION_REPORT_DIMENSION_STAFF_POSITION: "staff_position",
    commission_pb2.COMMISSION_REPORT_DIMENSION_TENDER: "tender",
    commission_pb2.COMMISSION_REPORT_DIMENSION_SOURCE: "source",
}
SOURCES = {
    commission_pb2.COMMISSION_SOURCE_CHECKOUT: "checkout",
    commission_pb2.COMMISSION_SOURCE_PACKAGE_SALE: "package_sale",
    commission_pb2.COMMISSION_SOURCE_TOP_UP: "top_up",
}


def report_dimensions_of(values) -> list[str]:
    """`group_by` as report columns, in order; empty: by staff."""
    v = []
    out: list[str] = []
    for i, value in enumerate(values):
        name = REPORT_DIMENSIONS.get(value)
        if name is None:
            v.append((f"group_by[{i}]", "must be a known dimension"))
        elif name in out:
            v.append((f"group_by[{i}]", "each dimension at most once"))
        else:
            out.append(name)
    if v:
        raise InvalidArgument(v)
    return out or ["staff"]


def report_source_of(value: int) -> str | None:
    """`source` of a report request: None for every source."""
    if value == 0:
        return None
    if value not in SOURCES:
        raise InvalidArgument([("source", "must be a known commission source")])
    return SOURCES[value]


def report_row_to_proto(row, dimensions: list[str]) -> wallet_pb.CommissionReportRow:
    out = wallet_pb.CommissionReportRow(
        sales_minor=row.sales, commission_minor=row.commission, record_count=row.n
    )
    for d in dimensions:
        value = getattr(row, d)
        if d == "store":
            out.store = f"stores/{value}" if value else ""
        elif d == "tender":
            out.tender = tender_enum(value)  # type: ignore[assignment]
        elif d == "source":
            out.source = {v: k for k, v in SOURCES.items()}[value]  # type: ignore[assignment]
        else:
            setattr(out, d, value)
    return out


def rule_to_proto(r) -> commission_pb2.CommissionRule:
    return commission_pb2.CommissionRule(
        name=f"commissionRules/{r.rule_id}",
        display_name=r.display_name,
        item=r.item,
        category=r.category,
        store=f"stores/{r.store_id}" if r.store_id else "",
        staff_position=r.staff_position,
        customer_type=enum_value(commission_pb2.CustomerType, r.customer_type),
        tender=tender_enum(r.tender),
        basis=enum_value(commission_pb2.CommissionBasis, r.basis),
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
        tenders=[checkout_pb2.TenderAmount(tender=tender_enum(t), amount_minor=a) for t, a in rf.tenders],
        vouchers_restored=list(rf.vouchers_restored),
        transaction=transaction_name_of(rf.transaction_id, member_id),
        reason=rf.reason,
        currency_code=currency,
    )


def transaction_name_of(transaction_id: str | None, member_id: str | None) -> str:
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
        tenders=[checkout_pb2.TenderAmount(tender=tender_enum(t), amount_minor=a) for t, a in c["tenders"]],
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
        state=enum_value(checkout_pb2.CheckoutState, c["state"]),
        refunded_minor=c["refunded_minor"],
        create_time=ts(c.get("create_time")),
        qualifying_spend_minor=c["qualifying_spend_minor"],
        transaction=transaction_name_of(c.get("transaction_id"), member_id),
        customer_type=enum_value(commission_pb2.CustomerType, c["customer_type"]),
        tier_id=c["tier_id"],
        tier_discount_bps=c["tier_discount_bps"],
        discount_approval=f"discountApprovals/{c['discount_approval_id']}"
        if c.get("discount_approval_id")
        else "",
        refunds=[f"checkouts/{rf.checkout_id}/refunds/{rf.refund_id}" for rf in result.refunds],
        update_time=ts(c.get("update_time")),
    )


def checkout_id_of(name: str, field: str) -> str:
    checkout_id = parse_name(name, "checkouts", uuid=True)
    if checkout_id is None:
        raise InvalidArgument([(field, "must be checkouts/{checkout}")])
    return checkout_id


def approval_id_of(name: str, field: str) -> str:
    """`discountApprovals/{uuid}` -> the id; anything else is INVALID_ARGUMENT naming `field`."""
    approval_id = parse_name(name, "discountApprovals", uuid=True)
    if approval_id is None:
        raise InvalidArgument([(field, "must be discountApprovals/{approval}")])
    return approval_id


def approval_to_proto(row) -> checkout_pb2.DiscountApproval:
    return checkout_pb2.DiscountApproval(
        name=f"discountApprovals/{row.approval_id}",
        store=f"stores/{row.store_id}",
        member=f"members/{row.member_id}" if row.member_id else "",
        discount_bps=row.discount_bps,
        reason=row.reason,
        approver=row.approver,
        create_time=ts(row.create_time),
        expire_time=ts(row.expire_time),
        checkout=f"checkouts/{row.checkout_id}" if row.checkout_id else "",
    )
