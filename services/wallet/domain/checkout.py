"""Checkout pricing (结账): pure, exact integer arithmetic. No I/O.

Order (checkout.proto): package sessions on matching lines, the tier discount on what packages did
not cover, vouchers, the points deduction, then stored value (principal, bonus) and external
tenders, which together cover `total_due` exactly. Every total is spread over the lines with
`allocate` (largest remainder), so per-line shares always add up to the total exactly, and every
refund is computed cumulatively (`share_of_units`) so refunding every unit, in any number of
partial refunds, returns exactly what was taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from kit.errors import Violations
from services.wallet.domain.ledger import MAX_AMOUNT
from services.wallet.domain.rules import BONUS, PRINCIPAL, qualifying_spend

MAX_QUANTITY = 10_000


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` (>= 0) over `weights` (>= 0) in proportion, exactly (largest remainder).

    Shares add up to `total`; when `total <= sum(weights)` no share exceeds its weight; a zero
    weight gets nothing. Ties go to the earlier index, so the result is deterministic."""
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate needs non-negative amounts")
    denom = sum(weights)
    if total == 0:
        return [0] * len(weights)
    if denom == 0:
        raise ValueError("cannot allocate a positive amount over zero weights")
    shares = [total * w // denom for w in weights]
    remainders = [total * w % denom for w in weights]
    left = total - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def share_of_units(amount: int, units: int, quantity: int) -> int:
    """The part of a line's `amount` that belongs to its first `units` of `quantity` units:
    cumulative, so successive partial refunds add up to `amount` exactly at `units == quantity`."""
    if units >= quantity:
        return amount
    return amount * units // quantity


@dataclass(frozen=True)
class Line:
    item: str
    category: str
    quantity: int
    list_price: int
    serving_staff: str = ""
    staff_position: str = ""
    use_package: str = ""
    display_name: str = ""

    @property
    def gross(self) -> int:
        return self.quantity * self.list_price


def validate_lines(lines: list[Line], v: Violations) -> None:
    if not lines:
        v.add("lines", "at least one line is required")
    subtotal = 0
    for i, line in enumerate(lines):
        if not line.item.strip():
            v.add(f"lines[{i}].item", "is required")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            v.add(f"lines[{i}].quantity", f"must be within 1..{MAX_QUANTITY}")
        if not 0 <= line.list_price <= MAX_AMOUNT:
            v.add(f"lines[{i}].list_price_minor", f"must be within 0..{MAX_AMOUNT}")
        elif 1 <= line.quantity <= MAX_QUANTITY:
            if line.gross > MAX_AMOUNT:
                v.add(f"lines[{i}]", f"quantity x list price must be at most {MAX_AMOUNT}")
            subtotal += line.gross
    if subtotal > MAX_AMOUNT:
        v.add("lines", f"the subtotal must be at most {MAX_AMOUNT}")


def points_value(points: int, points_per_yuan: int) -> int | None:
    """Money value (minor units, 100 per yuan) of `points`; None when not a whole minor unit."""
    if (points * 100) % points_per_yuan:
        return None
    return points * 100 // points_per_yuan


def max_points_deduction(due: int, max_redeem_bps: int) -> int:
    return due * max_redeem_bps // 10_000


@dataclass
class LinePrice:
    gross: int
    package_covered: int = 0
    tier_discount: int = 0
    voucher_discount: int = 0
    points_deduction: int = 0
    funding: dict[str, int] = field(default_factory=dict)  # source -> minor (principal, bonus, tenders)
    points_redeemed: int = 0
    points_earned: int = 0

    @property
    def discount(self) -> int:
        return self.tier_discount + self.voucher_discount + self.points_deduction

    @property
    def net(self) -> int:
        return self.gross - self.package_covered - self.discount

    @property
    def qualifying(self) -> int:
        return qualifying_spend(self.funding.items())


@dataclass
class Priced:
    lines: list[LinePrice]

    def total(self, attr: str) -> int:
        return sum(getattr(p, attr) for p in self.lines)

    @property
    def subtotal(self) -> int:
        return self.total("gross")

    @property
    def total_due(self) -> int:
        return self.total("net")


def start(lines: list[Line], package_sessions: list[int]) -> Priced:
    """Step 1: gross and what package sessions cover (sessions x list price)."""
    return Priced(
        [
            LinePrice(gross=line.gross, package_covered=min(s, line.quantity) * line.list_price)
            for line, s in zip(lines, package_sessions, strict=True)
        ]
    )


def apply_tier_discount(priced: Priced, discount_bps: int) -> int:
    """Step 2: `discount_bps` of what packages did not cover (rounded down), spread over the lines."""
    base = [p.gross - p.package_covered for p in priced.lines]
    total = sum(base) * max(0, min(discount_bps, 10_000)) // 10_000
    for p, share in zip(priced.lines, allocate(total, base), strict=True):
        p.tier_discount = share
    return total


def due_after_discounts(priced: Priced) -> list[int]:
    return [p.net for p in priced.lines]


def apply_vouchers(priced: Priced, discounts: list[tuple[int | None, int]]) -> int:
    """Step 3: each (line_index or None for the whole bill, discount). A line voucher is capped at
    its line's remaining due; a bill voucher at the bill's, spread over the lines."""
    applied = 0
    for index, amount in discounts:
        due = due_after_discounts(priced)
        if index is not None and 0 <= index < len(priced.lines):
            take = min(amount, due[index])
            priced.lines[index].voucher_discount += take
        else:
            take = min(amount, sum(due))
            for p, share in zip(priced.lines, allocate(take, due), strict=True):
                p.voucher_discount += share
        applied += take
    return applied


def apply_points(priced: Priced, deduction: int, points: int) -> None:
    """Step 4: the money value of redeemed points, spread over the lines (points alike)."""
    due = due_after_discounts(priced)
    for p, share in zip(priced.lines, allocate(deduction, due), strict=True):
        p.points_deduction = share
    for p, share in zip(
        priced.lines, allocate(points, [p.points_deduction for p in priced.lines]), strict=True
    ):
        p.points_redeemed = share


def apply_funding(priced: Priced, sources: list[tuple[str, int]]) -> None:
    """Step 5: spread each funding source over the lines' nets so that, per line, the sources add
    up to its net exactly. Sources must add up to the total due (checked by the caller)."""
    capacity = [p.net for p in priced.lines]
    for source, amount in sources:
        if amount <= 0:
            continue
        shares = allocate(amount, capacity)
        for i, share in enumerate(shares):
            if share:
                priced.lines[i].funding[source] = priced.lines[i].funding.get(source, 0) + share
                capacity[i] -= share


def apply_points_earned(priced: Priced, points: int) -> None:
    for p, share in zip(priced.lines, allocate(points, [p.qualifying for p in priced.lines]), strict=True):
        p.points_earned = share


# --- commission ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommissionRule:
    rule_id: str
    item: str
    category: str
    store_id: str
    staff_position: str
    customer_type: str  # "" | new | member
    tender: str  # "" | cash | bank_card | wechat_pay | alipay | stored_value | package | points | voucher
    basis: str  # percent | fixed
    percent_bps: int
    fixed_minor: int
    priority: int
    active: bool
    order: int = 0  # creation order (older first on ties)

    @property
    def criteria(self) -> int:
        return sum(
            bool(x)
            for x in (
                self.item,
                self.category,
                self.store_id,
                self.staff_position,
                self.customer_type,
                self.tender,
            )
        )


# A staff reference as the contract writes it: `staff/{staff}`, or booking's staff resource name
# `stores/{store}/staff/{staff}` (ids of 1-64 printable characters, no slash).
_STAFF_REFERENCE = re.compile(r"(stores/[!-.0-~]{1,64}/)?staff/[!-.0-~]{1,64}")


def is_staff_reference(value: str) -> bool:
    return _STAFF_REFERENCE.fullmatch(value) is not None


def line_tender_parts(price: LinePrice, package_value: int) -> dict[str, int]:
    """The line's commission base split by tender: stored value, package, and each external tender."""
    parts: dict[str, int] = {}
    for source, amount in price.funding.items():
        key = "stored_value" if source in (PRINCIPAL, BONUS) else source
        parts[key] = parts.get(key, 0) + amount
    if package_value:
        parts["package"] = package_value
    return parts


def choose_rule(
    rules: list[CommissionRule],
    *,
    line: Line,
    store_id: str,
    customer_type: str,
    tender_parts: dict[str, int],
) -> CommissionRule | None:
    def matches(r: CommissionRule) -> bool:
        return (
            r.active
            and (not r.item or r.item == line.item)
            and (not r.category or r.category == line.category)
            and (not r.store_id or r.store_id == store_id)
            and (not r.staff_position or r.staff_position == line.staff_position)
            and (not r.customer_type or r.customer_type == customer_type)
            and (not r.tender or tender_parts.get(r.tender, 0) > 0)
        )

    candidates = [r for r in rules if matches(r)]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (-r.priority, -r.criteria, r.order, r.rule_id))


