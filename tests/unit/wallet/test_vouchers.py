"""Voucher, reward and check-in rules: validity, usability, discounts, codes and streaks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.errors import FailedPrecondition, InvalidArgument, Violations
from services.wallet.domain import vouchers as dv

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


def view(kind=dv.AMOUNT_OFF, *, vid="v1", state=dv.ISSUED, start=None, until=None, **terms) -> dv.VoucherView:
    return dv.VoucherView(
        voucher_id=vid,
        member_id="m",
        state=state,
        valid_from=start or NOW - timedelta(days=1),
        valid_until=until if until is not None else NOW + timedelta(days=1),
        terms=dv.VoucherTerms(display_name="x", kind=kind, **terms),
    )


def reason(exc_info) -> str:
    return exc_info.value.reason


def test_validity_is_the_intersection_of_days_and_window():
    window_end = NOW + timedelta(days=10)
    assert dv.validity_at_issue(NOW, 30, None, window_end) == (NOW, window_end)
    assert dv.validity_at_issue(NOW, 5, None, window_end) == (NOW, NOW + timedelta(days=5))
    later = NOW + timedelta(days=2)
    assert dv.validity_at_issue(NOW, 0, later, window_end) == (later, window_end)
    assert dv.validity_at_issue(NOW, 7, None, None) == (NOW, NOW + timedelta(days=7))


def test_template_validation():
    v = Violations()
    dv.VoucherTerms("", "nope").validate(v, "t")
    dv.validate_validity(v, "t", 0, None, None)
    with pytest.raises(InvalidArgument):
        v.raise_if_any()
    ok = Violations()
    dv.VoucherTerms("¥50", dv.AMOUNT_OFF, amount_off_minor=5000).validate(ok, "t")
    dv.VoucherTerms("10%", dv.PERCENT_OFF, percent_off_bps=1000).validate(ok, "t")
    dv.VoucherTerms("facial", dv.FREE_SERVICE, free_service="services/facial").validate(ok, "t")
    dv.validate_validity(ok, "t", 30, None, None)
    ok.raise_if_any()


def test_effective_state_expires_issued_vouchers_only():
    past = NOW - timedelta(seconds=1)
    assert dv.effective_state(dv.ISSUED, past, NOW) == dv.EXPIRED
    assert dv.effective_state(dv.REDEEMED, past, NOW) == dv.REDEEMED
    assert dv.effective_state(dv.ISSUED, None, NOW) == dv.ISSUED


@pytest.mark.parametrize(
    ("v", "store", "due", "expected"),
    [
        (view(state=dv.REDEEMED), "s1", 100, "VOUCHER_USED"),
        (view(until=NOW - timedelta(seconds=1)), "s1", 100, "VOUCHER_EXPIRED"),
        (view(state=dv.VOIDED), "s1", 100, "VOUCHER_NOT_APPLICABLE"),
        (view(start=NOW + timedelta(hours=1)), "s1", 100, "VOUCHER_NOT_APPLICABLE"),
        (view(stores=["s2"]), "s1", 100, "VOUCHER_NOT_AT_STORE"),
        (view(min_spend_minor=101), "s1", 100, "MINIMUM_SPEND_NOT_MET"),
    ],
)
def test_check_usable_reasons(v, store, due, expected):
    with pytest.raises(FailedPrecondition) as e:
        dv.check_usable(v, store_id=store, amount_due=due, now=NOW)
    assert reason(e) == expected
    assert not dv.usable_on_cart(v, store_id=store, subtotal=due, now=NOW)


def test_usable_voucher_passes():
    v = view(stores=["s1"], min_spend_minor=100)
    dv.check_usable(v, store_id="s1", amount_due=100, now=NOW)
    assert dv.usable_on_cart(v, store_id="s1", subtotal=100, now=NOW)


def test_discounts_by_kind():
    lines = [("services/facial", 8000), ("products/serum", 3000), ("services/facial", 6000)]
    got = dv.compute_discounts(
        [
            view(vid="a", amount_off_minor=5000),
            view(dv.PERCENT_OFF, vid="p", percent_off_bps=1000, max_discount_minor=1500),
            view(dv.FREE_SERVICE, vid="f", free_service="services/facial"),
            view(dv.FREE_SERVICE, vid="g", free_service="services/facial"),
        ],
        lines,
        17000,
    )
    # 5000 off; 10 % of 17000 = 1700 capped at 1500; first facial line 8000; the rest (2500) of the second
    assert got == [("a", 5000, None), ("p", 1500, None), ("f", 8000, 0), ("g", 2500, 2)]


def test_free_service_without_a_matching_line_is_not_applicable():
    with pytest.raises(FailedPrecondition) as e:
        dv.compute_discounts(
            [view(dv.FREE_SERVICE, free_service="services/massage")], [("services/facial", 1)], 1
        )
    assert reason(e) == "VOUCHER_NOT_APPLICABLE"


def test_a_voucher_with_nothing_left_to_take_is_refused():
    with pytest.raises(FailedPrecondition) as e:
        dv.compute_discounts(
            [view(vid="a", amount_off_minor=500), view(vid="b", amount_off_minor=1)], [], 500
        )
    assert reason(e) == "VOUCHER_NOT_APPLICABLE"


@given(
    due=st.integers(min_value=1, max_value=10**7),
    amounts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=5),
)
def test_discounts_never_exceed_the_amount_due(due, amounts):
    vs = [view(vid=str(i), amount_off_minor=a) for i, a in enumerate(amounts)]
    try:
        got = dv.compute_discounts(vs, [], due)
    except FailedPrecondition:
        assert sum(amounts[:-1]) >= due  # only refused once nothing is left
        return
    assert sum(d for _, d, _ in got) <= due
    assert all(d > 0 for _, d, _ in got)


def test_codes_are_readable():
    codes = {dv.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == dv.CODE_LENGTH and set(c) <= set(dv.CODE_ALPHABET) for c in codes)


def test_streaks_and_bonus():
    d = date(2025, 3, 10)
    assert dv.streak_after(None, 0, d) == 1
    assert dv.streak_after(d - timedelta(days=1), 6, d) == 7
    assert dv.streak_after(d - timedelta(days=2), 6, d) == 1
    assert dv.check_in_points(7, 5, 7, 20) == (25, 20)
    assert dv.check_in_points(14, 5, 7, 20) == (25, 20)
    assert dv.check_in_points(8, 5, 7, 20) == (5, 0)
    assert dv.check_in_points(3, 5, 0, 20) == (5, 0)
