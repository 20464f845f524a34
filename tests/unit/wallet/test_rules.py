"""Wallet money rules: exact splits, instalments, points, expiry and lot order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.errors import FailedPrecondition, InvalidArgument
from services.wallet.domain import ledger, rules
from services.wallet.domain.ledger import AccountKey, TransactionDraft

amounts = st.integers(min_value=0, max_value=10**9)


@given(principal=amounts, bonus=amounts, data=st.data(), order=st.sampled_from(rules.SPEND_ORDERS))
def test_split_spend_is_exact_and_never_overdraws(principal, bonus, data, order):
    amount = data.draw(st.integers(min_value=0, max_value=principal + bonus))
    p, b = rules.split_spend(amount, principal, bonus, order)
    assert p + b == amount and 0 <= p <= principal and 0 <= b <= bonus


def test_split_spend_orders():
    assert rules.split_spend(300, 1000, 200, rules.PROPORTIONAL) == (250, 50)
    assert rules.split_spend(300, 1000, 200, rules.PRINCIPAL_FIRST) == (300, 0)
    assert rules.split_spend(300, 1000, 200, rules.BONUS_FIRST) == (100, 200)
    assert rules.split_spend(1, 1, 1, rules.PROPORTIONAL) in ((1, 0), (0, 1))
    with pytest.raises(ValueError):
        rules.split_spend(5, 2, 2, rules.PROPORTIONAL)


@given(total=st.integers(min_value=0, max_value=10**9), months=st.integers(min_value=1, max_value=36))
def test_instalments_sum_exactly(total, months):
    parts = rules.instalments(total, months)
    assert sum(parts) == total and len(parts) == months and len(set(parts[:-1])) <= 1


def test_instalments_domain_example():
    parts = rules.instalments(20_000, 12)  # ¥200 bonus over 12 months
    assert parts[:11] == [1666] * 11 and parts[-1] == 1674


def test_points_earned_on_principal_only_times_multiplier():
    assert rules.points_for_spend(30_000, 1, 1000) == 300
    assert rules.points_for_spend(30_000, 1, 1100) == 330  # gold 1.10x
    assert rules.points_for_spend(99, 1, 1000) == 0  # under one yuan earns nothing
    assert rules.points_for_spend(99, 1, 1200) == 1  # 0.99 yuan x 1.2 = 1.19 points
    assert rules.points_for_spend(0, 1, 1200) == 0


def test_points_expiry_policies():
    earned = datetime(2026, 1, 31, 10, tzinfo=UTC)
    assert rules.points_expiry(earned, rules.END_OF_MONTH_AFTER_MONTHS, months=12) == datetime(
        2027, 1, 31, 23, 59, 59, tzinfo=UTC
    )
    assert rules.points_expiry(
        datetime(2026, 3, 31, tzinfo=UTC), rules.END_OF_MONTH_AFTER_MONTHS, months=11
    ) == (datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC))
    assert rules.points_expiry(earned, rules.DAYS, days=30) == earned + timedelta(days=30)
    assert rules.points_expiry(earned, rules.YEAR_END) == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert rules.points_expiry(earned, rules.NEVER) is None


def test_lots_are_consumed_soonest_expiring_first_skipping_pending_and_expired():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    lots = [
        rules.Lot("never", 100, None, now - timedelta(days=300)),
        rules.Lot("late", 50, now + timedelta(days=200), now - timedelta(days=10)),
        rules.Lot("soon", 30, now + timedelta(days=5), now - timedelta(days=100)),
        rules.Lot("expired", 500, now - timedelta(days=1), now - timedelta(days=400)),
        rules.Lot("pending", 500, now + timedelta(days=400), now, pending_until=now + timedelta(days=7)),
    ]
    assert rules.consume_lots(lots, 100, now) == [("soon", 30), ("late", 50), ("never", 20)]
    with pytest.raises(ValueError):
        rules.consume_lots(lots, 181, now)


def test_transactions_must_balance_per_unit_and_stay_within_limits():
    a = AccountKey(ledger.TENDER, "s1", "CNY")
    b = AccountKey(ledger.SV_PRINCIPAL, "m1", "CNY")
    draft = TransactionDraft("top_up").move(100, debit=a, credit=b)
    draft.validate()
    with pytest.raises(AssertionError):
        TransactionDraft("bad", [ledger.Posting(a, 100)]).validate()
    with pytest.raises(InvalidArgument):
        TransactionDraft("huge").move(ledger.MAX_AMOUNT + 1, debit=a, credit=b).validate()
    with pytest.raises(InvalidArgument):
        TransactionDraft("empty").validate()
    assert a.account_id("t1") == AccountKey(ledger.TENDER, "s1", "CNY").account_id("t1") != a.account_id("t2")


@given(
    tenant=st.text(max_size=40),
    kind=st.sampled_from(sorted(ledger.KINDS)),
    owner=st.one_of(st.just(""), st.uuids().map(str), st.text(max_size=40)),
    unit=st.sampled_from(["CNY", "PTS", "SESSION", "USD"]),
)
def test_account_ids_are_the_uuid5_of_the_key(tenant, kind, owner, unit):
    # every account row in every database was keyed this way: the fast path must never drift
    key = AccountKey(ledger.KINDS[kind], owner, unit)
    expected = str(uuid.uuid5(ledger._ACCOUNT_NS, f"{tenant}|{kind}|{owner}|{unit}"))
    assert key.account_id(tenant) == expected
    assert key.account_id(tenant) == expected  # and again, from the cache
    assert hash(key) == hash(AccountKey(ledger.KINDS[kind], owner, unit))


def test_member_accounts_cannot_be_overdrawn_but_tenant_accounts_can_go_either_way():
    member = AccountKey(ledger.SV_PRINCIPAL, "m1", "CNY")
    ledger.check_not_overdrawn(member, -5)  # the member holds 5
    with pytest.raises(FailedPrecondition) as err:
        ledger.check_not_overdrawn(member, 1)
    assert err.value.reason == "INSUFFICIENT_BALANCE"
    ledger.check_not_overdrawn(AccountKey(ledger.REVENUE, "s1", "CNY"), 10**9)


def test_reversal_mirrors_every_posting():
    a = AccountKey(ledger.TENDER, "s1", "CNY")
    b = AccountKey(ledger.SV_PRINCIPAL, "m1", "CNY")
    original = TransactionDraft("top_up").move(100, debit=a, credit=b)
    mirror = ledger.reversal_of("top_up", original.postings, reverses="t0", member_id="m1", store_id="s1")
    assert [(p.account, p.amount) for p in mirror.postings] == [(a, -100), (b, 100)]
    mirror.validate()


def test_bonus_never_qualifies_for_points_or_tiers():
    # the member's own money (principal, any tender) qualifies; the salon's bonus never does
    funding = [(rules.PRINCIPAL, 700), (rules.BONUS, 300), ("cash", 50), ("wechat_pay", 25)]
    assert rules.qualifying_spend(funding) == 775
    assert rules.qualifying_spend([(rules.BONUS, 1000)]) == 0
    assert rules.qualifying_spend([]) == 0


def test_restore_lots_gives_back_to_the_lots_taken_from_in_order():
    taken = [("a", 30), ("b", 50), ("c", 20)]
    assert rules.restore_lots(taken, 100) == taken  # a reversal: everything, lot by lot
    assert rules.restore_lots(taken, 40) == [("a", 30), ("b", 10)]  # a first partial refund
    # a second partial refund continues where the first stopped
    assert rules.restore_lots(taken, 50, {"a": 30, "b": 10}) == [("b", 40), ("c", 10)]
    assert rules.restore_lots(taken, 10, {"a": 30, "b": 50, "c": 10}) == [("c", 10)]
    with pytest.raises(ValueError):
        rules.restore_lots(taken, 11, {"a": 30, "b": 50, "c": 10})


@given(
    taken=st.lists(st.tuples(st.sampled_from("abcde"), st.integers(1, 500)), max_size=6),
    cuts=st.lists(st.integers(0, 3000), max_size=5),
)
def test_restore_lots_in_any_number_of_refunds_restores_exactly_what_was_taken(taken, cuts):
    total = sum(n for _, n in taken)
    parts, left = [], total
    for cut in cuts:
        part = min(cut, left)
        parts.append(part)
        left -= part
    parts.append(left)
    restored: dict[str, int] = {}
    for part in parts:
        for lot_id, n in rules.restore_lots(taken, part, dict(restored)):
            assert n > 0
            restored[lot_id] = restored.get(lot_id, 0) + n
    per_lot: dict[str, int] = {}
    for lot_id, n in taken:
        per_lot[lot_id] = per_lot.get(lot_id, 0) + n
    assert restored == {k: v for k, v in per_lot.items() if v}
