"""The waitlist: members waiting for a service on a day (optionally with one staff member); time
freed by a cancellation, reschedule or no-show is offered to one waiting member at a time.

Freed time is one staff member's freed span (the appointment's reserved blocks of that staff
member, merged), given a fresh `release_id`. It is offered to the first entry in queue order
(`create_time`, `entry_id`) of that store and day that wants that staff member or anyone, and for
whom the service really fits: the availability engine (`find_slots`, restricted to the entry's
day, its staff member and the current reservations) must find a start inside the freed span and
inside the entry's time-of-day window. The offered slot's staff, room and equipment are then held
by reservation rows keyed by the offer id (`appointment_resources`), so nobody else can book them
and availability shows them busy while the offer is open (`BookingPolicy.waitlist_offer_minutes`,
never past the slot's start). `WaitlistOffered` is published in the same transaction. A member
joining when a fitting slot is free already is offered the earliest one at once (its reserved
block then counts as the freed span). Freed time nobody fits is not remembered: a later join
finds it free and is offered it then. An accepted offer's booking may use only part of the freed
span (a 2-hour cancellation, a 1-hour service): in the accepting transaction the unused rest is
offered again (`offer_unused_rest`), to the next fitting entry never offered time of the same
origin (`origin_release_id`), and so on after each accept.

Accepting releases the hold and books the slot through `book_appointment` in the same
transaction: any refusal (member rules, SLOT_TAKEN, ...) rolls everything back and the entry stays
`OFFERED` with its hold, to be accepted again, declined or left to lapse. Declining, leaving with
an open offer, or the offer lapsing (the `expire_waitlist` job step) puts the entry back to
`WAITING` (leaving: `CANCELLED`) and offers the same freed span to the next entry that was never
offered it. An accept after the window ends fails with `OFFER_EXPIRED` and writes nothing; the job
moves the offer on. The job step also expires waiting entries whose store-local date has ended.

Concurrency: candidate entries are locked `FOR UPDATE` one by one in queue order and their state
re-checked under the lock, so two cancellations at once cannot offer one entry twice; the database
backs this up (at most one open offer per entry and per release; never the same release twice to
an entry). Entry rows are locked before their offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from peony.booking.v1 import appointments_pb2, events_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.errors import FailedPrecondition, InvalidArgument, NotFound
from kit.ids import new_id
from kit.proto import ts
from kit.uow import UnitOfWorkFactory
from services.booking.adapters import tables as t
from services.booking.adapters import waitlist_tables as wt
from services.booking.domain.availability import LOCAL_FORMAT, Slot, find_slots, store_zone
from services.booking.domain.schedule import Equipment, Room, Staff

# appointments.py imports this module: bind the module, use its functions at call time
from services.booking.service_layer import appointments as appts
from services.booking.service_layer import policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

WAITING, OFFERED, BOOKED, CANCELLED, EXPIRED = wt.ENTRY_STATES
SELF_SERVICE = frozenset(
    {appointments_pb2.BOOKING_CHANNEL_ONLINE, appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM}
)
BATCH = 200


@dataclass(frozen=True)
class Release:
    """One staff member's freed span at a store."""

    release_id: str
    store_id: str
    staff: str
    start: datetime
    end: datetime
    # the release first freed that this one is the unused rest of; empty: this one is
    origin_id: str = ""

    @property
    def origin(self) -> str:
        return self.origin_id or self.release_id


class _Taken(Exception):
    """A resource of a slot to hold was taken meanwhile (rolls the hold's savepoint back)."""


# --- joining --------------------------------------------------------------------------------------


