"""Staff commission (员工提成): rules, per-line records written with each checkout, clawbacks
written with each refund, and the per-staff report.

Clawbacks are negative records of the same source (checkout, package card or top-up), so the
report's sums are the net commission:
- a checkout refund takes back the refunded units' share (`clawbacks`, checkout.py);
- a package card refund takes back `amount * refunded / price` of its seller's record, rounded
  down (packages.py);
- a top-up reversal (`ReverseTransaction`) takes back all of its record (`claw_back_top_up`);
- a stored-value refund (`RefundStoredValue`) matches the refunded principal to the member's
  top-ups newest first (spending is taken to use the oldest money first) and takes back, from each
  top-up with a commission, `net * matched / principal left` rounded down — all of what is left
  when its whole principal left is matched (`claw_back_top_ups_refunded`). "Principal left" is the
  record's net base, which the clawbacks lower in step; a clawback never exceeds the net left.
Each is written in the transaction of the refund or reversal it belongs to (its `refund_id`), so
it happens exactly once with it and a replay of the request replays the stored response.
"""

from __future__ import annotations

from datetime import datetime

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, InvalidArgument, Violations
from kit.ids import is_resource_id, new_id
from services.wallet.adapters.checkout_repository import CheckoutRepository
from services.wallet.domain import checkout as pricing
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

CUSTOMER_TYPES = ("", "new", "member")
RULE_TENDERS = (
    "",
    "cash",
    "bank_card",
    "wechat_pay",
    "alipay",
    "stored_value",
    "points",
    "package",
    "voucher",
)
BASES = ("percent", "fixed")

MAX_POSITION_LENGTH = 64


def validate_seller(sold_by: str, staff_position: str) -> None:
    """`sold_by` / `staff_position` of a package sale or a top-up, before any read or effect."""
    v = Violations()
    if sold_by and not pricing.is_staff_reference(sold_by):
        v.add("sold_by", "must be staff/{staff} or stores/{store}/staff/{staff}")
    if staff_position:
        if not sold_by:
            v.add("staff_position", "only with sold_by")
        elif len(staff_position) > MAX_POSITION_LENGTH or not staff_position.strip():
            v.add("staff_position", f"must be 1-{MAX_POSITION_LENGTH} characters")
    v.raise_if_any()


def repo(uow: UoW) -> CheckoutRepository:
    return CheckoutRepository(uow.session, uow.tenant)


def rule_from_row(r, order: int = 0) -> pricing.CommissionRule:
    return pricing.CommissionRule(
        rule_id=r.rule_id,
        item=r.item,
        category=r.category,
        store_id=r.store_id,
        staff_position=r.staff_position,
        customer_type=r.customer_type,
        tender=r.tender,
        basis=r.basis,
        percent_bps=r.percent_bps,
        fixed_minor=r.fixed_minor,
        priority=r.priority,
        active=r.active,
        order=order,
    )


async def create_rule(uow: UoW, caller: Principal, *, rule_id: str, values: dict):
    caller.require(auth.WALLET_ADMIN)
    v = Violations()
    if rule_id and not (is_resource_id(rule_id) and len(rule_id) <= 40):
        v.add("commission_rule_id", "must match [a-z0-9-]{1,40}")
    if values["basis"] not in BASES:
        v.add("commission_rule.basis", "must be PERCENT or FIXED")
    if values["basis"] == "percent" and not 0 <= values["percent_bps"] <= 10_000:
        v.add("commission_rule.percent_bps", "must be within 0..10000")
    if values["basis"] == "fixed" and not 0 <= values["fixed_minor"] <= pricing.MAX_AMOUNT:
        v.add("commission_rule.fixed_minor", f"must be within 0..{pricing.MAX_AMOUNT}")
    if values["customer_type"] not in CUSTOMER_TYPES:
        v.add("commission_rule.customer_type", "unknown customer type")
    if values["tender"] not in RULE_TENDERS:
        v.add("commission_rule.tender", "unknown tender")
    if not -1_000_000 <= values["priority"] <= 1_000_000:
        v.add("commission_rule.priority", "must be within -1000000..1000000")
    v.raise_if_any()
    if values["store_id"]:
        await uow.stores.require(values["store_id"], "commission_rule.store")
    row = await repo(uow).add_rule(rule_id=rule_id or new_id(), active=True, **values)
    if row is None:
        raise AlreadyExists(f"commissionRules/{rule_id} already exists", reason="COMMISSION_RULE_EXISTS")
    return row


