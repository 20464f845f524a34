"""The tenant's referral programme terms (美丽合伙人 / 推荐有礼, domain.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kit.errors import Violations

MAX_THRESHOLD_MINOR = 100_000_000  # ¥1,000,000
MAX_VOUCHER_MINOR = 10_000_000  # ¥100,000
MAX_VALID_DAYS = 3660
MAX_POINTS = 10_000_000


@dataclass(frozen=True)
class ReferralTerms:
    """Defaults: ¥500 of the referee's qualifying spend earns the referrer a ¥50 voucher valid
    90 days, and 200 bonus points each."""

    threshold_minor: int = 50_000
    referrer_voucher_minor: int = 5_000
    voucher_valid_days: int = 90
    referrer_points: int = 200
    referee_points: int = 200

    def validate(self, prefix: str = "referral_settings") -> None:
        v = Violations()
        if not 1 <= self.threshold_minor <= MAX_THRESHOLD_MINOR:
            v.add(f"{prefix}.threshold_minor", f"must be within 1..{MAX_THRESHOLD_MINOR}")
        if not 0 <= self.referrer_voucher_minor <= MAX_VOUCHER_MINOR:
            v.add(f"{prefix}.referrer_voucher_minor", f"must be within 0..{MAX_VOUCHER_MINOR}")
        if not 1 <= self.voucher_valid_days <= MAX_VALID_DAYS:
            v.add(f"{prefix}.voucher_valid_days", f"must be within 1..{MAX_VALID_DAYS}")
        for name in ("referrer_points", "referee_points"):
            if not 0 <= getattr(self, name) <= MAX_POINTS:
                v.add(f"{prefix}.{name}", f"must be within 0..{MAX_POINTS}")
        v.raise_if_any()


MUTABLE = tuple(f.name for f in fields(ReferralTerms))
DEFAULT_TERMS = ReferralTerms()