async def join(
    uow: BookingUnitOfWork,
    *,
    member: str,
    store: str,
    service: str,
    wanted_date: date,
    staff: str | None,
    earliest_start: str | None,
    latest_start: str | None,
    channel: int,
    now: datetime,
) -> tuple[dict, object]:
    """Puts `member` on the waitlist; returns the entry row (as a dict) and its offer row when a
    fitting slot was free already (else None). Ids, except `staff` (a resource name or None)."""
    tz = await uow.catalog.store_zone(store)
    zone = store_zone(tz or "")
    if zone is None:
        raise NotFound(f"stores/{store} not found", reason="STORE_NOT_FOUND")
    # Withdrawn or not offered at the store: FAILED_PRECONDITION SERVICE_NOT_OFFERED from the catalogue.
    record = (await uow.catalog.services([service], store_id=store)).get(service)
    if record is None:
        raise NotFound(
            f"services/{service} not found",
            reason="SERVICE_NOT_FOUND",
            metadata={"service": f"services/{service}"},
        )
    if channel in SELF_SERVICE and not record.online_bookable:
        raise FailedPrecondition(
            f"services/{service} is not bookable online",
            reason="SERVICE_NOT_OFFERED",
            metadata={"service": f"services/{service}"},
        )
    if staff is not None:
        roster = {s.staff_id: s for s in await uow.catalog.staff(store)}
        if staff not in roster:
            raise NotFound(f"{staff} not found", reason="STAFF_NOT_FOUND", metadata={"staff": staff})
        if not roster[staff].can_do(record.service):
            raise FailedPrecondition(
                f"{staff} lacks a required skill", reason="STAFF_NOT_QUALIFIED", metadata={"staff": staff}
            )
    today = now.astimezone(zone).date()
    if wanted_date < today:
        raise FailedPrecondition("the date is in the past", reason="SLOT_IN_PAST")
    rules = await policy.load_policy(uow)
    window = await uow.members.require(member)
    days = window.booking_window_days or rules.default_booking_window_days
    day_start = datetime.combine(wanted_date, time(0), zone).astimezone(UTC)
    until = policy.bookable_until(now, zone, days)
    if day_start >= until:
        raise FailedPrecondition(
            f"the member may book at most {days} days ahead",
            reason=policy.BEYOND_BOOKING_WINDOW,
            metadata={"booking_window_days": str(days), "bookable_until": until.isoformat()},
        )
    if channel in SELF_SERVICE:
        restricted_until = await policy.restricted_until(uow, member, now, rules)
        if restricted_until is not None:
            raise FailedPrecondition(
                "the member may not book online after too many no-shows",
                reason="MEMBER_RESTRICTED",
                metadata={"restricted_until": restricted_until.astimezone(UTC).isoformat()},
            )
    row = await uow.waitlist.add_entry(
        entry_id=new_id(),
        member_id=member,
        store_id=store,
        service_id=service,
        wanted_date=wanted_date,
        staff=staff,
        earliest_start=earliest_start,
        latest_start=latest_start,
        channel=channel,
        create_time=now,
        update_time=now,
    )
    offer = await offer_free_time(uow, row, now)
    if offer is not None:
        row = await uow.waitlist.entry(row.entry_id)
    return row._asdict(), offer


async def offer_free_time(uow: BookingUnitOfWork, entry, now: datetime):
    """A just-joined entry whose wish is bookable right now is offered the earliest fitting slot
    at once (its reserved block becomes the freed span passed on if the member lets it go)."""
    tz = await uow.catalog.store_zone(entry.store_id)
    zone = store_zone(tz or "")
    if zone is None:
        return None
    day = entry.wanted_date
    whole_day = (
        datetime.combine(day, time(0), zone).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC),
    )
    rules = await policy.load_policy(uow)
    roster = await uow.catalog.staff(
        entry.store_id, between=(day - timedelta(days=2), day + timedelta(days=2))
    )
    if entry.staff is not None:
        roster = [s for s in roster if s.staff_id == entry.staff]
    rooms = await uow.catalog.rooms(entry.store_id)
    equipment = await uow.catalog.equipment(entry.store_id)
    slots: list[Slot] = []
    for staff in roster:
        anywhen = Release("", entry.store_id, staff.staff_id, *whole_day)
        slots += await _fitting_slots(uow, entry, anywhen, staff, rooms, equipment, tz, rules, now)
    for slot in sorted(slots, key=lambda s: (s.start_utc, s.staff_ids)):
        offer_id = new_id()
        if await _hold(uow, offer_id, slot, rooms):
            release = Release(
                new_id(), entry.store_id, slot.staff_id, slot.reserved_start_utc, slot.reserved_end_utc
            )
            return await _make_offer(uow, entry, release, offer_id, slot, tz, rules, now)
    return None


