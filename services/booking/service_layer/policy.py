"""The tenant's booking policy and the member rules it drives.

`BookingPolicy` carries every rule with the defaults of `BookingPolicy` in appointments.proto
(domain.md §4); a tenant without a `booking_policies` row has the defaults. `member_rules` applies
the per-member rules to a booking under the member's row lock (so concurrent bookings of one member
are judged one after the other); `on_no_show` and `on_late_cancel` count a no-show / late cancel
against the no-show policy under the same lock.

No-show policy: `no_show_limit` no-shows counted within the rolling `no_show_window_days` before a
no-show (late cancels too with `count_late_cancels_as_no_shows`; nothing counted before the last
`LiftBookingRestriction`) restrict the member's self-service booking (channels ONLINE and
MINI_PROGRAM) for `no_show_restriction_days` from that no-show. A no-show or late cancel counts at
the instant it is recorded (`now` of `on_no_show` / `on_late_cancel`), once per appointment. The
restriction is stored when it is decided (with its `BookingRestricted` event), so a later policy
change does not restrict or free anyone retroactively; `no_show_limit` 0 disables the restriction
(stored restrictions are then not enforced either).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, time, timedelta

from peony.booking.v1 import appointments_pb2, events_pb2

from kit.errors import FailedPrecondition
from kit.proto import ts
from services.booking.adapters.policy_repository import LATE_CANCEL, NO_SHOW
from services.booking.domain.availability import store_zone
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

BEYOND_BOOKING_WINDOW = "BEYOND_BOOKING_WINDOW"
MEMBER_RESTRICTED = "MEMBER_RESTRICTED"
TOO_MANY_OPEN_APPOINTMENTS = "TOO_MANY_OPEN_APPOINTMENTS"
NOT_RESTRICTED = "NOT_RESTRICTED"

# The self-service channels the no-show restriction applies to; staff channels are never restricted.
RESTRICTED_CHANNELS = frozenset(
    {appointments_pb2.BOOKING_CHANNEL_ONLINE, appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM}
)


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
FIELDS = tuple(f.name for f in fields(BookingPolicy))

# Inclusive bounds of the integer fields (a week / a month / ten years keep typos out).
_BOUNDS: dict[str, tuple[int, int]] = {
    "cancel_free_minutes_before": (0, 43_200),
    "no_show_limit": (0, 100),
    "no_show_window_days": (1, 3650),
    "no_show_restriction_days": (1, 3650),
    "waitlist_offer_minutes": (1, 10_080),
    "complaint_first_response_minutes": (1, 10_080),
    "max_open_appointments": (0, 1000),
    "default_booking_window_days": (0, 365),
    "min_lead_minutes": (0, 10_080),
    "slot_step_minutes": (5, 240),
    "no_show_grace_minutes": (0, 1440),
    "hold_grace_hours": (1, 8760),
    "feedback_window_days": (1, 365),
}
MAX_REMINDERS, MAX_REMINDER_MINUTES = 10, 43_200
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def policy_violations(changes: dict, prefix: str = "booking_policy") -> list[tuple[str, str]]:
    """Field violations of the changed policy fields (`prefix.field`), every one at once."""
    out: list[tuple[str, str]] = []
    for name, value in changes.items():
        field = f"{prefix}.{name}"
        if name in _BOUNDS:
            low, high = _BOUNDS[name]
            if not low <= value <= high:
                out.append((field, f"must be within {low}..{high}"))
        elif name == "reminder_minutes_before":
            values = list(value)
            if len(values) > MAX_REMINDERS:
                out.append((field, f"at most {MAX_REMINDERS} reminders"))
            if any(not 0 < v <= MAX_REMINDER_MINUTES for v in values):
                out.append((field, f"each must be within 1..{MAX_REMINDER_MINUTES} minutes"))
            if len(set(values)) != len(values):
                out.append((field, "must not repeat a value"))
        elif name == "follow_up_remind_time" and not _HHMM.match(value):
            out.append((field, "must be a time of day HH:MM (00:00-23:59)"))
    return out


def _from_row(row) -> BookingPolicy:
    values = {name: getattr(row, name) for name in FIELDS}
    values["reminder_minutes_before"] = tuple(values["reminder_minutes_before"])
    return BookingPolicy(**values)


def _to_columns(p: BookingPolicy) -> dict:
    values = asdict(p)
    values["reminder_minutes_before"] = list(p.reminder_minutes_before)
    return values


async def load_policy(uow: BookingUnitOfWork) -> BookingPolicy:
    """The tenant's policy (the defaults until the tenant changes it)."""
    row = await uow.policy.get_policy()
    return DEFAULTS if row is None else _from_row(row)


async def get_policy(uow: BookingUnitOfWork) -> tuple[BookingPolicy, datetime | None]:
    """The tenant's policy and when it last changed (None while it has the defaults)."""
    row = await uow.policy.get_policy()
    return (DEFAULTS, None) if row is None else (_from_row(row), row.update_time)


POLICY_NAME = "bookingPolicy"


