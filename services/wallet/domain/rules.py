"""Wallet money rules: spend order, bonus instalments, points earning, expiry and lot consumption."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PROPORTIONAL = "proportional"
PRINCIPAL_FIRST = "principal_first"
BONUS_FIRST = "bonus_first"
SPEND_ORDERS = (PROPORTIONAL, PRINCIPAL_FIRST, BONUS_FIRST)


def split_spend(amount: int, principal: int, bonus: int, order: str) -> tuple[int, int]:
    """How much of a stored-value payment comes from principal and from bonus.

    Proportional rounds the principal share half-up on the fen; the bonus share takes the rest,
    so the two always add up to `amount` exactly. The caller has checked principal + bonus >= amount.
    """
    if amount < 0 or principal < 0 or bonus < 0 or amount > principal + bonus:
        raise ValueError("split_spend needs 0 <= amount <= principal + bonus")
    if order == PRINCIPAL_FIRST:
        from_principal = min(amount, principal)
    elif order == BONUS_FIRST:
        from_principal = amount - min(amount, bonus)
    elif order == PROPORTIONAL:
        total = principal + bonus
        from_principal = (2 * amount * principal + total) // (2 * total) if total else 0
        # Rounding must not ask either balance for more than it has.
        from_principal = max(amount - bonus, min(from_principal, principal))
    else:
        raise ValueError(f"unknown spend order {order!r}")
    return from_principal, amount - from_principal


def instalments(total: int, months: int) -> list[int]:
    """Equal monthly bonus releases (12 x 16.67 style); the remainder goes on the last one."""
    if months <= 0:
        raise ValueError("months must be positive")
    each = total // months
    return [each] * (months - 1) + [total - each * (months - 1)]


def add_months(moment: datetime, months: int) -> datetime:
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# Where a payment's money came from: stored value is split into principal (the member's own
# money) and bonus (the salon's gift); any other source is an external tender.
PRINCIPAL = "principal"
BONUS = "bonus"


def qualifying_spend(funding: Iterable[tuple[str, int]]) -> int:
    """The part of a payment that earns points and counts toward tiers: the member's own money,
    i.e. every source but bonus (domain.md: spend funded by bonus earns nothing). The one place
    this rule is decided; `funding` is (source, minor) with sources PRINCIPAL, BONUS or a tender."""
    return sum(amount for source, amount in funding if source != BONUS)


def points_for_spend(principal_funded_minor: int, points_per_yuan: int, multiplier_permille: int) -> int:
    """1 point per yuan of principal-funded spend times the tier multiplier, rounded down."""
    if principal_funded_minor <= 0:
        return 0
    return principal_funded_minor * points_per_yuan * multiplier_permille // (100 * 1000)


END_OF_MONTH_AFTER_MONTHS = "end_of_month_after_months"
DAYS = "days"
YEAR_END = "year_end"
NEVER = "never"
EXPIRY_POLICIES = (END_OF_MONTH_AFTER_MONTHS, DAYS, YEAR_END, NEVER)


def end_of_month(moment: datetime) -> datetime:
    last = calendar.monthrange(moment.year, moment.month)[1]
    return moment.replace(day=last, hour=23, minute=59, second=59, microsecond=0)


def points_expiry(earned: datetime, policy: str, *, months: int = 12, days: int = 365) -> datetime | None:
    """When a lot earned at `earned` expires (UTC), or None for never.

    Default (domain.md): the end of the month 12 months after earning."""
    earned = earned.astimezone(UTC)
    if policy == END_OF_MONTH_AFTER_MONTHS:
        return end_of_month(add_months(earned, months))
    if policy == DAYS:
        return earned + timedelta(days=days)
    if policy == YEAR_END:
        return earned.replace(month=12, day=31, hour=23, minute=59, second=59, microsecond=0)
    if policy == NEVER:
        return None
    raise ValueError(f"unknown expiry policy {policy!r}")


@dataclass
class Lot:
    lot_id: str
    remaining: int
    expire_time: datetime | None
    earned_time: datetime
    pending_until: datetime | None = None


def usable(lot: Lot, now: datetime) -> bool:
    return (
        lot.remaining > 0
        and (lot.pending_until is None or lot.pending_until <= now)
        and (lot.expire_time is None or lot.expire_time > now)
    )


def consume_lots(lots: list[Lot], points: int, now: datetime) -> list[tuple[str, int]]:
    """Takes `points` from the soonest-expiring usable lots first (never-expiring last, then by
    earning time); returns (lot_id, taken). Raises ValueError when the lots do not hold enough."""
    order = sorted(
        (lot for lot in lots if usable(lot, now)),
        key=lambda lot: (
            lot.expire_time is None,
            lot.expire_time or lot.earned_time,
            lot.earned_time,
            lot.lot_id,
        ),
    )
    taken: list[tuple[str, int]] = []
    left = points
    for lot in order:
        if left == 0:
            break
        take = min(left, lot.remaining)
        taken.append((lot.lot_id, take))
        left -= take
    if left:
        raise ValueError("not enough usable points")
    return taken


def restore_lots(
    taken: Iterable[tuple[str, int]], points: int, restored_before: dict[str, int] | None = None
) -> list[tuple[str, int]]:
    """Where `points` given back go: to exactly the lots a redemption took them from (`taken`,
    (lot_id, n > 0) in the order taken), each up to what was taken from it less what earlier
    refunds already gave back (`restored_before`). Used by checkout refunds (partial, cumulative)
    and by reversals (all of it); returns (lot_id, given). Raises ValueError when `points` is more
    than is left to give back."""
    left_in: dict[str, int] = {}
    for lot_id, n in taken:
        left_in[lot_id] = left_in.get(lot_id, 0) + n
    for lot_id, n in (restored_before or {}).items():
        if lot_id in left_in:
            left_in[lot_id] -= n
    given: list[tuple[str, int]] = []
    left = points
    for lot_id, room in left_in.items():
        give = min(left, room)
        if give > 0:
            given.append((lot_id, give))
            left -= give
    if left:
        raise ValueError("more points to give back than the redemption took")
    return given
