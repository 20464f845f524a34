"""Members domain rules: pure functions and state machines, no I/O."""

from __future__ import annotations

import pytest

from kit.errors import FailedPrecondition, InvalidArgument, Violations
from services.members.domain import values
from services.members.domain.cards import (
    ACTIVE,
    FROZEN,
    LOST,
    REPLACED,
    Card,
    generate_card_number,
    luhn_digit,
)
from services.members.domain.member import CareProfile, Consent, Member, apply_update, validate_profile
from services.members.domain.stores import OpeningHours, Store
from services.members.domain.tiers import DEFAULT_LADDER, Tier, TierBenefits, TierLadder


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("+12125550123", "+12125550123"),
        ("12345", None),
        ("23812345678", None),
        ("phone", None),
    ],
)
def test_phone_normalisation(raw, expected):
    assert values.normalise_phone(raw) == expected


def test_masks_keep_only_what_front_desks_need():
    assert values.mask_phone("+8613812345678") == "138****5678"
    assert values.mask_birthday("1990-05-12") == "****-05-12"
    assert values.mask_id_number("110101199003071234") == "1101**********1234"
    assert "1990" not in values.mask_birthday("1990-05-12")


def _member(**kw) -> Member:
    base = {"member_id": "m1", "display_name": "王静", "phone": "13812345678", "home_store_id": "s1"}
    base.update(kw)
    return Member(**base)


def test_validate_profile_collects_every_problem_and_normalises_phone():
    m = _member(
        display_name=" ", phone="12", email="x", birthday="2999-01-01", custom_attributes={"Bad Key": "v"}
    )
    v = Violations()
    validate_profile(m, v)
    fields = {f for f, _ in v.items}
    assert {"member.display_name", "member.phone", "member.email", "member.birthday"} <= fields
    assert any(f.startswith("member.custom_attributes") for f in fields)

    ok = _member()
    v = Violations()
    validate_profile(ok, v)
    assert not v and ok.phone == "+8613812345678"


def test_apply_update_honours_mask_and_sub_paths():
    current = _member(consent=Consent(marketing_sms=False, marketing_email=True), care_profile=CareProfile())
    patch = _member(
        display_name="王静怡",
        email="jing@example.com",
        consent=Consent(marketing_sms=True, marketing_email=False),
        care_profile=CareProfile(skin_type="oily", notes="ignored"),
    )
    changed = apply_update(
        current,
        patch,
        ["display_name", "consent.marketing_sms", "care_profile.skin_type"],
        home_store_id=None,
    )
    assert changed == ["display_name", "consent", "care_profile"]
    assert current.display_name == "王静怡"
    assert current.email == ""  # not in the mask
    assert current.consent.marketing_sms is True and current.consent.marketing_email is True
    assert current.care_profile.skin_type == "oily" and current.care_profile.notes == ""


@pytest.mark.parametrize(
    "path", ["member_number", "referral_code", "tier", "consent.update_time", "phone.x", "nope"]
)
def test_apply_update_refuses_output_only_and_unknown_paths(path):
    with pytest.raises(InvalidArgument) as err:
        apply_update(_member(), _member(), [path], home_store_id=None)
    assert err.value.violations[0][0] == "update_mask"


def test_card_life_cycle():
    card = Card(card_id="c1", member_id="m1", card_number="800000000001")
    card.freeze()
    assert card.state == FROZEN
    with pytest.raises(FailedPrecondition):
        card.freeze()
    card.unfreeze()
    card.report_lost()
    assert card.state == LOST
    with pytest.raises(FailedPrecondition) as err:
        card.unfreeze()
    assert err.value.reason == "CARD_STATE_CONFLICT"
    new = Card(card_id="c2", member_id="m1", card_number="800000000002")
    card.replace_with(new)
    assert (card.state, card.replaced_by, new.replaces, new.state) == (REPLACED, "c2", "c1", ACTIVE)
    with pytest.raises(FailedPrecondition):
        card.replace_with(Card(card_id="c3", member_id="m1", card_number="x"))


def test_generated_card_numbers_carry_a_valid_luhn_digit():
    for _ in range(50):
        number = generate_card_number()
        assert len(number) == 12 and number.startswith("8")
        assert luhn_digit(number[:-1]) == number[-1]
    assert luhn_digit("7992739871") == "3"  # the textbook example


def test_default_ladder_matches_domain_table():
    ids = [t.tier_id for t in DEFAULT_LADDER.tiers]
    assert ids == ["regular", "silver", "gold", "platinum", "diamond"]
    gold = DEFAULT_LADDER.get("gold")
    assert gold is not None and gold.qualifying_spend_minor == 800_000
    assert gold.benefits == TierBenefits(1500, 1100, 2, 21)
    DEFAULT_LADDER.validate()


@pytest.mark.parametrize(
    ("spend", "expected"),
    [(0, "regular"), (199_999, "regular"), (200_000, "silver"), (2_000_000, "platinum"), (10**9, "diamond")],
)
def test_qualifying_tier_by_spend(spend, expected):
    assert DEFAULT_LADDER.qualifying_tier(spend_minor=spend).tier_id == expected


def test_ladder_validation_rejects_bad_ladders():
    bad = TierLadder(
        tiers=(
            Tier("regular", "R", 0, 100),  # entry tier must qualify at 0
            Tier("regular", "", 0, 50, benefits=TierBenefits(discount_bps=20000)),
        ),
        currency_code="yuan",
    )
    with pytest.raises(InvalidArgument) as err:
        bad.validate()
    fields = {f for f, _ in err.value.violations}
    assert "tier_ladder.tiers[1].tier_id" in fields
    assert "tier_ladder.tiers[1].rank" in fields
    assert "tier_ladder.tiers[1].benefits.discount_bps" in fields
    assert "tier_ladder.currency_code" in fields
    assert "tier_ladder.tiers[0]" in fields


def test_store_validation():
    Store(
        "s1", "静安店", time_zone="America/New_York", opening_hours=[OpeningHours(1, "09:00", "21:00")]
    ).validate()
    with pytest.raises(InvalidArgument) as err:
        Store(
            "s1", "", time_zone="Mars/Olympus", opening_hours=[OpeningHours(8, "21:00", "09:00")]
        ).validate()
    fields = {f for f, _ in err.value.violations}
    assert {
        "store.display_name",
        "store.time_zone",
        "store.opening_hours[0].day_of_week",
        "store.opening_hours[0]",
    } <= fields