# --- offering freed time --------------------------------------------------------------------------


async def on_time_freed(uow: BookingUnitOfWork, appointment, now: datetime) -> None:
    """Called in the transaction that frees `appointment`'s (its row, as it was) resources: each
    staff member's freed span is offered to the first fitting waiting entry."""
    blocks: dict[str, list[tuple[datetime, datetime]]] = {}
    for s in appointment.services or []:
        if s.get("staff"):
            start = datetime.fromisoformat(s.get("reserved_start") or s["start"])
            end = datetime.fromisoformat(s.get("reserved_end") or s["end"])
            blocks.setdefault(s["staff"], []).append((start, end))
    for staff in sorted(blocks):
        for start, end in appts.merge(blocks[staff]):
            if end <= now:
                continue
            release = Release(new_id(), appointment.store_id, staff, start, end)
            await offer_release(uow, release, now)


async def offer_release(uow: BookingUnitOfWork, release: Release, now: datetime):
    """Offers the freed span to the first entry (queue order) that was never offered it and for
    whom the service fits; returns the offer row, or None when nobody fits."""
    tz = await uow.catalog.store_zone(release.store_id)
    zone = store_zone(tz or "")
    if zone is None:
        return None
    days = sorted(
        {
            release.start.astimezone(zone).date(),
            (release.end - timedelta(microseconds=1)).astimezone(zone).date(),
        }
    )
    ids = await uow.waitlist.candidates(release.store_id, days, release.staff, release.origin)
    if not ids:
        return None
    rules = await policy.load_policy(uow)
    roster = {
        s.staff_id: s
        for s in await uow.catalog.staff(
            release.store_id, between=(days[0] - timedelta(days=2), days[-1] + timedelta(days=2))
        )
    }
    staff = roster.get(release.staff)
    if staff is None:
        return None
    rooms = await uow.catalog.rooms(release.store_id)
    equipment = await uow.catalog.equipment(release.store_id)
    for entry_id in ids:
        # Locked in queue order; the state is re-checked under the lock (a concurrent offer, leave
        # or accept may have changed it since the candidates were read).
        entry = await uow.waitlist.entry(entry_id, for_update=True)
        if entry is None or entry.state != WAITING:
            continue
        for slot in await _fitting_slots(uow, entry, release, staff, rooms, equipment, tz, rules, now):
            offer_id = new_id()
            if await _hold(uow, offer_id, slot, rooms):
                return await _make_offer(uow, entry, release, offer_id, slot, tz, rules, now)
    return None


async def _fitting_slots(
    uow: BookingUnitOfWork,
    entry,
    release: Release,
    staff: Staff,
    rooms: Sequence[Room],
    equipment: Sequence[Equipment],
    tz: str,
    rules: policy.BookingPolicy,
    now: datetime,
) -> list[Slot]:
    """Slots of the entry's service on its day with the freed staff member, starting inside the
    freed span and the entry's time-of-day window, given the current reservations."""
    try:
        record = (await uow.catalog.services([entry.service_id], store_id=entry.store_id)).get(
            entry.service_id
        )
    except FailedPrecondition:  # withdrawn since the member joined
        return []
    if record is None or not staff.can_do(record.service):
        return []
    zone = store_zone(tz)
    day = entry.wanted_date
    around = (
        datetime.combine(day - timedelta(days=1), time(0), zone),
        datetime.combine(day + timedelta(days=2), time(0), zone),
    )
    resources = [staff.staff_id] + [r.room_id for r in rooms] + [e.equipment_id for e in equipment]
    busy = await uow.appointments.busy(resources, *around)
    slots = find_slots(
        tz=tz,
        start_date=day,
        end_date=day,
        services=[record.service],
        staff=[staff],
        rooms=rooms,
        equipment=equipment,
        busy=busy,
        preferred_staff=staff.staff_id,
        step_minutes=rules.slot_step_minutes,
        now=now,
        min_lead_minutes=rules.min_lead_minutes if entry.channel in SELF_SERVICE else 0,
    )
    out = []
    for slot in slots:
        if not release.start <= slot.start_utc < release.end:
            continue
        wall = slot.local_start[11:16]
        if entry.earliest_start and wall < entry.earliest_start:
            continue
        if entry.latest_start and wall > entry.latest_start:
            continue
        out.append(slot)
    return out


