"""Package cards (计次卡 / 疗程卡 / 套餐): product terms, price allocation and session values.
Pure rules, no I/O.

Valuing sessions exactly. On sale the price is allocated over the items in proportion to their
list value (sessions x list price) by the largest-remainder method, so the shares add up to the
price to the fen. Each item then has a per-session value `base = share // sessions`; the item's
remaining deferred value is tracked on the card (`deferred`). Consuming `k` of `r` remaining
sessions recognises `base * k`, except the consumption that takes the last sessions, which
recognises everything still deferred (the "last session takes the remainder"). So every
consumption, restore, transfer and refund moves an exact integer and the sum over all of an
item's sessions is its share exactly.

Unlimited time cards (月卡/季卡/年卡 with unlimited uses: `unlimited`, `validity_months` required,
no session count). Uses are not counted, so no use has a value of its own: the item's share is
deferred revenue recognised straight-line over its validity period. The recognition is brought
up to date at each use (and before a refund or transfer of the card): a use at time t recognises
`floor(share * elapsed / period) - recognised so far` (0 when nothing more is due), at the store
that gave the service. A refund of such a use gives back exactly what it recognised; the next use
catches up again. What is still deferred when the card expires stays deferred like the value of
expired counted sessions. Each use moves one session memo Dr sessions_issued / Cr
sessions_consumed, so a use is a balanced transaction even when it recognises nothing and the
finance views of counted sessions (`sessions_outstanding`) are unchanged.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.errors import FailedPrecondition, Violations
from services.wallet.domain.ledger import MAX_AMOUNT

ACTIVE = "active"
FROZEN = "frozen"
REFUNDED = "refunded"
EXHAUSTED = "exhausted"
STATES = (ACTIVE, FROZEN, REFUNDED, EXHAUSTED)

MAX_SESSIONS = 10_000
MAX_VALIDITY_DAYS = 36_500
MAX_EXTEND_DAYS = 3_650
MAX_VALIDITY_MONTHS = 120  # a time card (月卡 1, 季卡 3, 年卡 12) of up to ten years
MAX_USES_PER_DAY = 100  # an unlimited time card's optional daily cap


@dataclass(frozen=True)
class ProductItem:
    service: str
    display_name: str
    sessions: int
    list_price_minor: int
    validity_days: int = 0
    validity_months: int = 0  # a time card: calendar months from the sale (exclusive with days)
    unlimited: bool = False  # a time card with unlimited uses (sessions 0, validity_months > 0)
    max_uses_per_day: int = 0  # an unlimited card's cap per day in the store's zone; 0 = none

    @property
    def list_value(self) -> int:
        """The item's weight in the price allocation: an unlimited item's list price is the price
        of the whole period, a counted item's is per session."""
        return self.list_price_minor if self.unlimited else self.sessions * self.list_price_minor

    def to_json(self) -> dict:
        return {
            "service": self.service,
            "display_name": self.display_name,
            "sessions": self.sessions,
            "list_price_minor": self.list_price_minor,
            "validity_days": self.validity_days,
            "validity_months": self.validity_months,
            "unlimited": self.unlimited,
            "max_uses_per_day": self.max_uses_per_day,
        }

    @classmethod
    def from_json(cls, d: dict) -> ProductItem:
        return cls(
            d["service"],
            d.get("display_name", ""),
            d["sessions"],
            d["list_price_minor"],
            d.get("validity_days", 0),
            d.get("validity_months", 0),
            d.get("unlimited", False),
            d.get("max_uses_per_day", 0),
        )


def validate_product(
    v: Violations, prefix: str, display_name: str, price: int, items: list[ProductItem]
) -> None:
    """Adds a violation per problem of a product's terms."""
    v.require(f"{prefix}.display_name", display_name.strip())
    if price <= 0 or price > MAX_AMOUNT:
        v.add(f"{prefix}.price_minor", f"must be within 1..{MAX_AMOUNT}")
    if not items:
        v.add(f"{prefix}.items", "a product needs at least one item")
    seen: set[str] = set()
    for i, item in enumerate(items):
        f = f"{prefix}.items[{i}]"
        if not item.service.startswith("services/") or len(item.service) <= len("services/"):
            v.add(f"{f}.service", "must be a resource name of the form services/{service}")
        elif item.service in seen:
            v.add(f"{f}.service", "each service may appear once in a product")
        seen.add(item.service)
        if item.unlimited:
            if item.sessions:
                v.add(f"{f}.sessions", "an unlimited time card does not count sessions; leave it 0")
            if not item.validity_months:
                v.add(f"{f}.validity_months", "an unlimited time card needs its period (1..120 months)")
        elif not 1 <= item.sessions <= MAX_SESSIONS:
            v.add(f"{f}.sessions", f"must be within 1..{MAX_SESSIONS}")
        if not 0 <= item.max_uses_per_day <= MAX_USES_PER_DAY:
            v.add(f"{f}.max_uses_per_day", f"must be within 0..{MAX_USES_PER_DAY} (0 = no cap)")
        elif item.max_uses_per_day and not item.unlimited:
            v.add(f"{f}.max_uses_per_day", "caps the uses of an unlimited time card only")
        if item.list_price_minor < 0 or item.list_price_minor > MAX_AMOUNT:
            v.add(f"{f}.list_price_minor", f"must be within 0..{MAX_AMOUNT}")
        if not 0 <= item.validity_days <= MAX_VALIDITY_DAYS:
            v.add(f"{f}.validity_days", f"must be within 0..{MAX_VALIDITY_DAYS} (0 = never expires)")
        if not 0 <= item.validity_months <= MAX_VALIDITY_MONTHS:
            v.add(f"{f}.validity_months", f"must be within 0..{MAX_VALIDITY_MONTHS} (0 = not a time card)")
        elif item.validity_months and item.validity_days:
            v.add(f"{f}.validity_months", "a time card counts months; leave validity_days 0")
    if items and all(i.list_price_minor == 0 for i in items):
        v.add(
            f"{prefix}.items", "at least one item needs a list price (the price is allocated by list value)"
        )