def policy_message(p: BookingPolicy, update_time: datetime | None) -> appointments_pb2.BookingPolicy:
    """The policy as the API (and `BookingPolicyUpdated`) carries it."""
    values = {name: getattr(p, name) for name in FIELDS}
    values["reminder_minutes_before"] = list(p.reminder_minutes_before)
    return appointments_pb2.BookingPolicy(name=POLICY_NAME, update_time=ts(update_time), **values)


async def update_policy(
    uow: BookingUnitOfWork, changes: dict, now: datetime, *, updated_by: str = ""
) -> tuple[BookingPolicy, datetime]:
    """Applies `changes` (validated by the caller with `policy_violations`) to the tenant's policy
    under its row lock, so concurrent updates of different fields both land, and publishes
    `BookingPolicyUpdated` with the fields whose value changed (none changed: no event)."""
    row = await uow.policy.lock_policy(_to_columns(DEFAULTS))
    before = _from_row(row)
    updated = BookingPolicy(**{**asdict(before), **changes})
    saved = await uow.policy.save_policy(_to_columns(updated), now)
    after = _from_row(saved)
    changed = [name for name in FIELDS if getattr(before, name) != getattr(after, name)]
    if changed:
        uow.emit(
            events_pb2.BookingPolicyUpdated(
                booking_policy=policy_message(after, saved.update_time),
                changed_fields=changed,
                updated_by=updated_by,
            ),
            aggregate_type="booking_policy",
            aggregate_id=POLICY_NAME,
        )
    return after, saved.update_time


# ---------------------------------------------------------------- the member rules


def bookable_until(now: datetime, zone, window_days: int) -> datetime:
    """End of the store-local day `window_days` after today (exclusive), as a UTC instant."""
    last_day = now.astimezone(zone).date() + timedelta(days=window_days)
    return datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC)


def _enforced(row, now: datetime, policy: BookingPolicy) -> datetime | None:
    if policy.no_show_limit <= 0 or row is None or row.restricted_until is None:
        return None
    return row.restricted_until if row.restricted_until > now else None


async def restricted_until(uow: BookingUnitOfWork, member: str, now: datetime, policy: BookingPolicy):
    """Until when the member may not book on a self-service channel; None when not restricted.
    A plain read (availability); a booking uses `member_rules`, which holds the member's lock."""
    return _enforced(await uow.policy.standing(member), now, policy)


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
    count_open: bool = True,
) -> list[str]:
    """Applies the member rules under the member's row lock; returns the reason codes of the rules
    staff overrode (none without `staff_override`, which raises FAILED_PRECONDITION instead).
    Without `count_open` the cap on open appointments is left to the caller's database call
    (`apply_booking` counts under the member's lock, taking it there): the member is only read."""
    window = await uow.members.require(member)
    if count_open:
        window = await uow.members.lock(member)
    broken: list[tuple[str, str, dict[str, str]]] = []
    if channel in RESTRICTED_CHANNELS:
        until = _enforced(await uow.policy.standing(member), now, policy)
        if until is not None:
            broken.append(
                (
                    MEMBER_RESTRICTED,
                    "the member may not book online after too many no-shows",
                    {"restricted_until": until.astimezone(UTC).isoformat()},
                )
            )
    days = window.booking_window_days or policy.default_booking_window_days
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
    if count_open and max_open > 0:
        open_now = await uow.appointments.count_open(member, now)
        if open_now >= max_open:
            broken.append((TOO_MANY_OPEN_APPOINTMENTS, *too_many_open(open_now, max_open)))
    if broken and not staff_override:
        reason, message, metadata = broken[0]
        raise FailedPrecondition(message, reason=reason, metadata=metadata)
    return [reason for reason, _, _ in broken]


def too_many_open(open_now: int, max_open: int) -> tuple[str, dict[str, str]]:
    """The message and metadata of TOO_MANY_OPEN_APPOINTMENTS."""
    return (
        f"the member already holds {open_now} open appointments (at most {max_open})",
        {"open_appointments": str(open_now), "max_open_appointments": str(max_open)},
    )


# ---------------------------------------------------------------- standing and the no-show policy


@dataclass(frozen=True)
class Standing:
    """Where a member stands against the booking rules (`BookingStanding`)."""

    member_id: str
    tier_id: str | None
    booking_window_days: int
    bookable_until: datetime
    no_shows_in_window: int
    late_cancels_in_window: int
    restricted_until: datetime | None
    restriction_lift_time: datetime | None
    restriction_lift_reason: str
    open_appointments: int
    max_open_appointments: int


def standing_message(s: Standing) -> appointments_pb2.BookingStanding:
    """The `BookingStanding` message of a standing."""
    return appointments_pb2.BookingStanding(
        name=f"members/{s.member_id}/bookingStanding",
        tier_id=s.tier_id or "",
        booking_window_days=s.booking_window_days,
        bookable_until=ts(s.bookable_until),
        no_shows_in_window=s.no_shows_in_window,
        late_cancels_in_window=s.late_cancels_in_window,
        restricted_until=ts(s.restricted_until),
        restriction_lift_time=ts(s.restriction_lift_time),
        restriction_lift_reason=s.restriction_lift_reason,
        open_appointments=s.open_appointments,
        max_open_appointments=s.max_open_appointments,
    )


