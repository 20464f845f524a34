"""The availability query: loads what the engine (`domain.availability.find_slots`) needs for a
store and date range (the services with the store's overrides, staff with their schedule
exceptions, rooms, equipment, the reservations in the way, the booking policy) and applies the
member's rules on top (online-booking restriction, booking window).

A self-service query (online, mini program) sees only services and staff bookable online and
honours the policy's minimum lead time; the front desk sees everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from kit.errors import FailedPrecondition, NotFound
from services.booking.adapters.catalog_repository import SERVICE_NOT_OFFERED
from services.booking.domain.availability import Slot, find_slots, store_zone
from services.booking.domain.schedule import MINUTES_PER_DAY, Busy
from services.booking.service_layer import policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


@dataclass(frozen=True)
class Availability:
    """The bookable slots (in start order) and what every slot shares."""

    tz: str
    zone: ZoneInfo
    slots: list[Slot]
    bookable_until: datetime | None  # the member's booking window ends here (None: no member)
    list_price_minor: int  # the services' list prices, summed
    currency_code: str


async def query_availability(
    uow: BookingUnitOfWork,
    *,
    store_id: str,
    service_ids: Sequence[str],
    start_date: date,
    end_date: date,
    preferred_staff: str | None,
    member_id: str | None,
    self_service: bool,
) -> Availability:
    """Slots for `service_ids` back to back starting on start_date..end_date (store-local).

    `preferred_staff` (a staff resource name) restricts the slots to that staff member; with
    `member_id` the slots end at the member's booking window, and a member restricted from
    booking online is refused a self-service query (FAILED_PRECONDITION `MEMBER_RESTRICTED`)."""
    tz = await uow.catalog.store_zone(store_id)
    zone = store_zone(tz or "")
    if zone is None:
        raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
    found = await uow.catalog.services(service_ids, store_id=store_id)
    for sid in service_ids:
        if sid not in found:
            raise NotFound(
                f"services/{sid} not found",
                reason="SERVICE_NOT_FOUND",
                metadata={"service": f"services/{sid}"},
            )
        if self_service and not found[sid].online_bookable:
            raise FailedPrecondition(
                f"services/{sid} cannot be booked online",
                reason=SERVICE_NOT_OFFERED,
                metadata={"service": f"services/{sid}"},
            )
    if (
        preferred_staff is not None
        and await uow.catalog.get_staff(store_id, preferred_staff.rsplit("/", 1)[1]) is None
    ):
        raise NotFound(
            f"{preferred_staff} not found", reason="STAFF_NOT_FOUND", metadata={"staff": preferred_staff}
        )
    # Reserved blocks reach before the first date (buffers) and past the last one (the services
    # back to back, night shifts): read schedules and bookings that far.
    services = [found[s].service for s in service_ids]
    reach = sum(s.duration_minutes + s.buffer_before_minutes + s.buffer_after_minutes for s in services)
    ahead = timedelta(days=math.ceil(reach / MINUTES_PER_DAY) + 2)
    between = (start_date - timedelta(days=2), end_date + ahead)
    staff = await uow.catalog.staff(store_id, between=between, online_bookable_only=self_service)
    rooms = await uow.catalog.rooms(store_id)
    equipment = await uow.catalog.equipment(store_id)
    ids = [s.staff_id for s in staff] + [r.room_id for r in rooms] + [e.equipment_id for e in equipment]
    lo = datetime.combine(start_date, datetime.min.time(), UTC)
    hi = datetime.combine(end_date, datetime.max.time(), UTC)
    busy: list[Busy] = await uow.appointments.busy(ids, lo - timedelta(days=2), hi + ahead)
    rules = await policy.load_policy(uow)
    now = datetime.now(UTC)
    slots = find_slots(
        tz=tz,
        start_date=start_date,
        end_date=end_date,
        services=services,
        staff=staff,
        rooms=rooms,
        equipment=equipment,
        busy=busy,
        preferred_staff=preferred_staff,
        step_minutes=rules.slot_step_minutes,
        now=now,
        min_lead_minutes=rules.min_lead_minutes if self_service else 0,
    )
    until = None
    if member_id and self_service:
        restricted = await policy.restricted_until(uow, member_id, now, rules)
        if restricted is not None:
            raise FailedPrecondition(
                "the member may not book online after too many no-shows",
                reason=policy.MEMBER_RESTRICTED,
                metadata={"restricted_until": restricted.astimezone(UTC).isoformat()},
            )
    if member_id:
        window = await uow.members.require(member_id)
        days = window.booking_window_days or rules.default_booking_window_days
        until = policy.bookable_until(now, zone, days)
        slots = [s for s in slots if s.start_utc < until]
    return Availability(
        tz=tz,
        zone=zone,
        slots=slots,
        bookable_until=until,
        list_price_minor=sum(found[s].list_price_minor for s in service_ids),
        currency_code=found[service_ids[0]].currency_code,
    )
