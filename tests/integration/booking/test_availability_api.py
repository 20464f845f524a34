"""Availability and booking through the gRPC API across time zones and DST changes.

A store in America/New_York (spring forward 2027-03-14 02:00 -> 03:00, fall back 2027-11-07
02:00 -> 01:00) and one in Asia/Shanghai (no DST). Day staff work 09:00-18:00 local every day, a
night porter 00:00-06:00, so slots exist around the skipped and the repeated hour. Wall times
stay put across a change while the UTC instants move; the skipped hour has no slot; a start in
the repeated hour is offered once, at its first occurrence; a booked slot stores the same local
and UTC start. Bad input is refused with the documented code and reason and writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.booking.v1 import appointments_pb2, availability_pb2, catalog_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from tests.support.booking import (
    Harness,
    error_info,
    instant,
    local_instant,
    register_members,
    rid,
    running_booking,
    weekly,
)

pytestmark = pytest.mark.integration
NY, SH = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")
SPRING, FALL = date(2027, 3, 14), date(2027, 11, 7)
DAY = timedelta(days=1)
FACIAL, NIGHT = "services/facial", "services/night-care"


@pytest.fixture(scope="module")
async def server(infra):
    async with running_booking(infra, "booking_availability_api") as server:
        yield server


@pytest.fixture
async def h(server) -> Harness:
    """Stores `ny` and `sh`, a 60-minute facial (bed needed) and a 60-minute night care."""
    harness = Harness.of(server)
    await register_members(server.engine, harness.tenant, "m1", "m9")  # the members of these tests
    await harness.store("ny", "America/New_York")
    await harness.store("sh", "Asia/Shanghai")
    await harness.service(
        "facial",
        duration_minutes=60,
        list_price_minor=20_000,
        online_bookable=True,
        requirements=catalog_pb2.ResourceRequirements(skill="facial", room_type="bed"),
    )
    await harness.service(
        "night-care", duration_minutes=60, requirements=catalog_pb2.ResourceRequirements(skill="night")
    )
    for store in ("ny", "sh"):
        await harness.staff(
            store, "anna", skills=["facial"], weekly_hours=weekly("09:00", "18:00"), online_bookable=True
        )
        await harness.stub.CreateRoom(
            pb.CreateRoomRequest(
                parent=f"stores/{store}",
                room=resources_pb2.Room(display_name="Bed", room_type="bed"),
                room_id="bed",
                request_id=rid(),
            ),
            metadata=harness.hq,
        )
    await harness.staff("ny", "porter", skills=["night"], weekly_hours=weekly("00:00", "06:00"))
    return harness


def by_day(slots) -> dict[str, list[availability_pb2.Slot]]:
    out: dict[str, list[availability_pb2.Slot]] = {}
    for s in slots:
        out.setdefault(s.local_start[:10], []).append(s)
    return out


def utc_hhmm(slot) -> str:
    return instant(slot.start_time).strftime("%H:%M")


async def written(h: Harness) -> tuple[int, int]:
    return await h.count("appointments"), await h.count("appointment_resources")


async def refused(call, code: grpc.StatusCode, reason: str):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    got, metadata, fields = error_info(info.value)
    assert got == reason, info.value.details()
    return metadata, fields


# --- DST ----------------------------------------------------------------------------------------------


async def test_spring_forward_keeps_wall_times_and_moves_instants(h):
    days = by_day(await h.slots("ny", [FACIAL], SPRING - DAY, SPRING + DAY))
    assert list(days) == ["2027-03-13", "2027-03-14", "2027-03-15"]
    for local_day, utc_open in (("2027-03-13", "14:00"), ("2027-03-14", "13:00"), ("2027-03-15", "13:00")):
        slots = days[local_day]
        # 09:00 EST = 14:00Z before the change; 09:00 EDT = 13:00Z from the change day on.
        assert slots[0].local_start == f"{local_day}T09:00" and utc_hhmm(slots[0]) == utc_open
        assert slots[-1].local_start == f"{local_day}T17:00" and slots[-1].local_end == f"{local_day}T18:00"
        assert len(slots) == 33  # 09:00 .. 17:00 every 15 minutes
        for s in slots:
            assert s.time_zone == "America/New_York" and s.staff == "stores/ny/staff/anna"
            assert instant(s.start_time).astimezone(NY).strftime("%Y-%m-%dT%H:%M") == s.local_start
            assert instant(s.end_time) - instant(s.start_time) == timedelta(hours=1)
            assert s.assignments[0].room == "stores/ny/rooms/bed" and s.list_price_minor == 20_000


async def test_nothing_starts_in_the_skipped_hour(h):
    slots = await h.slots("ny", [NIGHT], SPRING)
    local = [s.local_start[11:] for s in slots]
    assert not [t for t in local if t.startswith("02:")]
    assert local[:8] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45"]
    assert local[8] == "03:00" and local[-1] == "05:00"
    instants = [instant(s.start_time) for s in slots]
    assert instants == sorted(instants)
    # 01:45 EST = 06:45Z is followed by 03:00 EDT = 07:00Z: a quarter of an hour later.
    assert (utc_hhmm(slots[7]), utc_hhmm(slots[8])) == ("06:45", "07:00")
    # An hour from 01:30 EST ends at 03:30 EDT (one real hour), not at a non-existent 02:30.
    at_0130 = next(s for s in slots if s.local_start.endswith("01:30"))
    assert at_0130.local_end == "2027-03-14T03:30"
    assert instant(at_0130.end_time) - instant(at_0130.start_time) == timedelta(hours=1)


async def test_fall_back_keeps_wall_times_and_offers_the_repeated_hour_once(h):
    days = by_day(await h.slots("ny", [FACIAL], FALL - DAY, FALL + DAY))
    for local_day, utc_open in (("2027-11-06", "13:00"), ("2027-11-07", "14:00"), ("2027-11-08", "14:00")):
        slots = days[local_day]
        # 09:00 EDT = 13:00Z before the change; 09:00 EST = 14:00Z from the change day on.
        assert slots[0].local_start == f"{local_day}T09:00" and utc_hhmm(slots[0]) == utc_open
        assert slots[-1].local_start == f"{local_day}T17:00" and len(slots) == 33

    night = await h.slots("ny", [NIGHT], FALL)
    local = [s.local_start[11:] for s in night]
    assert len(local) == len(set(local))  # each wall time once
    assert local[0] == "00:00" and local[-1] == "05:00" and len(local) == 21
    instants = [instant(s.start_time) for s in night]
    assert instants == sorted(instants)
    # 01:30 is its first occurrence (EDT, 05:30Z); 02:00 EST is 07:00Z, 01:45 EDT is 05:45Z.
    at = {s.local_start[11:]: utc_hhmm(s) for s in night}
    assert (at["00:00"], at["01:30"], at["01:45"], at["02:00"]) == ("04:00", "05:30", "05:45", "07:00")
    # The porter works 00:00-06:00 on the wall: seven real hours that night.
    assert instant(night[-1].end_time) - instant(night[0].start_time) == timedelta(hours=7)


async def test_shanghai_has_no_dst(h):
    days = by_day(await h.slots("sh", [FACIAL], SPRING - DAY, SPRING + DAY))
    for local_day in ("2027-03-13", "2027-03-14", "2027-03-15"):
        slots = days[local_day]
        assert slots[0].local_start == f"{local_day}T09:00" and utc_hhmm(slots[0]) == "01:00"
        assert slots[-1].local_start == f"{local_day}T17:00" and utc_hhmm(slots[-1]) == "09:00"
        assert {s.time_zone for s in slots} == {"Asia/Shanghai"}
    soon = datetime.now(SH).date() + timedelta(days=3)
    slots = await h.slots("sh", [FACIAL], soon)
    assert slots[0].local_start == f"{soon.isoformat()}T09:00"
    assert instant(slots[0].start_time) == datetime.combine(soon, datetime.min.time(), UTC) + timedelta(
        hours=1
    )


async def test_booking_a_returned_slot_stores_its_local_and_utc_start(h):
    cases = [
        ("ny", FACIAL, SPRING, "09:00", "13:00"),
        ("ny", FACIAL, SPRING - DAY, "09:00", "14:00"),
        ("ny", FACIAL, FALL, "09:00", "14:00"),
        ("ny", FACIAL, FALL - DAY, "09:00", "13:00"),
        ("ny", NIGHT, SPRING, "03:00", "07:00"),
        ("ny", NIGHT, FALL, "01:30", "05:30"),
        ("sh", FACIAL, SPRING, "09:00", "01:00"),
    ]
    for store, service, day, wall, utc in cases:
        slots = await h.slots(store, [service], day)
        slot = next(s for s in slots if s.local_start == f"{day.isoformat()}T{wall}")
        assert utc_hhmm(slot) == utc
        booked = await h.book(store, [service], instant(slot.start_time), assignments=list(slot.assignments))
        assert booked.local_start == slot.local_start and booked.start_time == slot.start_time
        assert booked.local_end == slot.local_end and booked.time_zone == slot.time_zone
        rows = await h.rows(
            "SELECT start_time, local_start, time_zone FROM appointments WHERE tenant_id = :t"
            " AND appointment_id = :a",
            a=booked.name.split("/")[1],
        )
        assert rows == [(instant(slot.start_time), slot.local_start, slot.time_zone)]
        # The slot is taken now.
        again = await h.slots(store, [service], day)
        assert slot.local_start not in [s.local_start for s in again]


# --- bad input ------------------------------------------------------------------------------------------


def query(**fields) -> pb.QueryAvailabilityRequest:
    values = {
        "store": "stores/ny",
        "services": [FACIAL],
        "start_date": SPRING.isoformat(),
        "end_date": SPRING.isoformat(),
    } | fields
    return pb.QueryAvailabilityRequest(**values)


async def test_bad_availability_queries_are_refused(h):
    stub, hq = h.stub, h.hq
    _, fields = await refused(
        stub.QueryAvailability(query(end_date=(SPRING - DAY).isoformat()), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "END_BEFORE_START",
    )
    assert fields == ["end_date"]
    _, fields = await refused(
        stub.QueryAvailability(query(end_date=(SPRING + 31 * DAY).isoformat()), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "RANGE_TOO_LONG",
    )
    assert fields == ["end_date"]
    assert await h.slots("ny", [FACIAL], SPRING, SPRING + 30 * DAY)  # 31 dates are fine
    _, fields = await refused(
        stub.QueryAvailability(query(start_date="2027-02-30"), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    assert fields == ["start_date"]
    await refused(
        stub.QueryAvailability(query(services=[FACIAL] * 11), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.QueryAvailability(query(services=[]), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.QueryAvailability(query(preferred_staff="stores/sh/staff/anna"), metadata=hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    await refused(
        stub.QueryAvailability(query(services=["services/ghost"]), metadata=hq),
        grpc.StatusCode.NOT_FOUND,
        "SERVICE_NOT_FOUND",
    )
    await refused(
        stub.QueryAvailability(query(preferred_staff="stores/ny/staff/ghost"), metadata=hq),
        grpc.StatusCode.NOT_FOUND,
        "STAFF_NOT_FOUND",
    )
    await refused(
        stub.QueryAvailability(query(store="stores/nowhere"), metadata=hq),
        grpc.StatusCode.NOT_FOUND,
        "STORE_NOT_FOUND",
    )
    # A preferred staff member lacking the skill gives no slots, not an error.
    assert not await h.slots("ny", [FACIAL], SPRING, preferred_staff="stores/ny/staff/porter")
    # Past dates have no slots.
    assert not await h.slots("ny", [FACIAL], date(2026, 3, 8))


async def test_bad_bookings_are_refused_and_write_nothing(h):
    before = await written(h)
    spring_9 = local_instant(SPRING, 9, 0, NY)
    cases = [
        (h.booking("ny", ["services/ghost"], spring_9), grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND"),
        (
            h.booking("ny", [FACIAL], spring_9, preferred_staff="stores/ny/staff/ghost"),
            grpc.StatusCode.NOT_FOUND,
            "STAFF_NOT_FOUND",
        ),
        (
            h.booking(
                "ny",
                [FACIAL],
                spring_9,
                assignments=[
                    availability_pb2.SlotAssignment(
                        service=FACIAL, staff="stores/ny/staff/anna", room="stores/ny/rooms/ghost"
                    )
                ],
            ),
            grpc.StatusCode.NOT_FOUND,
            "ROOM_NOT_FOUND",
        ),
        (h.booking("nowhere", [FACIAL], spring_9), grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"),
        # 08:00 EDT on the change day: before the 09:00 opening (13:00Z), though 08:00 EST would not be.
        (
            h.booking("ny", [FACIAL], local_instant(SPRING, 8, 0, NY)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTSIDE_WORKING_HOURS",
        ),
        # 17:30 runs past 18:00.
        (
            h.booking("ny", [FACIAL], local_instant(FALL, 17, 30, NY)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTSIDE_WORKING_HOURS",
        ),
        (
            h.booking("ny", [FACIAL], datetime.now(UTC) - timedelta(hours=2)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SLOT_IN_PAST",
        ),
        (
            h.booking("ny", [FACIAL], local_instant(date(2026, 3, 9), 10, 0, NY)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SLOT_IN_PAST",
        ),
    ]
    for request, code, reason in cases:
        await refused(h.stub.BookAppointment(request, metadata=h.hq), code, reason)
    assert await written(h) == before


# --- paging, members, channels -------------------------------------------------------------------------


async def test_availability_pages_and_member_rules(h):
    first = await h.stub.QueryAvailability(query(page_size=10), metadata=h.hq)
    assert len(first.slots) == 10 and first.next_page_token and first.time_zone == "America/New_York"
    rest = await h.stub.QueryAvailability(
        query(page_size=100, page_token=first.next_page_token), metadata=h.hq
    )
    assert not rest.next_page_token
    everything = await h.slots("ny", [FACIAL], SPRING)
    assert [s.local_start for s in [*first.slots, *rest.slots]] == [s.local_start for s in everything]
    await refused(
        h.stub.QueryAvailability(
            query(page_size=10, end_date="2027-03-15", page_token=first.next_page_token), metadata=h.hq
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )

    # With a member, slots stop at the end of the local day seven days ahead (the default window).
    today = datetime.now(SH).date()
    member = h.md(("member",), subject="members/m1")
    reply = await h.stub.QueryAvailability(
        query(
            store="stores/sh",
            start_date=(today + timedelta(days=5)).isoformat(),
            end_date=(today + timedelta(days=10)).isoformat(),
            page_size=1000,
        ),
        metadata=member,
    )
    until = datetime.combine(today + timedelta(days=8), datetime.min.time(), SH).astimezone(UTC)
    assert instant(reply.bookable_until) == until
    assert reply.slots and max(instant(s.start_time) for s in reply.slots) < until
    assert {s.local_start[:10] for s in reply.slots} == {
        (today + timedelta(days=n)).isoformat() for n in (5, 6, 7)
    }

    # Self-service channels see only what may be booked online: staff members too.
    await h.staff("sh", "bella", skills=["facial"], online_bookable=False)
    booked_by_staff = await h.slots("sh", [FACIAL], today + timedelta(days=5))
    assert {s.staff for s in booked_by_staff} == {"stores/sh/staff/anna", "stores/sh/staff/bella"}
    online = await h.slots("sh", [FACIAL], today + timedelta(days=5), metadata=member)
    assert {s.staff for s in online} == {"stores/sh/staff/anna"}
    assert not await h.slots(
        "sh", [FACIAL], today + timedelta(days=5), metadata=member, preferred_staff="stores/sh/staff/bella"
    )
    await h.stub.UpdateService(
        pb.UpdateServiceRequest(
            service=catalog_pb2.Service(name=FACIAL, online_bookable=False),
            update_mask=field_mask_pb2.FieldMask(paths=["online_bookable"]),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    await refused(
        h.stub.QueryAvailability(query(store="stores/sh"), metadata=member),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVICE_NOT_OFFERED",
    )
    staff_view = await h.stub.QueryAvailability(
        query(store="stores/sh", channel=appointments_pb2.BOOKING_CHANNEL_STORE), metadata=h.hq
    )
    assert staff_view.slots
    await refused(
        h.stub.QueryAvailability(query(store="stores/sh", member="members/other"), metadata=member),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWN_RECORD",
    )


async def test_a_restricted_member_gets_no_online_availability(h):
    now = datetime.now(UTC)

    async def restrict(uow) -> None:
        await uow.policy.restrict("m9", now + timedelta(days=30), str(uuid.uuid4()), now)

    await h.uows.run(h.tenant, restrict)
    soon = (datetime.now(SH).date() + timedelta(days=2)).isoformat()
    request = query(store="stores/sh", start_date=soon, end_date=soon)
    member = h.md(("member",), subject="members/m9")
    metadata, _ = await refused(
        h.stub.QueryAvailability(request, metadata=member),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_RESTRICTED",
    )
    assert datetime.fromisoformat(metadata["restricted_until"]) > now
    # The front desk may still book for them.
    request.member, request.channel = "members/m9", appointments_pb2.BOOKING_CHANNEL_STORE
    assert (await h.stub.QueryAvailability(request, metadata=h.hq)).slots