async def _hold(uow: BookingUnitOfWork, offer_id: str, slot: Slot, rooms: Sequence[Room]) -> bool:
    """Reserves the slot's staff, room and equipment for the offer, all or nothing (a savepoint);
    False when the exclusion constraint finds one taken."""
    spans: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for a in slot.assignments:
        block = (a.reserved_start_utc, a.reserved_end_utc)
        spans.setdefault(("staff", a.staff_id), []).append(block)
        if a.room_id:
            spans.setdefault(("room", a.room_id), []).append(block)
        if a.equipment_id:
            spans.setdefault(("equipment", a.equipment_id), []).append(block)
    capacity = {r.room_id: r.capacity for r in rooms}
    try:
        async with uow.session.begin_nested():
            for (kind, resource_id), blocks in sorted(spans.items()):
                seats = range(1, capacity.get(resource_id, 1) + 1)
                for seat in seats:
                    if await uow.appointments.reserve(offer_id, resource_id, kind, appts.merge(blocks), seat):
                        break
                else:
                    raise _Taken(resource_id)
        return True
    except _Taken:
        return False


def _slot_json(slot: Slot) -> list[dict]:
    return [
        {
            "service": a.service_id,
            "staff": a.staff_id,
            "room": a.room_id or "",
            "equipment": a.equipment_id or "",
            "start": a.start_utc.isoformat(),
            "end": a.end_utc.isoformat(),
            "reserved_start": a.reserved_start_utc.isoformat(),
            "reserved_end": a.reserved_end_utc.isoformat(),
        }
        for a in slot.assignments
    ]


async def _make_offer(uow, entry, release: Release, offer_id: str, slot: Slot, tz: str, rules, now: datetime):
    expire = min(now + timedelta(minutes=rules.waitlist_offer_minutes), slot.start_utc)
    zone = store_zone(tz)
    offer = await uow.waitlist.add_offer(
        offer_id=offer_id,
        entry_id=entry.entry_id,
        release_id=release.release_id,
        origin_release_id=release.origin,
        store_id=release.store_id,
        freed_staff=release.staff,
        freed_start=release.start,
        freed_end=release.end,
        slot=_slot_json(slot),
        start_time=slot.start_utc,
        end_time=slot.end_utc,
        local_start=slot.local_start,
        local_end=slot.end_utc.astimezone(zone).strftime(LOCAL_FORMAT),
        time_zone=tz,
        offer_time=now,
        expire_time=max(expire, now),
    )
    await uow.waitlist.set_entry(entry.entry_id, now, state=OFFERED, offers_made=entry.offers_made + 1)
    uow.emit(
        events_pb2.WaitlistOffered(
            waitlist_entry=f"waitlistEntries/{entry.entry_id}",
            member=f"members/{entry.member_id}",
            store=f"stores/{entry.store_id}",
            service=f"services/{entry.service_id}",
            staff=slot.staff_id,
            start_time=ts(slot.start_utc),
            end_time=ts(slot.end_utc),
            local_start=slot.local_start,
            time_zone=tz,
            offer_expire_time=ts(offer.expire_time),
        ),
        aggregate_type="waitlist_entry",
        aggregate_id=entry.entry_id,
    )
    return offer


def _release_of(offer) -> Release:
    return Release(
        offer.release_id,
        offer.store_id,
        offer.freed_staff,
        offer.freed_start,
        offer.freed_end,
        offer.origin_release_id,
    )


