"""The tenant's tier ladder (会员等级) and how a member qualifies for a tier."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from kit.errors import Violations
from kit.ids import is_resource_id

_TIER_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class TierBenefits:
    discount_bps: int = 0  # 1000 = 10 %
    points_multiplier_permille: int = 1000  # 1050 = 1.05x
    free_care_per_month: int = 0
    booking_window_days: int = 7
    birthday_points: int | None = None  # None: Peony's default for the tier id (birthday.py)
    birthday_voucher_template_id: str = ""  # a wallet voucher template id; "" = none


@dataclass(frozen=True)
class Tier:
    tier_id: str
    display_name: str
    rank: int
    qualifying_spend_minor: int = 0
    qualifying_visits: int = 0
    qualifying_points: int = 0
    benefits: TierBenefits = field(default_factory=TierBenefits)


MAX_BIRTHDAY_POINTS = 100_000

DOWNGRADE_NEVER = "never"
DOWNGRADE_AUTOMATIC = "automatic"


@dataclass(frozen=True)
class TierLadder:
    tiers: tuple[Tier, ...]
    currency_code: str = "CNY"
    qualification_window_days: int = 365
    downgrade_policy: str = DOWNGRADE_NEVER
    downgrade_grace_days: int = 30
    version: int = 0

    @property
    def entry_tier(self) -> Tier:
        return self.tiers[0]

    def get(self, tier_id: str) -> Tier | None:
        return next((t for t in self.tiers if t.tier_id == tier_id), None)

    def qualifying_tier(self, *, spend_minor: int, visits: int = 0, points: int = 0) -> Tier:
        """The highest tier any one qualification measure reaches (spend, visits or points)."""
        best = self.entry_tier
        for tier in self.tiers:
            reached = (
                (tier.qualifying_spend_minor > 0 and spend_minor >= tier.qualifying_spend_minor)
                or (tier.qualifying_visits > 0 and visits >= tier.qualifying_visits)
                or (tier.qualifying_points > 0 and points >= tier.qualifying_points)
            )
            if reached and tier.rank > best.rank:
                best = tier
        return best

    def qualified_by(self, tier: Tier, *, spend_minor: int, visits: int = 0, points: int = 0) -> str:
        """Which measure reaches `tier`: "spend" before "points" before "visits" ("" when none)."""
        for measure, threshold, value in (
            ("spend", tier.qualifying_spend_minor, spend_minor),
            ("points", tier.qualifying_points, points),
            ("visits", tier.qualifying_visits, visits),
        ):
            if threshold > 0 and value >= threshold:
                return measure
        return ""

    def validate(self, prefix: str = "tier_ladder") -> None:
        v = Violations()
        if not self.tiers:
            v.add(f"{prefix}.tiers", "a ladder needs at least one tier")
        seen: set[str] = set()
        previous: Tier | None = None
        for i, tier in enumerate(self.tiers):
            p = f"{prefix}.tiers[{i}]"
            if not _TIER_ID.match(tier.tier_id):
                v.add(f"{p}.tier_id", "must match [a-z][a-z0-9_-]{0,31}")
            if tier.tier_id in seen:
                v.add(f"{p}.tier_id", "duplicate tier id")
            seen.add(tier.tier_id)
            if not tier.display_name.strip():
                v.add(f"{p}.display_name", "is required")
            if min(tier.qualifying_spend_minor, tier.qualifying_visits, tier.qualifying_points) < 0:
                v.add(p, "qualification thresholds must not be negative")
            b = tier.benefits
            if not 0 <= b.discount_bps <= 10000:
                v.add(f"{p}.benefits.discount_bps", "must be within 0..10000")
            if not 0 < b.points_multiplier_permille <= 10000:
                v.add(f"{p}.benefits.points_multiplier_permille", "must be within 1..10000")
            if b.free_care_per_month < 0 or not 0 < b.booking_window_days <= 366:
                v.add(f"{p}.benefits", "free care must be >= 0 and booking window within 1..366 days")
            if b.birthday_points is not None and not 0 <= b.birthday_points <= MAX_BIRTHDAY_POINTS:
                v.add(f"{p}.benefits.birthday_points", f"must be within 0..{MAX_BIRTHDAY_POINTS}")
            if b.birthday_voucher_template_id and not is_resource_id(b.birthday_voucher_template_id):
                v.add(f"{p}.benefits.birthday_voucher_template", "must be voucherTemplates/{template}")
            if previous is not None:
                if tier.rank <= previous.rank:
                    v.add(f"{p}.rank", "ranks must increase up the ladder")
                if tier.qualifying_spend_minor < previous.qualifying_spend_minor:
                    v.add(f"{p}.qualifying_spend_minor", "must not decrease up the ladder")
            previous = tier
        entry = self.tiers[0] if self.tiers else None
        if entry and (entry.qualifying_spend_minor or entry.qualifying_visits or entry.qualifying_points):
            v.add(f"{prefix}.tiers[0]", "the entry tier qualifies at registration (all thresholds 0)")
        if not re.match(r"^[A-Z]{3}$", self.currency_code):
            v.add(f"{prefix}.currency_code", "must be an ISO 4217 code such as CNY")
        if not 1 <= self.qualification_window_days <= 3660:
            v.add(f"{prefix}.qualification_window_days", "must be within 1..3660")
        if self.downgrade_policy not in (DOWNGRADE_NEVER, DOWNGRADE_AUTOMATIC):
            v.add(f"{prefix}.downgrade_policy", "must be NEVER or AUTOMATIC")
        if not 0 <= self.downgrade_grace_days <= 3660:
            v.add(f"{prefix}.downgrade_grace_days", "must be within 0..3660")
        v.raise_if_any()

    def bumped(self) -> TierLadder:
        return replace(self, version=self.version + 1)


# domain.md §2: a downgrade is evaluated on the member's tier anniversary, after the grace period.
TIER_YEAR = timedelta(days=365)


@dataclass(frozen=True)
class TierMove:
    to_tier: Tier
    reason: str


def reevaluate(
    ladder: TierLadder,
    *,
    tier_id: str,
    staff_override: bool,
    tier_since: datetime,
    spend_minor: int,
    visits: int,
    now: datetime,
    points: int = 0,
) -> TierMove | None:
    """Where a member belongs on ``ladder`` (a new ladder, or new totals), or None to stay.

    - the member's tier is gone from the ladder: to the tier they qualify for now;
    - they qualify for a higher tier: up at once (staff-set tiers too, as a checkout would);
    - they no longer qualify for their tier: down to the highest tier they still qualify for, but
      only under the AUTOMATIC policy, never for a tier staff set by hand, and only once the tier
      has been held a year (its anniversary) plus the grace period;
    - otherwise they stay.
    """
    target = ladder.qualifying_tier(spend_minor=spend_minor, visits=visits, points=points)
    current = ladder.get(tier_id)
    label = f"tier ladder v{ladder.version}"
    if current is None:
        return TierMove(target, f"{label}: tier {tier_id!r} is no longer on the ladder")
    if target.rank > current.rank:
        return TierMove(target, f"{label}: qualifies for {target.tier_id}")
    if (
        target.rank < current.rank
        and ladder.downgrade_policy == DOWNGRADE_AUTOMATIC
        and not staff_override
        and now >= tier_since + TIER_YEAR + timedelta(days=ladder.downgrade_grace_days)
    ):
        return TierMove(target, f"{label}: no longer qualifies for {current.tier_id}")
    return None


def _yuan(amount: int) -> int:
    return amount * 100


# domain.md §2: qualifying on principal spend over a rolling 12 months.
DEFAULT_LADDER = TierLadder(
    tiers=(
        Tier("regular", "Regular 普通", 0, 0, benefits=TierBenefits(0, 1000, 0, 7)),
        Tier("silver", "Silver 银卡", 1, _yuan(2_000), benefits=TierBenefits(1000, 1050, 1, 14)),
        Tier("gold", "Gold 金卡", 2, _yuan(8_000), benefits=TierBenefits(1500, 1100, 2, 21)),
        Tier("platinum", "Platinum 白金", 3, _yuan(20_000), benefits=TierBenefits(2000, 1150, 3, 30)),
        Tier("diamond", "Diamond 钻石", 4, _yuan(50_000), benefits=TierBenefits(2500, 1200, 4, 45)),
    )
)
