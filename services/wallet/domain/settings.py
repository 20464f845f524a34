"""Per-tenant wallet settings with the defaults of domain.md §3."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

from kit.errors import Violations
from services.wallet.domain import rules


@dataclass(frozen=True)
class WalletSettings:
    currency_code: str = "CNY"
    spend_order: str = rules.PROPORTIONAL
    pin_max_attempts: int = 5
    pin_lockout_minutes: int = 30
    hold_default_ttl_minutes: int = 24 * 60
    # points
    points_per_yuan: int = 1
    expiry_policy: str = rules.END_OF_MONTH_AFTER_MONTHS
    expiry_months: int = 12
    expiry_days: int = 365
    pending_days: int = 0
    redemption_points_per_yuan: int = 100  # 100 points = ¥1
    min_redeem_points: int = 100
    max_redeem_bps: int = 5000  # at most 50 % of a bill
    expiring_notice_days: int = 30
    check_in_points: int = 5
    check_in_streak_days: int = 7
    check_in_streak_bonus: int = 20
    # the tier benefit "free care each month": the service its sessions are of ("" = off)
    free_care_service: str = ""
    # the highest manual discount a store manager may approve at checkout (院长审批); 0 = off
    max_manual_discount_bps: int = 3000
    # the paid membership (会员费): fee per period (0 = none), months per period, renewal notice
    membership_fee_minor: int = 0
    membership_months: int = 12
    membership_renewal_notice_days: int = 30
    # member day (会员日): day of month (0 = none), points multiplier, tiers (empty = every tier)
    member_day_of_month: int = 0
    member_day_points_multiplier_permille: int = 2000
    member_day_tier_ids: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> WalletSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "member_day_tier_ids" in values:  # a JSON list
            values["member_day_tier_ids"] = tuple(values["member_day_tier_ids"])
        return cls(**values)

    def validate(self, prefix: str = "settings") -> None:
        v = Violations()
        if len(self.currency_code) != 3 or not self.currency_code.isupper():
            v.add(f"{prefix}.currency_code", "must be an ISO 4217 code such as CNY")
        if self.spend_order not in rules.SPEND_ORDERS:
            v.add(f"{prefix}.spend_order", f"must be one of {', '.join(rules.SPEND_ORDERS)}")
        if self.expiry_policy not in rules.EXPIRY_POLICIES:
            v.add(f"{prefix}.expiry_policy", "unknown policy")
        if self.free_care_service and not (
            len(self.free_care_service) <= 100
            and re.fullmatch(r"services/[!-.0-~]{1,64}", self.free_care_service)
        ):
            v.add(f"{prefix}.free_care_service", "must be services/{service} (at most 100 characters)")
        if len(self.member_day_tier_ids) > 20:
            v.add(f"{prefix}.member_day_tier_ids", "at most 20 tiers")
        for i, tier in enumerate(self.member_day_tier_ids):
            if not re.fullmatch(r"[a-z0-9_-]{1,40}", tier):
                v.add(f"{prefix}.member_day_tier_ids[{i}]", "must be a tier id of 1-40 of a-z 0-9 _ -")
        for name, lo, hi in (
            ("pin_max_attempts", 1, 20),
            ("max_manual_discount_bps", 0, 10_000),
            ("membership_fee_minor", 0, 10**10),
            ("membership_months", 1, 120),
            ("membership_renewal_notice_days", 0, 365),
            ("member_day_of_month", 0, 31),
            ("member_day_points_multiplier_permille", 1000, 10_000),
            ("pin_lockout_minutes", 1, 7 * 24 * 60),
            ("hold_default_ttl_minutes", 1, 90 * 24 * 60),
            ("points_per_yuan", 0, 1000),
            ("expiry_months", 1, 120),
            ("expiry_days", 1, 3650),
            ("pending_days", 0, 365),
            ("redemption_points_per_yuan", 1, 100_000),
            ("min_redeem_points", 0, 10**9),
            ("max_redeem_bps", 0, 10_000),
            ("expiring_notice_days", 0, 365),
        ):
            if not lo <= getattr(self, name) <= hi:
                v.add(f"{prefix}.{name}", f"must be within {lo}..{hi}")
        v.raise_if_any()


def member_day_multiplier_permille(settings: WalletSettings, tier_id: str, local_day: int) -> int:
    """The member day's extra points multiplier (1000 = none) for a checkout on the store-local
    day of month ``local_day`` by a member of ``tier_id``."""
    if not settings.member_day_of_month or local_day != settings.member_day_of_month:
        return 1000
    if settings.member_day_tier_ids and tier_id not in settings.member_day_tier_ids:
        return 1000
    return settings.member_day_points_multiplier_permille