async def _pass_on(uow: BookingUnitOfWork, offer, closed_as: str, now: datetime) -> None:
    """Closes the open `offer`, frees its hold and offers the freed span to the next entry."""
    await uow.waitlist.close_offer(offer.offer_id, closed_as, now)
    await uow.appointments.release(offer.offer_id)
    await offer_release(uow, _release_of(offer), now)


# --- the member's answers ------------------------------------------------------------------------


async def locked_entry(uow: BookingUnitOfWork, entry_id: str):
    entry = await uow.waitlist.entry(entry_id, for_update=True)
    if entry is None:
        raise NotFound(f"waitlistEntries/{entry_id} not found", reason="WAITLIST_ENTRY_NOT_FOUND")
    return entry


async def leave(uow: BookingUnitOfWork, entry, now: datetime) -> dict:
    """`entry` is the row locked by `locked_entry`."""
    if entry.state not in (WAITING, OFFERED):
        raise FailedPrecondition(
            f"the waitlist entry is {entry.state}",
            reason="INVALID_WAITLIST_STATE",
            metadata={"state": entry.state},
        )
    row = await uow.waitlist.set_entry(entry.entry_id, now, state=CANCELLED)
    offer = await uow.waitlist.open_offer(entry.entry_id, for_update=True)
    if offer is not None:
        await _pass_on(uow, offer, "withdrawn", now)
    return row._asdict()


async def _open_offer_or_fail(uow: BookingUnitOfWork, entry, now: datetime):
    offer = await uow.waitlist.open_offer(entry.entry_id, for_update=True) if entry.state == OFFERED else None
    if offer is None:
        last = await uow.waitlist.last_offer(entry.entry_id)
        if last is not None and last.state == "expired" and entry.state == WAITING:
            raise FailedPrecondition(
                "the offer has expired",
                reason="OFFER_EXPIRED",
                metadata={"expire_time": last.expire_time.isoformat()},
            )
        raise FailedPrecondition(
            "the entry has no open offer", reason="NO_OPEN_OFFER", metadata={"state": entry.state}
        )
    if offer.expire_time <= now:
        raise FailedPrecondition(
            "the offer has expired",
            reason="OFFER_EXPIRED",
            metadata={"expire_time": offer.expire_time.isoformat()},
        )
    return offer


async def decline(uow: BookingUnitOfWork, entry, now: datetime) -> dict:
    """Back to `WAITING` (its place in the queue kept) and the span goes to the next entry. A
    lapsed offer may still be declined (the outcome is the same as the lapse)."""
    offer = await uow.waitlist.open_offer(entry.entry_id, for_update=True) if entry.state == OFFERED else None
    if offer is None:
        raise FailedPrecondition(
            "the entry has no open offer", reason="NO_OPEN_OFFER", metadata={"state": entry.state}
        )
    row = await uow.waitlist.set_entry(entry.entry_id, now, state=WAITING)
    await _pass_on(uow, offer, "declined", now)
    return row._asdict()


async def accept(
    uow: BookingUnitOfWork,
    entry,
    *,
    notes: str,
    now: datetime,
    wallet_hold=None,
    request_key: str = "",
    booked_by: str = "",
) -> tuple[dict, dict]:
    """Books the held slot for the entry's member exactly as `BookAppointment` would (on the
    entry's channel); returns (entry, appointment) rows."""
    offer = await _open_offer_or_fail(uow, entry, now)
    await uow.waitlist.close_offer(offer.offer_id, "accepted", now)
    # The hold gives way to the booking in this same transaction: if the booking is refused,
    # everything rolls back and the hold is still there.
    await uow.appointments.release(offer.offer_id)
    appointment = await appts.book_appointment(
        uow,
        member=entry.member_id,
        store=entry.store_id,
        service_ids=[s["service"] for s in offer.slot],
        staff=None,
        # exactly the held staff, room and equipment
        assignments=[
            appts.Assignment(service=s["service"], staff=s["staff"], room=s["room"], equipment=s["equipment"])
            for s in offer.slot
        ],
        start_utc=offer.start_time,
        channel=entry.channel,
        notes=notes,
        now=now,
        wallet_hold=wallet_hold,
        request_key=request_key,
        booked_by=booked_by,
        waitlist_entry=f"waitlistEntries/{entry.entry_id}",
    )
    row = await uow.waitlist.set_entry(
        entry.entry_id, now, state=BOOKED, appointment_id=appointment["appointment_id"]
    )
    await offer_unused_rest(uow, offer, now)
    return row._asdict(), appointment


