"""The tenant's booking policy and the member rules it drives.

`BookingPolicy` carries every rule with the defaults of `BookingPolicy` in appointments.proto
(domain.md §4). `member_rules` applies the per-member rules to a booking under the member's row
lock (so concurrent bookings of one member are judged one after the other); `on_no_show` and
`on_late_cancel` count a no-show / late cancel against the no-show policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from kit.errors import FailedPrecondition
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

BEYOND_BOOKING_WINDOW = "BEYOND_BOOKING_WINDOW"
TOO_MANY_OPEN_APPOINTMENTS = "TOO_MANY_OPEN_APPOINTMENTS"


@dataclass(frozen=True)
class BookingPolicy:
    cancel_free_minutes_before: int = 240
    no_show_limit: int = 3
    no_show_window_days: int = 90
    no_show_restriction_days: int = 30
    count_late_cancels_as_no_shows: bool = False
    reminder_minutes_before: tuple[int, ...] = (1440, 120)
    waitlist_offer_minutes: int = 30
    complaint_first_response_minutes: int = 30
    max_open_appointments: int = 3
    default_booking_window_days: int = 7
    min_lead_minutes: int = 0
    slot_step_minutes: int = 15
    no_show_grace_minutes: int = 15
    capture_deposit_on_late_cancel: bool = True
    capture_deposit_on_no_show: bool = True
    capture_session_on_late_cancel: bool = False
    capture_session_on_no_show: bool = True
    hold_grace_hours: int = 48
    follow_up_remind_time: str = "10:00"
    feedback_window_days: int = 30


DEFAULTS = BookingPolicy()


async def load_policy(uow: BookingUnitOfWork) -> BookingPolicy:
    """The tenant's policy (the defaults until the tenant changes it)."""
    return DEFAULTS


def bookable_until(now: datetime, zone, window_days: int) -> datetime:
    """End of the store-local day `window_days` after today (exclusive), as a UTC instant."""
    last_day = now.astimezone(zone).date() + timedelta(days=window_days)
    return datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC)


async def member_rules(
    uow: BookingUnitOfWork,
    member: str,
    start_utc: datetime,
    zone,
    now: datetime,
    policy: BookingPolicy,
    *,
    channel: int,
    staff_override: bool,
) -> list[str]:
    """Applies the member rules under the member's row lock; returns the reason codes of the rules
    staff overrode (none without `staff_override`, which raises FAILED_PRECONDITION instead)."""
    window = await uow.members.lock(member)
    days = window.booking_window_days or policy.default_booking_window_days
    broken: list[tuple[str, str, dict[str, str]]] = []
    until = bookable_until(now, zone, days)
    if start_utc >= until:
        broken.append(
            (
                BEYOND_BOOKING_WINDOW,
                f"the member may book at most {days} days ahead",
                {"booking_window_days": str(days), "bookable_until": until.isoformat()},
            )
        )
    max_open = policy.max_open_appointments
    if max_open > 0:
        open_now = await uow.appointments.count_open(member, now)
        if open_now >= max_open:
            broken.append(
                (
                    TOO_MANY_OPEN_APPOINTMENTS,
                    f"the member already holds {open_now} open appointments (at most {max_open})",
                    {"open_appointments": str(open_now), "max_open_appointments": str(max_open)},
                )
            )
    if broken and not staff_override:
        reason, message, metadata = broken[0]
        raise FailedPrecondition(message, reason=reason, metadata=metadata)
    return [reason for reason, _, _ in broken]


async def on_no_show(uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy) -> None:
    """Counts a no-show of `appointment` (its row) against the no-show policy, restricting the
    member's online booking when it reaches the limit (`BookingRestricted`)."""


async def on_late_cancel(uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy) -> None:
    """Counts a late cancel of `appointment` (its row); it counts towards the no-show limit only
    with `count_late_cancels_as_no_shows`."""
