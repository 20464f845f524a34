"""Voucher, reward and check-in rules: validity, discounts, codes and streaks. Pure, no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kit.errors import FailedPrecondition, Violations

AMOUNT_OFF = "amount_off"
PERCENT_OFF = "percent_off"
FREE_SERVICE = "free_service"
VOUCHER_KINDS = (AMOUNT_OFF, PERCENT_OFF, FREE_SERVICE)

ISSUED = "issued"
REDEEMED = "redeemed"
VOIDED = "voided"
EXPIRED = "expired"
VOUCHER_STATES = (ISSUED, REDEEMED, VOIDED, EXPIRED)

PRODUCT = "product"
SERVICE = "service"
VOUCHER = "voucher"
REWARD_KINDS = (PRODUCT, SERVICE, VOUCHER)
UNLIMITED = -1

# No 0/O, 1/I/L: read aloud at the till and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
MAX_AMOUNT = 10**12


@dataclass
class VoucherTerms:
    """What a template defines and every voucher issued from it copies."""

    display_name: str
    kind: str
    amount_off_minor: int = 0
    percent_off_bps: int = 0
    max_discount_minor: int = 0
    free_service: str = ""  # e.g. "services/facial"
    min_spend_minor: int = 0
    stores: list[str] = field(default_factory=list)  # store ids; empty = every store

    def validate(self, v: Violations, prefix: str) -> None:
        if not self.display_name.strip():
            v.add(f"{prefix}.display_name", "is required")
        if self.kind == AMOUNT_OFF:
            if not 0 < self.amount_off_minor <= MAX_AMOUNT:
                v.add(f"{prefix}.amount_off_minor", f"must be within 1..{MAX_AMOUNT}")
        elif self.kind == PERCENT_OFF:
            if not 1 <= self.percent_off_bps <= 10_000:
                v.add(f"{prefix}.percent_off_bps", "must be within 1..10000")
            if not 0 <= self.max_discount_minor <= MAX_AMOUNT:
                v.add(f"{prefix}.max_discount_minor", f"must be within 0..{MAX_AMOUNT}")
        elif self.kind == FREE_SERVICE:
            if not self.free_service.startswith("services/") or len(self.free_service) <= len("services/"):
                v.add(f"{prefix}.free_service", "must be services/{service}")
        else:
            v.add(f"{prefix}.kind", "must be amount off, percent off or free service")
        if not 0 <= self.min_spend_minor <= MAX_AMOUNT:
            v.add(f"{prefix}.min_spend_minor", f"must be within 0..{MAX_AMOUNT}")


def validate_validity(
    v: Violations, prefix: str, valid_days: int, valid_from: datetime | None, valid_until: datetime | None
) -> None:
    if valid_days < 0 or valid_days > 3650:
        v.add(f"{prefix}.valid_days", "must be within 0..3650")
    if valid_days == 0 and valid_until is None:
        v.add(f"{prefix}.valid_days", "give valid_days or a window ending at valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        v.add(f"{prefix}.valid_until", "must be after valid_from")


def validity_at_issue(
    issued: datetime, valid_days: int, valid_from: datetime | None, valid_until: datetime | None
) -> tuple[datetime, datetime | None]:
    """[from, until) of a voucher issued at `issued`: the intersection of `valid_days` days from
    issue and the template's fixed window (either may be absent)."""
    start = max(issued, valid_from) if valid_from else issued
    ends = [e for e in (issued + timedelta(days=valid_days) if valid_days else None, valid_until) if e]
    return start, (min(ends) if ends else None)


def effective_state(state: str, valid_until: datetime | None, now: datetime) -> str:
    """An issued voucher past its end reads as expired (no job needs to have run)."""
    if state == ISSUED and valid_until is not None and valid_until <= now:
        return EXPIRED
    return state


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class VoucherView:
    """What redemption needs of a voucher row."""

    voucher_id: str
    member_id: str
    state: str
    valid_from: datetime
    valid_until: datetime | None
    terms: VoucherTerms