async def offer_unused_rest(uow: BookingUnitOfWork, accepted, now: datetime):
    """The part of the accepted offer's freed span that its booking did not use (the span is
    often longer than one service) is offered again, in the accepting transaction (so durably,
    and exactly once: only if the accept commits), to the next entry in queue order that was
    never offered time of this origin. It is a new release of the same origin over the same span:
    the booking's own reservations are busy now, so only the rest can be found free. Returns the
    offer, or None when nobody fits (the time is then free for anyone, as before)."""
    rest = Release(
        new_id(),
        accepted.store_id,
        accepted.freed_staff,
        accepted.freed_start,
        accepted.freed_end,
        accepted.origin_release_id,
    )
    if rest.end <= now:
        return None
    return await offer_release(uow, rest, now)


# --- the durable job step -------------------------------------------------------------------------


async def expire_offer(uow: BookingUnitOfWork, entry_id: str, offer_id: str, now: datetime) -> bool:
    """Lapses one due offer exactly once: the entry is re-locked with SKIP LOCKED (another runner,
    or the member answering, has it) and the offer's state re-checked under the lock."""
    entry = await uow.waitlist.entry(entry_id, for_update=True, skip_locked=True)
    if entry is None:
        return False
    offer = await uow.waitlist.open_offer(entry_id, for_update=True)
    if offer is None or offer.offer_id != offer_id or offer.expire_time > now:
        return False
    await uow.waitlist.set_entry(entry_id, now, state=WAITING)
    await _pass_on(uow, offer, "expired", now)
    return True


async def expire_waitlist(
    engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], now: datetime
) -> int:
    """Job step: lapses due offers (passing each on to the next entry) and expires waiting entries
    whose store-local date has ended."""
    o, e = wt.waitlist_offers.c, wt.waitlist_entries.c
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(o.tenant_id, o.entry_id, o.offer_id)
                .where(o.state == "open", o.expire_time <= now)
                .order_by(o.expire_time)
                .limit(BATCH)
            )
        ).all()
        # Any store's local date is at most a day off UTC's: only these can have ended.
        stores = (
            await conn.execute(
                select(e.tenant_id, e.store_id, t.store_zones.c.time_zone)
                .distinct()
                .join(
                    t.store_zones,
                    (t.store_zones.c.tenant_id == e.tenant_id) & (t.store_zones.c.store_id == e.store_id),
                )
                .where(e.state == WAITING, e.wanted_date <= now.date())
            )
        ).all()
    count = 0
    for tenant, entry_id, offer_id in due:

        async def one(uow: BookingUnitOfWork, entry_id=entry_id, offer_id=offer_id) -> bool:
            return await expire_offer(uow, entry_id, offer_id, now)

        count += await uows.run(tenant, one)
    for tenant, store_id, tz in stores:
        zone = store_zone(tz)
        if zone is None:
            continue

        async def ended(uow: BookingUnitOfWork, store_id=store_id, zone=zone) -> int:
            return await uow.waitlist.expire_past_entries(store_id, now.astimezone(zone).date(), now)

        count += await uows.run(tenant, ended)
    return count


def parse_wall_time(value: str, field: str) -> str | None:
    """`HH:MM` (00:00-23:59) or empty (None)."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, "%H:%M")
    except ValueError:
        raise InvalidArgument([(field, "must be HH:MM")]) from None
    if parsed.strftime("%H:%M") != value:
        raise InvalidArgument([(field, "must be HH:MM")])
    return value