def commission(
    rule: CommissionRule, *, base: int, quantity: int, tender_parts: dict[str, int]
) -> tuple[int, int]:
    """(base, amount) of the commission a rule gives on a line."""
    if rule.tender:
        base = tender_parts.get(rule.tender, 0)
    if rule.basis == "fixed":
        return base, rule.fixed_minor * quantity
    return base, base * rule.percent_bps // 10_000


# --- the checkout's record ---------------------------------------------------------------------
@dataclass
class LineResult:
    """What pricing did to one line (stored as JSON in `checkouts.line_results`; refunds read it)."""

    gross: int
    package_covered: int
    tier_discount: int
    voucher_discount: int
    points_deduction: int
    funding: dict[str, int]  # source -> minor (PRINCIPAL, BONUS, tenders)
    points_redeemed: int
    points_earned: int
    sessions: int
    package_value: int
    package: str  # members/{member}/packages/{package}, or ""
    commission_base: int

    @classmethod
    def of(cls, price: LinePrice, *, sessions: int, package_value: int, package: str) -> LineResult:
        return cls(
            gross=price.gross,
            package_covered=price.package_covered,
            tier_discount=price.tier_discount,
            voucher_discount=price.voucher_discount,
            points_deduction=price.points_deduction,
            funding=price.funding,
            points_redeemed=price.points_redeemed,
            points_earned=price.points_earned,
            sessions=sessions,
            package_value=package_value,
            package=package,
            commission_base=price.net + package_value,
        )