def allocate(total: int, weights: list[int]) -> list[int]:
    """Splits `total` in proportion to `weights` (largest remainder): exact integers that add up
    to `total`; ties go to the earlier weight."""
    if total < 0 or any(w < 0 for w in weights) or not weights:
        raise ValueError("allocate needs total >= 0 and non-negative weights")
    w_sum = sum(weights)
    if w_sum == 0:
        raise ValueError("allocate needs a positive weight")
    shares = [total * w // w_sum for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % w_sum), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def add_months(start: datetime, months: int) -> datetime:
    """The same time on the same day of the month `months` later (the month's last day when it is
    shorter: 31 January + 1 month = 28/29 February)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def item_expiry(item: ProductItem, start: datetime) -> datetime | None:
    """When the item's sessions of a card sold at `start` expire; None when they never do."""
    if item.validity_months:
        return add_months(start, item.validity_months)
    if item.validity_days:
        return start + timedelta(days=item.validity_days)
    return None


@dataclass(frozen=True)
class ItemAllocation:
    service: str
    display_name: str
    sessions: int
    allocated_minor: int
    session_value_minor: int  # base value of one session; the last one takes the remainder
    expire_time: datetime | None
    unlimited: bool = False


def allocate_sale(price: int, items: list[ProductItem], purchase_time: datetime) -> list[ItemAllocation]:
    shares = allocate(price, [i.list_value for i in items])
    return [
        ItemAllocation(
            service=item.service,
            display_name=item.display_name,
            sessions=item.sessions,
            allocated_minor=share,
            session_value_minor=0 if item.unlimited else share // item.sessions,
            expire_time=item_expiry(item, purchase_time),
            unlimited=item.unlimited,
        )
        for item, share in zip(items, shares, strict=True)
    ]


def consumption_value(remaining: int, deferred: int, session_value: int, sessions: int) -> int:
    """Revenue recognised by consuming `sessions` of `remaining`, with `deferred` left on the item."""
    if sessions <= 0 or sessions > remaining:
        raise ValueError("consume 1..remaining sessions")
    return deferred if sessions == remaining else min(session_value * sessions, deferred)


def time_recognition_due(
    allocated: int, deferred: int, start: datetime, end: datetime | None, now: datetime
) -> int:
    """Revenue of an unlimited time-card item due now and not recognised yet: its share `allocated`
    straight-line over [start, end), less what was recognised already (`allocated - deferred`)."""
    if end is None or end <= start:
        return deferred
    elapsed = min(max(now - start, timedelta(0)), end - start)
    micros = lambda d: d // timedelta(microseconds=1)  # noqa: E731 (exact integer arithmetic)
    due = allocated * micros(elapsed) // micros(end - start)
    return min(max(due - (allocated - deferred), 0), deferred)


def effective_state(state: str, frozen_until: datetime | None, now: datetime) -> str:
    """A card frozen until a time that has passed is active again."""
    if state == FROZEN and frozen_until is not None and frozen_until <= now:
        return ACTIVE
    return state


def require_usable(
    state: str, *, action: str = "use", item: tuple[str, datetime | None, datetime] | None = None
) -> None:
    """`item` = (service, its expire_time, now) when one item is asked for: a card the expiry job
    left EXHAUSTED is refused for that item's expiry (PACKAGE_ITEM_EXPIRED), what staff can act on."""
    if state == EXHAUSTED and item is not None and item[1] is not None and item[1] <= item[2]:
        require_item_usable(item[0], 0, item[1], 0, item[2])
    if state == FROZEN:
        raise FailedPrecondition("the package card is frozen", reason="PACKAGE_FROZEN")
    if state != ACTIVE:
        raise FailedPrecondition(
            f"the package card is {state}; it cannot {action}",
            reason="PACKAGE_NOT_ACTIVE",
            metadata={"state": state},
        )


def local_day_start(now: datetime, zone: str) -> datetime:
    """Midnight of `now`'s day in the IANA `zone` (UTC when the zone is unknown), as an instant."""
    try:
        tz = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def local_day_bounds(at: datetime, zone: str) -> tuple[datetime, datetime]:
    """The local day of `at` in the IANA `zone` as [midnight, next midnight) instants (a DST day
    is 23 or 25 hours long)."""
    start = local_day_start(at, zone)
    next_day = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=start.tzinfo)
    return start, next_day


def require_daily_uses_left(service: str, cap: int, used_today: int, uses: int) -> None:
    if cap and used_today + uses > cap:
        raise FailedPrecondition(
            f"the card's uses of {service} for today are used up",
            reason="DAILY_USES_EXHAUSTED",
            metadata={"service": service, "max_uses_per_day": str(cap), "used_today": str(used_today)},
        )


def require_item_usable(
    service: str, remaining: int, expire_time: datetime | None, sessions: int, now: datetime
) -> None:
    if expire_time is not None and expire_time <= now:
        raise FailedPrecondition(
            f"the sessions for {service} expired",
            reason="PACKAGE_ITEM_EXPIRED",
            metadata={"service": service},
        )
    if remaining < sessions:
        raise FailedPrecondition(
            f"not enough sessions left for {service}",
            reason="NO_SESSIONS_LEFT",
            metadata={"service": service, "sessions_remaining": str(remaining)},
        )
