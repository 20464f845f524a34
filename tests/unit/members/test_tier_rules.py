"""domain.tiers.reevaluate: where a member belongs when the ladder (or their totals) change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.members.domain.tiers import DEFAULT_LADDER, DOWNGRADE_AUTOMATIC, reevaluate

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
AUTO = replace(DEFAULT_LADDER, downgrade_policy=DOWNGRADE_AUTOMATIC, downgrade_grace_days=30, version=4)


def move(ladder=DEFAULT_LADDER, *, tier="regular", spend=0, visits=0, held_days=0, override=False):
    return reevaluate(
        ladder,
        tier_id=tier,
        staff_override=override,
        tier_since=NOW - timedelta(days=held_days),
        spend_minor=spend,
        visits=visits,
        now=NOW,
    )


def test_up_at_once_when_qualifying_higher():
    m = move(tier="regular", spend=8_000_00)
    assert m is not None and m.to_tier.tier_id == "gold" and m.reason == "tier ladder v0: qualifies for gold"
    assert move(tier="gold", spend=8_000_00) is None
    assert move(tier="silver", spend=500_00) is None  # NEVER (the default): no way down


def test_a_staff_set_tier_still_goes_up_but_never_down():
    assert move(tier="silver", spend=20_000_00, override=True).to_tier.tier_id == "platinum"  # type: ignore[union-attr]
    assert move(AUTO, tier="gold", spend=0, held_days=1000, override=True) is None


def test_automatic_downgrade_waits_for_the_anniversary_plus_grace():
    assert move(AUTO, tier="gold", spend=2_500_00, held_days=365 + 29) is None
    m = move(AUTO, tier="gold", spend=2_500_00, held_days=365 + 30)
    assert m is not None and m.to_tier.tier_id == "silver"
    assert m.reason == "tier ladder v4: no longer qualifies for gold"


def test_a_tier_gone_from_the_ladder_moves_to_what_qualifies_under_any_policy():
    ladder = replace(DEFAULT_LADDER, tiers=tuple(t for t in DEFAULT_LADDER.tiers if t.tier_id != "gold"))
    m = move(ladder, tier="gold", spend=9_000_00, held_days=1)
    assert m is not None and m.to_tier.tier_id == "silver"
    assert "no longer on the ladder" in m.reason


def test_visits_qualify_too():
    ladder = replace(
        DEFAULT_LADDER,
        tiers=(DEFAULT_LADDER.tiers[0], replace(DEFAULT_LADDER.tiers[1], qualifying_visits=10)),
    )
    assert move(ladder, visits=9) is None
    assert move(ladder, visits=10).to_tier.tier_id == "silver"  # type: ignore[union-attr]