def refuse(message: str, reason: str, voucher_id: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason=reason, metadata={"voucher": voucher_id})


def check_usable(v: VoucherView, *, store_id: str, amount_due: int, now: datetime) -> None:
    """Raises FAILED_PRECONDITION with the reason a voucher cannot be used on this bill."""
    state = effective_state(v.state, v.valid_until, now)
    if state == REDEEMED:
        raise refuse("the voucher was used already", "VOUCHER_USED", v.voucher_id)
    if state == EXPIRED:
        raise refuse("the voucher has expired", "VOUCHER_EXPIRED", v.voucher_id)
    if state == VOIDED:
        raise refuse("the voucher was voided", "VOUCHER_NOT_APPLICABLE", v.voucher_id)
    if v.valid_from > now:
        raise refuse("the voucher is not valid yet", "VOUCHER_NOT_APPLICABLE", v.voucher_id)
    if v.terms.stores and store_id not in v.terms.stores:
        raise refuse("the voucher cannot be used at this store", "VOUCHER_NOT_AT_STORE", v.voucher_id)
    if amount_due < v.terms.min_spend_minor:
        raise refuse(
            f"the voucher needs a spend of at least {v.terms.min_spend_minor}",
            "MINIMUM_SPEND_NOT_MET",
            v.voucher_id,
        )


def usable_on_cart(v: VoucherView, *, store_id: str, subtotal: int, now: datetime) -> bool:
    try:
        check_usable(v, store_id=store_id, amount_due=subtotal, now=now)
    except FailedPrecondition:
        return False
    return True


def compute_discounts(
    vouchers: list[VoucherView], lines: list[tuple[str, int]], amount_due: int
) -> list[tuple[str, int, int | None]]:
    """(voucher_id, discount, line_index) for each voucher, in the given order.

    Percent-off is on `amount_due` (rounded down, capped at its max); free service covers the
    net of the first matching line not covered yet. The running total never exceeds `amount_due`;
    a voucher that would take nothing off (no matching line, or nothing left to pay) is refused
    with VOUCHER_NOT_APPLICABLE rather than spent for nothing.
    """
    left = amount_due
    covered: set[int] = set()
    out: list[tuple[str, int, int | None]] = []
    for v in vouchers:
        t = v.terms
        line_index: int | None = None
        if t.kind == AMOUNT_OFF:
            want = t.amount_off_minor
        elif t.kind == PERCENT_OFF:
            want = amount_due * t.percent_off_bps // 10_000
            if t.max_discount_minor:
                want = min(want, t.max_discount_minor)
        else:
            line_index = next(
                (
                    i
                    for i, (item, net) in enumerate(lines)
                    if item == t.free_service and i not in covered and net > 0
                ),
                None,
            )
            if line_index is None:
                raise refuse(f"no line of {t.free_service} to cover", "VOUCHER_NOT_APPLICABLE", v.voucher_id)
            covered.add(line_index)
            want = lines[line_index][1]
        discount = min(want, left)
        if discount <= 0:
            raise refuse("the voucher would take nothing off", "VOUCHER_NOT_APPLICABLE", v.voucher_id)
        left -= discount
        out.append((v.voucher_id, discount, line_index))
    return out


# --- check-in -----------------------------------------------------------------------------------
def streak_after(last_day: date | None, last_streak: int, today: date) -> int:
    """Consecutive days including `today`, given the member's previous check-in."""
    if last_day is not None and last_day == today - timedelta(days=1):
        return last_streak + 1
    return 1


def check_in_points(streak: int, base: int, every: int, bonus: int) -> tuple[int, int]:
    """(total points, of which streak bonus) for a check-in on day `streak` of a streak."""
    extra = bonus if every > 0 and streak % every == 0 else 0
    return base + extra, extra