_LINE_FIELDS = tuple(f.name for f in fields(Line))
_RESULT_FIELDS = tuple(f.name for f in fields(LineResult))


@dataclass
class CheckoutRecord:
    """The checkout as planned: one `checkouts` row (the transaction and the earned lot are added
    when it is written). JSON columns hold plain lists and dicts, as `as_row` gives them."""

    checkout_id: str
    member_id: str | None
    store_id: str
    state: str
    customer_type: str  # "new" | "member"
    tier_id: str
    tier_discount_bps: int
    currency_code: str
    lines: list[Line]
    line_results: list[LineResult]
    vouchers: list[str]  # members/{member}/vouchers/{voucher}
    points_to_redeem: int
    tenders: list[tuple[str, int]]
    subtotal_minor: int
    package_covered_minor: int
    tier_discount_minor: int
    voucher_discount_minor: int
    points_deduction_minor: int
    total_due_minor: int
    principal_funded_minor: int
    bonus_funded_minor: int
    qualifying_spend_minor: int
    points_earned: int
    redeemed_lots: list[tuple[str, int]]  # (lot, points taken)
    package_uses: list[dict]  # the packages area's record of each use, with its line_index
    voucher_uses: list[dict]  # {voucher_id, discount_minor, line_index}
    refunded_units: list[int]
    refunded_minor: int = 0
    discount_approval_id: str | None = None  # when a store manager approved the discount

    def as_row(self) -> dict:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        # `asdict` without its recursive deep copy: a line's fields are plain values and a
        # result's only container is its `funding` dict (copied), so the rows come out the same.
        row["lines"] = [{name: getattr(line, name) for name in _LINE_FIELDS} for line in self.lines]
        row["line_results"] = [
            {**{name: getattr(r, name) for name in _RESULT_FIELDS}, "funding": dict(r.funding)}
            for r in self.line_results
        ]
        row["tenders"] = [list(t) for t in self.tenders]
        row["redeemed_lots"] = [list(t) for t in self.redeemed_lots]
        return row
