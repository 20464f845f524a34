"""Package card rules: exact price allocation and session values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.errors import FailedPrecondition, Violations
from services.wallet.domain import packages as dp
from services.wallet.domain.packages import ProductItem


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=8).filter(any),
)
def test_allocate_is_exact_and_proportional(total, weights):
    shares = dp.allocate(total, weights)
    assert sum(shares) == total and all(s >= 0 for s in shares)
    w_sum = sum(weights)
    for s, w in zip(shares, weights, strict=True):
        assert abs(s * w_sum - total * w) < w_sum  # within one fen of the exact share


def test_largest_remainder_goes_to_the_biggest_fraction():
    # 280001 over 300000 : 100000 -> 210000.75 / 70000.25
    assert dp.allocate(280_001, [300_000, 100_000]) == [210_001, 70_000]
    assert dp.allocate(100, [1, 1, 1]) == [34, 33, 33]


@given(
    share=st.integers(min_value=0, max_value=10**9),
    sessions=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_consuming_every_session_recognises_the_share_exactly(share, sessions, data):
    base = share // sessions
    remaining, deferred, recognised = sessions, share, 0
    while remaining:
        k = data.draw(st.integers(min_value=1, max_value=remaining))
        value = dp.consumption_value(remaining, deferred, base, k)
        assert value >= base * k
        remaining, deferred, recognised = remaining - k, deferred - value, recognised + value
        assert deferred >= base * remaining  # what is left is always enough for what is left
    assert recognised == share and deferred == 0


def test_last_session_takes_the_remainder():
    assert [dp.consumption_value(r, 21_000 * (r - 1) + 21_001, 21_000, 1) for r in (3, 2, 1)] == [
        21_000,
        21_000,
        21_001,
    ]


def test_allocate_sale_values_sessions_and_expiry():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    items = [
        ProductItem("services/facial", "Facial", 10, 30_000, 365),
        ProductItem("services/neck", "Neck", 5, 20_000, 0),
    ]
    facial, neck = dp.allocate_sale(280_001, items, now)
    assert (facial.allocated_minor, facial.session_value_minor) == (210_001, 21_000)
    assert (neck.allocated_minor, neck.session_value_minor) == (70_000, 14_000)
    assert facial.expire_time == now + timedelta(days=365) and neck.expire_time is None


def test_product_validation_reports_every_problem():
    v = Violations()
    dp.validate_product(
        v,
        "p",
        " ",
        0,
        [
            ProductItem("facial", "", 0, -1, -1),
            ProductItem("services/a", "", 1, 0),
            ProductItem("services/a", "", 1, 0),
        ],
    )
    fields = {f for f, _ in v.items}
    assert {
        "p.display_name",
        "p.price_minor",
        "p.items[0].service",
        "p.items[0].sessions",
        "p.items[0].list_price_minor",
        "p.items[0].validity_days",
        "p.items[2].service",
    } <= fields


def test_states_and_item_checks():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert dp.effective_state(dp.FROZEN, now - timedelta(seconds=1), now) == dp.ACTIVE
    assert dp.effective_state(dp.FROZEN, None, now) == dp.FROZEN
    with pytest.raises(FailedPrecondition) as e:
        dp.require_usable(dp.FROZEN)
    assert e.value.reason == "PACKAGE_FROZEN"
    with pytest.raises(FailedPrecondition) as e:
        dp.require_item_usable("services/x", 5, now, 1, now)
    assert e.value.reason == "PACKAGE_ITEM_EXPIRED"
    with pytest.raises(FailedPrecondition) as e:
        dp.require_item_usable("services/x", 0, None, 1, now)
    assert e.value.reason == "NO_SESSIONS_LEFT"
