"""Checkout pricing: exact integer allocation, the pricing order, funding per line, commission."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.errors import InvalidArgument, Violations
from services.wallet.domain import checkout as pricing

weights = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12)


@given(weights=weights, data=st.data())
def test_allocate_is_exact_and_never_exceeds_a_weight(weights, data):
    total = data.draw(st.integers(min_value=0, max_value=sum(weights))) if sum(weights) else 0
    shares = pricing.allocate(total, weights)
    assert sum(shares) == total
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))
    # proportional: within one unit of the exact share
    if sum(weights):
        assert all(
            abs(s * sum(weights) - total * w) < sum(weights) for s, w in zip(shares, weights, strict=True)
        )


def test_allocate_edges():
    assert pricing.allocate(0, [0, 0]) == [0, 0]
    assert pricing.allocate(10, [1, 1, 1]) == [4, 3, 3]
    with pytest.raises(ValueError):
        pricing.allocate(1, [0, 0])
    with pytest.raises(ValueError):
        pricing.allocate(-1, [1])


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    quantity=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_cumulative_shares_of_partial_refunds_add_up_exactly(amount, quantity, data):
    cuts = sorted(data.draw(st.lists(st.integers(min_value=1, max_value=quantity), max_size=6)))
    done, total = 0, 0
    for cut in [*cuts, quantity]:
        if cut <= done:
            continue
        part = pricing.share_of_units(amount, cut, quantity) - pricing.share_of_units(amount, done, quantity)
        assert part >= 0
        total += part
        done = cut
    assert total == amount


lines_st = st.lists(
    st.tuples(st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=10**6)),
    min_size=1,
    max_size=6,
)


@given(
    lines=lines_st,
    bps=st.integers(min_value=0, max_value=10_000),
    data=st.data(),
)
def test_pricing_pipeline_is_exact_per_line_and_in_total(lines, bps, data):
    ls = [
        pricing.Line(item=f"i{n}", category="c", quantity=q, list_price=p) for n, (q, p) in enumerate(lines)
    ]
    sessions = [data.draw(st.integers(min_value=0, max_value=line.quantity)) for line in ls]
    priced = pricing.start(ls, sessions)
    pricing.apply_tier_discount(priced, bps)
    due = sum(pricing.due_after_discounts(priced))
    voucher = data.draw(st.integers(min_value=0, max_value=due + 100))
    applied = pricing.apply_vouchers(priced, [(None, voucher)])
    assert applied == min(voucher, due)
    due = sum(pricing.due_after_discounts(priced))
    deduction = data.draw(st.integers(min_value=0, max_value=due // 2))
    pricing.apply_points(priced, deduction, deduction)
    total = priced.total_due
    principal = data.draw(st.integers(min_value=0, max_value=total))
    bonus = data.draw(st.integers(min_value=0, max_value=total - principal))
    cash = total - principal - bonus
    pricing.apply_funding(priced, [(pricing.PRINCIPAL, principal), (pricing.BONUS, bonus), ("cash", cash)])
    assert priced.subtotal == sum(line.gross for line in ls)
    assert priced.total("points_deduction") == deduction
    assert priced.total("points_redeemed") == deduction
    for p in priced.lines:
        assert p.net >= 0 and sum(p.funding.values()) == p.net
        assert min(p.tier_discount, p.voucher_discount, p.points_deduction) >= 0
    assert sum(p.funding.get(pricing.PRINCIPAL, 0) for p in priced.lines) == principal
    assert sum(p.funding.get("cash", 0) for p in priced.lines) == cash
    pricing.apply_points_earned(priced, principal + cash)
    assert priced.total("points_earned") == principal + cash


def test_pricing_order_example():
    # 2 facials at 300.00 (one from a package), 1 serum at 200.00; 10 % tier discount.
    ls = [
        pricing.Line("services/facial", "facial", 2, 30000, use_package="p"),
        pricing.Line("products/serum", "retail", 1, 20000),
    ]
    priced = pricing.start(ls, [1, 0])
    assert [p.package_covered for p in priced.lines] == [30000, 0]
    assert pricing.apply_tier_discount(priced, 1000) == 5000
    assert [p.tier_discount for p in priced.lines] == [3000, 2000]
    pricing.apply_vouchers(priced, [(1, 5000)])  # a line voucher on the serum
    assert [p.voucher_discount for p in priced.lines] == [0, 5000]
    assert pricing.due_after_discounts(priced) == [27000, 13000]
    assert pricing.points_value(2000, 100) == 2000 and pricing.max_points_deduction(40000, 5000) == 20000
    pricing.apply_points(priced, 2000, 2000)
    assert priced.total_due == 38000 and priced.subtotal == 80000


def test_points_value_and_validation():
    assert pricing.points_value(150, 100) == 150
    assert pricing.points_value(15, 1000) is None  # 10 points per fen
    assert pricing.points_value(20, 1000) == 2
    v = Violations()
    pricing.validate_lines([pricing.Line("", "", 0, -1), pricing.Line("x", "", 10_000, 10**12)], v)
    fields = {f for f, _ in v.items}
    assert {"lines[0].item", "lines[0].quantity", "lines[0].list_price_minor", "lines[1]"} <= fields
    with pytest.raises(InvalidArgument):
        v.raise_if_any()


def _rule(rule_id, **kw):
    base = dict(
        item="",
        category="",
        store_id="",
        staff_position="",
        customer_type="",
        tender="",
        basis="percent",
        percent_bps=500,
        fixed_minor=0,
        priority=0,
        active=True,
    )
    base.update(kw)
    return pricing.CommissionRule(rule_id=rule_id, **base)


def test_commission_rule_choice_and_amounts():
    line = pricing.Line(
        "services/facial", "facial", 2, 10000, serving_staff="staff/a", staff_position="beautician"
    )
    rules = [
        _rule("any", order=0),
        _rule("facial", category="facial", percent_bps=800, order=1),
        _rule("facial-new", category="facial", customer_type="new", percent_bps=1000, order=2),
        _rule("inactive", priority=99, active=False, order=3),
        _rule("sv", tender="stored_value", priority=5, percent_bps=300, order=4),
    ]
    parts = {"cash": 20000}
    chosen = pricing.choose_rule(rules, line=line, store_id="s1", customer_type="member", tender_parts=parts)
    assert chosen.rule_id == "facial"  # more specific wins the priority tie
    chosen = pricing.choose_rule(rules, line=line, store_id="s1", customer_type="new", tender_parts=parts)
    assert chosen.rule_id == "facial-new"
    parts = {"cash": 5000, "stored_value": 15000}
    chosen = pricing.choose_rule(rules, line=line, store_id="s1", customer_type="new", tender_parts=parts)
    assert chosen.rule_id == "sv"  # higher priority
    assert pricing.commission(chosen, base=20000, quantity=2, tender_parts=parts) == (15000, 450)
    fixed = _rule("fixed", basis="fixed", fixed_minor=700)
    assert pricing.commission(fixed, base=20000, quantity=2, tender_parts=parts) == (20000, 1400)


def test_the_checkout_record_is_one_checkouts_row_in_plain_json():
    from services.wallet.adapters.checkout_tables import checkouts

    priced = pricing.start([pricing.Line("services/facial", "facial", 2, 30000)], [0])
    pricing.apply_funding(priced, [(pricing.PRINCIPAL, 50000), (pricing.BONUS, 10000)])
    record = pricing.CheckoutRecord(
        checkout_id="c",
        member_id="m",
        store_id="s1",
        state="completed",
        customer_type="new",
        tier_id="",
        tier_discount_bps=0,
        currency_code="CNY",
        lines=[pricing.Line("services/facial", "facial", 2, 30000)],
        line_results=[pricing.LineResult.of(priced.lines[0], sessions=0, package_value=0, package="")],
        vouchers=[],
        points_to_redeem=0,
        tenders=[("cash", 0)],
        subtotal_minor=60000,
        package_covered_minor=0,
        tier_discount_minor=0,
        voucher_discount_minor=0,
        points_deduction_minor=0,
        total_due_minor=60000,
        principal_funded_minor=50000,
        bonus_funded_minor=10000,
        qualifying_spend_minor=50000,
        points_earned=0,
        redeemed_lots=[("lot", 100)],
        package_uses=[],
        voucher_uses=[],
        refunded_units=[0],
    )
    row = record.as_row()
    written_later = {"tenant_id", "earned_lot_id", "transaction_id", "create_time", "update_time"}
    assert set(row) == {c.name for c in checkouts.columns} - written_later
    assert json.loads(json.dumps(row)) == row  # JSON columns hold plain lists and dicts
    assert row["line_results"][0]["funding"] == {"principal": 50000, "bonus": 10000}
    assert row["line_results"][0]["commission_base"] == 60000
    assert row["tenders"] == [["cash", 0]] and row["redeemed_lots"] == [["lot", 100]]
    # as `dataclasses.asdict` gives them (as_row copies without its recursion), sharing no container
    assert row["lines"] == [dataclasses.asdict(line) for line in record.lines]
    assert row["line_results"] == [dataclasses.asdict(r) for r in record.line_results]
    assert row["line_results"][0]["funding"] is not record.line_results[0].funding