def compute_records(
    rules: list[pricing.CommissionRule],
    *,
    lines: list[pricing.Line],
    priced: pricing.Priced,
    package_values: list[int],
    store_id: str,
    customer_type: str,
) -> list[dict]:
    """One record per line with serving staff and a matching rule (not yet stored)."""
    out = []
    for i, (line, price) in enumerate(zip(lines, priced.lines, strict=True)):
        parts = pricing.line_tender_parts(price, package_values[i])
        rec = _record(
            rules,
            line,
            index=i,
            base=price.net + package_values[i],
            parts=parts,
            store_id=store_id,
            customer_type=customer_type,
        )
        if rec is not None:
            out.append(rec)
    return out


# A package card sold is matched by commission rules as one line of this category whose item
# is the product (`packageProducts/{product}`).
PACKAGE_SALE_CATEGORY = "package"


def sale_record(
    rules: list[pricing.CommissionRule],
    *,
    sold_by: str,
    product_id: str,
    price: int,
    tenders: list[tuple[str, int]],
    store_id: str,
    customer_type: str,
    staff_position: str = "",
) -> dict | None:
    """The commission of the staff member who sold a package card, as for a checkout line: the
    rules see one unit of `packageProducts/{product}` (category `package`) at the price paid,
    split over the sale's tenders (`stored_value` and the external ones)."""
    parts: dict[str, int] = {}
    for tender, amount in tenders:
        parts[tender] = parts.get(tender, 0) + amount
    line = pricing.Line(
        item=f"packageProducts/{product_id}",
        category=PACKAGE_SALE_CATEGORY,
        quantity=1,
        list_price=price,
        serving_staff=sold_by,
        staff_position=staff_position,
    )
    return _record(
        rules, line, index=0, base=price, parts=parts, store_id=store_id, customer_type=customer_type
    )


# A top-up sold (充值提成) is matched as one line of this category whose item is its plan
# (`topUpPlans/{plan}`) or `storedValue` without one.
TOP_UP_CATEGORY = "top_up"
TOP_UP_ITEM = "storedValue"


def top_up_record(
    rules: list[pricing.CommissionRule],
    *,
    sold_by: str,
    staff_position: str,
    plan_id: str,
    amount: int,
    tender: str,
    store_id: str,
    customer_type: str,
) -> dict | None:
    """The commission of the staff member who sold a top-up: one unit of the plan (or
    `storedValue`) at the amount paid, all of it paid with the top-up's external tender."""
    line = pricing.Line(
        item=f"topUpPlans/{plan_id}" if plan_id else TOP_UP_ITEM,
        category=TOP_UP_CATEGORY,
        quantity=1,
        list_price=amount,
        serving_staff=sold_by,
        staff_position=staff_position,
    )
    return _record(
        rules,
        line,
        index=0,
        base=amount,
        parts={tender: amount},
        store_id=store_id,
        customer_type=customer_type,
    )


def paid_with(rule: pricing.CommissionRule, parts: dict[str, int]) -> str:
    """The payment type a record is reported under: the rule's tender when it names one, else the
    one tender that funded the line; '' when several did."""
    if rule.tender:
        return rule.tender
    funded = [tender for tender, amount in parts.items() if amount]
    return funded[0] if len(funded) == 1 else ""


def _record(
    rules: list[pricing.CommissionRule],
    line: pricing.Line,
    *,
    index: int,
    base: int,
    parts: dict[str, int],
    store_id: str,
    customer_type: str,
) -> dict | None:
    if not line.serving_staff:
        return None
    rule = pricing.choose_rule(
        rules, line=line, store_id=store_id, customer_type=customer_type, tender_parts=parts
    )
    if rule is None:
        return None
    base, amount = pricing.commission(rule, base=base, quantity=line.quantity, tender_parts=parts)
    return {
        "line_index": index,
        "staff": line.serving_staff,
        "amount_minor": amount,
        "base_minor": base,
        "rule_id": rule.rule_id,
        "item": line.item,
        "staff_position": line.staff_position,
        "tender": paid_with(rule, parts),
        "category": line.category,
    }


