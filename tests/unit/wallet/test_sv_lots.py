"""Stored-value lots per selling store (services/wallet/domain/sv_lots.py): spend order and
exact give-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.wallet.domain.sv_lots import LotsShort, Share, StoreLot, give_back, spend_order, take

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lot(store: str, principal: int, bonus: int = 0, days: int = 0) -> StoreLot:
    return StoreLot(store, principal, bonus, T0 + timedelta(days=days))


def test_the_spending_store_first_then_the_longest_held():
    lots = [lot("c", 100, days=2), lot("b", 100, days=5), lot("a", 100, days=1)]
    assert [x.store_id for x in spend_order(lots, "b")] == ["b", "a", "c"]
    assert [x.store_id for x in spend_order(lots, "z")] == ["a", "c", "b"]


def test_principal_and_bonus_are_taken_each_in_spend_order():
    lots = [lot("a", 300, 75, days=1), lot("b", 100, 0, days=2)]
    assert take(lots, principal=250, bonus=50, at_store="b") == [Share("b", 100, 0), Share("a", 150, 50)]
    assert take(lots, principal=0, bonus=75, at_store="b") == [Share("a", 0, 75)]
    with pytest.raises(LotsShort):
        take(lots, principal=401, bonus=0, at_store="a")


def test_a_refund_gives_back_the_last_taken_first_and_never_more_than_taken():
    taken = [Share("b", 100, 0), Share("a", 150, 50)]
    assert give_back(taken, principal=120, bonus=10) == [Share("a", 120, 10)]
    assert give_back(taken, principal=250, bonus=50) == [Share("a", 150, 50), Share("b", 100, 0)]
    with pytest.raises(LotsShort):
        give_back(taken, principal=251, bonus=0)