def _counted_kinds(policy: BookingPolicy) -> tuple[str, ...]:
    return (NO_SHOW, LATE_CANCEL) if policy.count_late_cancels_as_no_shows else (NO_SHOW,)


async def _no_shows_in_window(uow: BookingUnitOfWork, member: str, now: datetime, policy, row) -> int:
    since = now - timedelta(days=policy.no_show_window_days)
    if row is not None and row.restriction_lift_time is not None:
        since = max(since, row.restriction_lift_time)
    return await uow.policy.count(member, _counted_kinds(policy), since, now)


async def standing(uow: BookingUnitOfWork, member: str, now: datetime, policy: BookingPolicy) -> Standing:
    """The member's standing at `now`, computed on read; NOT_FOUND for a member members does not know."""
    window = await uow.members.require(member, "name")
    row = await uow.policy.standing(member)
    days = window.booking_window_days or policy.default_booking_window_days
    zone = store_zone(await uow.policy.latest_time_zone(member) or "") or UTC
    late = await uow.policy.count(
        member, (LATE_CANCEL,), now - timedelta(days=policy.no_show_window_days), now
    )
    return Standing(
        member_id=member,
        tier_id=window.tier_id,
        booking_window_days=days,
        bookable_until=bookable_until(now, zone, days),
        no_shows_in_window=await _no_shows_in_window(uow, member, now, policy, row),
        late_cancels_in_window=late,
        restricted_until=_enforced(row, now, policy),
        restriction_lift_time=row.restriction_lift_time if row is not None else None,
        restriction_lift_reason=(row.restriction_lift_reason or "") if row is not None else "",
        open_appointments=await uow.appointments.count_open(member, now),
        max_open_appointments=policy.max_open_appointments,
    )


async def _count(uow: BookingUnitOfWork, appointment, kind: str, now: datetime, policy: BookingPolicy):
    member = appointment.member_id
    appointment_id = str(appointment.appointment_id)
    # The same lock as member_rules: counting and restricting are serialised per member.
    await uow.members.lock(member)
    counted = await uow.policy.record(
        appointment_id=appointment_id,
        kind=kind,
        member_id=member,
        store_id=appointment.store_id,
        occurred_at=now,
    )
    if counted and kind in _counted_kinds(policy) and policy.no_show_limit > 0:
        row = await uow.policy.standing(member)
        in_window = await _no_shows_in_window(uow, member, now, policy, row)
        until = now + timedelta(days=policy.no_show_restriction_days)
        current = row.restricted_until if row is not None else None
        if in_window >= policy.no_show_limit and (current is None or current < until):
            await uow.policy.restrict(member, until, appointment_id, now)
            uow.emit(
                events_pb2.BookingRestricted(
                    member=f"members/{member}",
                    restricted_until=ts(until),
                    no_shows_in_window=in_window,
                    appointment=f"appointments/{appointment_id}",
                ),
                aggregate_type="member",
                aggregate_id=member,
            )
    return await standing(uow, member, now, policy)


async def on_no_show(
    uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy
) -> appointments_pb2.BookingStanding:
    """Counts a no-show of `appointment` (its row) against the no-show policy, restricting the
    member's online booking when it reaches the limit (`BookingRestricted`, emitted here). Counts
    once per appointment (a repeat changes nothing). Returns the member's standing after it (for
    `AppointmentNoShow.no_shows_in_window` / `.restricted_until` and `MarkNoShowResponse`)."""
    return standing_message(await _count(uow, appointment, NO_SHOW, now, policy))


async def on_late_cancel(
    uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy
) -> appointments_pb2.BookingStanding:
    """Counts a late cancel of `appointment` (its row); it counts towards the no-show limit only
    with `count_late_cancels_as_no_shows`. Returns the member's standing after it."""
    return standing_message(await _count(uow, appointment, LATE_CANCEL, now, policy))


async def lift_restriction(
    uow: BookingUnitOfWork, member: str, *, lifted_by: str, reason: str, now: datetime, policy: BookingPolicy
) -> Standing:
    """Lifts the member's restriction (audited: who, when, why; `BookingRestrictionLifted`); the
    no-shows counted before now no longer count. FAILED_PRECONDITION `NOT_RESTRICTED` when the
    member is not restricted."""
    await uow.members.require(member, "name")
    await uow.members.lock(member)
    row = await uow.policy.standing(member)
    until = _enforced(row, now, policy)
    if until is None:
        raise FailedPrecondition(f"members/{member} is not restricted", reason=NOT_RESTRICTED)
    await uow.policy.lift(member, lifted_by=lifted_by, reason=reason, now=now, restricted_until=until)
    uow.emit(
        events_pb2.BookingRestrictionLifted(
            member=f"members/{member}",
            restricted_until=ts(until),
            lift_time=ts(now),
            lifted_by=lifted_by,
            reason=reason,
        ),
        aggregate_type="member",
        aggregate_id=member,
    )
    return await standing(uow, member, now, policy)