def clawbacks(records, units: dict[int, tuple[int, int, int]]) -> list[dict]:
    """Negative records for the refunded units: `units[line] = (before, after, quantity)`."""
    out = []
    for r in records:
        if r.refund_id is not None or r.line_index not in units:
            continue
        before, after, quantity = units[r.line_index]
        amount = pricing.share_of_units(r.amount_minor, after, quantity) - pricing.share_of_units(
            r.amount_minor, before, quantity
        )
        base = pricing.share_of_units(r.base_minor, after, quantity) - pricing.share_of_units(
            r.base_minor, before, quantity
        )
        if amount or base:
            out.append(
                {
                    "line_index": r.line_index,
                    "staff": r.staff,
                    "amount_minor": -amount,
                    "base_minor": -base,
                    "rule_id": r.rule_id,
                    "item": r.item,
                    "staff_position": r.staff_position,
                    "tender": r.tender,
                    "category": r.category,
                }
            )
    return out


async def report(
    uow: UoW,
    caller: Principal,
    *,
    staff: str,
    store_id: str | None,
    start: datetime,
    end: datetime,
    dimensions: list[str] = ["staff"],  # noqa: B006 (never mutated)
    source: str | None = None,
):
    caller.require(auth.WALLET_READ)
    if end <= start:
        raise InvalidArgument([("end_time", "must be after start_time")])
    return await repo(uow).report(
        staff=staff, store_id=store_id, start=start, end=end, dimensions=dimensions, source=source
    )


def clawback_record(rec, *, amount: int, base: int, **source: str | None) -> dict:
    """The record taking back ``amount`` (on ``base``) of the earned record ``rec``; ``source``
    names what it comes from (a checkout's transaction and refund, a package, …)."""
    return {
        "record_id": new_id(),
        **source,
        "line_index": rec.line_index,
        "staff": rec.staff,
        "amount_minor": -amount,
        "base_minor": -base,
        "rule_id": rec.rule_id,
        "item": rec.item,
        "staff_position": rec.staff_position,
        "tender": rec.tender,
        "category": rec.category,
        "store_id": rec.store_id,
        "currency_code": rec.currency_code,
    }


def _net_by_record(records) -> list[tuple[object, int, int]]:
    """(original record, net amount, net base) per earned record of a source."""
    out = []
    for original in (r for r in records if r.refund_id is None):
        same = [
            r
            for r in records
            if r.line_index == original.line_index
            and r.staff == original.staff
            and r.rule_id == original.rule_id
        ]
        out.append((original, sum(r.amount_minor for r in same), sum(r.base_minor for r in same)))
    return out


async def claw_back_top_up(uow: UoW, *, top_up_id: str, reversal_id: str) -> None:
    """A reversed top-up takes back everything its seller still has of its commission."""
    r = repo(uow)
    clawbacks = [
        clawback_record(rec, amount=net, base=base, transaction_id=rec.transaction_id, refund_id=reversal_id)
        for rec, net, base in _net_by_record(await r.records_of_top_ups([top_up_id]))
        if net or base
    ]
    await r.add_records(clawbacks)


async def claw_back_top_ups_refunded(
    uow: UoW, *, member_id: str, principal_account_id: str, refunded: int, refund_id: str
) -> None:
    """A stored-value refund of `refunded` principal takes back the matching commission of the
    member's top-ups (rule in the module docstring)."""
    if refunded <= 0:
        return
    r = repo(uow)
    top_ups = await r.top_ups_newest_first(member_id, principal_account_id)
    records = await r.records_of_top_ups([t.transaction_id for t in top_ups])
    by_top_up: dict[str, list] = {}
    for rec in records:
        by_top_up.setdefault(rec.transaction_id, []).append(rec)
    clawbacks, left = [], refunded
    for t in top_ups:
        if left <= 0:
            break
        earned = _net_by_record(by_top_up.get(t.transaction_id, []))
        # a commissioned top-up's principal left is its record's net base; another's is its principal
        principal_left = max((base for _, _, base in earned), default=int(t.principal))
        matched = min(left, max(principal_left, 0))
        left -= matched
        for rec, net, base in earned:
            if base <= 0 or net <= 0:
                continue
            whole = matched >= base
            amount = net if whole else net * matched // base
            taken_base = base if whole else matched
            if amount or taken_base:
                clawbacks.append(
                    clawback_record(
                        rec,
                        amount=amount,
                        base=taken_base,
                        transaction_id=rec.transaction_id,
                        refund_id=refund_id,
                    )
                )
    await r.add_records(clawbacks)
