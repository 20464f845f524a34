"""Booking over real gRPC and PostgreSQL: the exclusion constraints, not a read, decide who gets
a slot under contention; a refused booking writes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from peony.booking.v1 import appointments_pb2, catalog_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import text

from tests.support.booking import (
    booked_rows,
    create_service,
    create_staff,
    local_instant,
    put_store_zone,
    reason_of,
    register_members,
    rid,
    running_booking,
    stamp,
    weekly,
)
from tests.support.booking import md as tenant_md

pytestmark = pytest.mark.integration
TENANT = "booking-race"
STORE = "s1"
TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)  # also the default zone of local_instant
STAFF = f"stores/{STORE}/staff/anna"
CLIENTS, SLOTS = 100, 20
# Members booking knows (registered in the fixture): a fresh one for every request.
MEMBERS = [str(uuid.uuid4()) for _ in range(2000)]
_fresh_members = iter(MEMBERS)


def md():
    return tenant_md(TENANT)


@pytest.fixture(scope="module")
async def booking(infra):
    # Every racing call must reach the database: admit them all (the default bound would shed some).
    async with running_booking(infra, "booking_race", {"PEONY_MAX_INFLIGHT_RPCS": str(CLIENTS)}) as server:
        await put_store_zone(server.uows, TENANT, STORE, TZ)
        await register_members(server.engine, TENANT, *MEMBERS)
        await create_service(
            server.stub,
            md(),
            "facial",
            display_name="Facial",
            category="face",
            duration_minutes=25,
            buffer_after_minutes=5,
            list_price_minor=28_800,
            currency_code="CNY",
            requirements=catalog_pb2.ResourceRequirements(skill="facial", room_type="bed"),
        )
        await create_staff(
            server.stub,
            md(),
            STORE,
            "anna",
            display_name="Anna",
            skills=["facial"],
            weekly_hours=weekly("09:00", "21:00"),
        )
        await server.stub.CreateRoom(
            pb.CreateRoomRequest(
                parent=f"stores/{STORE}",
                room=resources_pb2.Room(display_name="Bed 1", room_type="bed", capacity=1),
                room_id="bed-1",
                request_id=rid(),
            ),
            metadata=md(),
        )
        yield server.stub, server.engine


def book(start: datetime, *, services=("services/facial",), staff: str = STAFF) -> pb.BookAppointmentRequest:
    return pb.BookAppointmentRequest(
        member=f"members/{next(_fresh_members)}",
        store=f"stores/{STORE}",
        services=list(services),
        start_time=stamp(start),
        preferred_staff=staff,
        channel=appointments_pb2.BOOKING_CHANNEL_STORE,
        request_id=str(uuid.uuid4()),
    )


async def overlaps(engine) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT count(*) FROM appointment_resources a JOIN appointment_resources b"
                    " ON a.tenant_id = b.tenant_id AND a.resource_id = b.resource_id AND a.seat = b.seat"
                    " AND a.id < b.id AND a.during && b.during WHERE a.active AND b.active"
                )
            )
        ).scalar_one()


async def test_concurrent_clients_get_exactly_one_winner_per_slot(booking):
    stub, engine = booking
    day = datetime.now(ZONE).date() + timedelta(days=2)
    # 20 back-to-back 30-minute blocks (25 min + 5 min cleaning) from 10:00, each wanted by 5
    # clients at once, all for the same staff member and the store's only bed.
    starts = [local_instant(day, 10) + timedelta(minutes=30 * i) for i in range(SLOTS)]
    requests = [book(starts[k % SLOTS]) for k in range(CLIENTS)]
    before = await booked_rows(engine)

    async def attempt(request):
        try:
            return await stub.BookAppointment(request, metadata=md(), timeout=60)
        except grpc.aio.AioRpcError as err:
            return err

    results = await asyncio.gather(*(attempt(r) for r in requests))
    winners = [
        (req, res) for req, res in zip(requests, results, strict=True) if not isinstance(res, Exception)
    ]
    losers = [res for res in results if isinstance(res, Exception)]
    assert Counter(req.start_time.ToDatetime(tzinfo=UTC) for req, _ in winners) == Counter(
        {s: 1 for s in starts}
    )
    assert len(losers) == CLIENTS - SLOTS
    for err in losers:
        assert err.code() == grpc.StatusCode.ABORTED, err
        assert reason_of(err) == "SLOT_TAKEN"
    for _, res in winners:
        a = res.appointment
        assert a.state == appointments_pb2.APPOINTMENT_STATE_BOOKED
        assert a.services[0].staff == STAFF and a.services[0].room == f"stores/{STORE}/rooms/bed-1"
    assert await overlaps(engine) == 0
    # Losers wrote nothing: one appointment and two reservations (staff, bed) per winner.
    assert await booked_rows(engine) == (before[0] + SLOTS, before[1] + 2 * SLOTS)

    # Cancelling frees the slot for the next booking.
    victim = winners[0][1].appointment
    cancelled = await stub.CancelAppointment(
        pb.CancelAppointmentRequest(name=victim.name, request_id=str(uuid.uuid4())), metadata=md()
    )
    assert cancelled.appointment.state == appointments_pb2.APPOINTMENT_STATE_CANCELLED
    again = await stub.BookAppointment(book(victim.start_time.ToDatetime(tzinfo=UTC)), metadata=md())
    got = await stub.GetAppointment(pb.GetAppointmentRequest(name=again.appointment.name), metadata=md())
    assert got.appointment.state == appointments_pb2.APPOINTMENT_STATE_BOOKED
    assert await overlaps(engine) == 0


async def test_a_pool_of_rooms_is_shared_out_under_contention_without_errors(booking):
    """12 clients, each with their own staff member, want the same hour at a store with 6
    interchangeable suites, three rounds over: exactly 6 get a suite each round, the others get
    ABORTED SLOT_TAKEN — never INTERNAL, even though concurrent inserts into an exclusion
    constraint can deadlock each other (the loser of a deadlock moves on to the next suite)."""
    stub, engine = booking
    store, rooms, clients = "s2", 6, 12
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO store_zones (tenant_id, store_id, time_zone) VALUES (:t, :s, :z)"
                " ON CONFLICT DO NOTHING"
            ),
            {"t": TENANT, "s": store, "z": TZ},
        )
    await create_service(
        stub,
        md(),
        "spa",
        display_name="Spa",
        category="body",
        duration_minutes=50,
        buffer_after_minutes=10,
        list_price_minor=48_800,
        currency_code="CNY",
        requirements=catalog_pb2.ResourceRequirements(skill="spa", room_type="suite"),
    )
    for i in range(clients):
        await create_staff(
            stub,
            md(),
            store,
            f"t{i:02d}",
            display_name=f"T{i}",
            skills=["spa"],
            weekly_hours=weekly("09:00", "21:00"),
        )
    for i in range(rooms):
        await stub.CreateRoom(
            pb.CreateRoomRequest(
                parent=f"stores/{store}",
                room=resources_pb2.Room(display_name=f"Suite {i}", room_type="suite", capacity=1),
                room_id=f"suite-{i}",
                request_id=rid(),
            ),
            metadata=md(),
        )
    day = datetime.now(ZONE).date() + timedelta(days=4)
    for hour in (10, 12, 14):
        requests = [
            pb.BookAppointmentRequest(
                member=f"members/{next(_fresh_members)}",
                store=f"stores/{store}",
                services=["services/spa"],
                start_time=stamp(local_instant(day, hour)),
                preferred_staff=f"stores/{store}/staff/t{i:02d}",
                channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                request_id=str(uuid.uuid4()),
            )
            for i in range(clients)
        ]

        async def attempt(request):
            try:
                return await stub.BookAppointment(request, metadata=md(), timeout=60)
            except grpc.aio.AioRpcError as err:
                return err

        results = await asyncio.gather(*(attempt(r) for r in requests))
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == rooms, [(e.code(), e.details()) for e in lost]
        assert {w.appointment.services[0].room for w in won} == {
            f"stores/{store}/rooms/suite-{i}" for i in range(rooms)
        }
        assert {(e.code(), reason_of(e)) for e in lost} == {(grpc.StatusCode.ABORTED, "SLOT_TAKEN")}
    assert await overlaps(engine) == 0


async def test_availability_leaves_out_taken_slots(booking):
    stub, _ = booking
    day = datetime.now(ZONE).date() + timedelta(days=3)
    taken = local_instant(day, 12)
    await stub.BookAppointment(book(taken), metadata=md())
    reply = await stub.QueryAvailability(
        pb.QueryAvailabilityRequest(
            store=f"stores/{STORE}",
            start_date=day.isoformat(),
            end_date=day.isoformat(),
            services=["services/facial"],
            preferred_staff=STAFF,
            page_size=1000,
        ),
        metadata=md(),
    )
    offered = {s.start_time.ToDatetime(tzinfo=UTC) for s in reply.slots}
    assert reply.time_zone == TZ
    assert local_instant(day, 9) in offered and local_instant(day, 20, 30) in offered
    assert taken not in offered and local_instant(day, 11, 45) not in offered
    assert local_instant(day, 12, 30) in offered


@pytest.mark.parametrize(
    ("make", "code", "reason"),
    [
        (
            lambda day: book(local_instant(day, 10), services=("services/nope",)),
            grpc.StatusCode.NOT_FOUND,
            "SERVICE_NOT_FOUND",
        ),
        (
            lambda day: book(local_instant(day, 10), staff=f"stores/{STORE}/staff/ghost"),
            grpc.StatusCode.NOT_FOUND,
            "STAFF_NOT_FOUND",
        ),
        (
            lambda day: book(datetime.now(UTC) - timedelta(hours=1)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SLOT_IN_PAST",
        ),
        (
            lambda day: book(local_instant(day, 20, 45)),  # runs past 21:00
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTSIDE_WORKING_HOURS",
        ),
        (
            lambda day: book(local_instant(day, 7)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTSIDE_WORKING_HOURS",
        ),
    ],
)
async def test_bad_bookings_are_refused_and_write_nothing(booking, make, code, reason):
    stub, engine = booking
    day = datetime.now(ZONE).date() + timedelta(days=4)
    before = await booked_rows(engine)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.BookAppointment(make(day), metadata=md())
    assert info.value.code() == code
    assert reason_of(info.value) == reason
    assert await booked_rows(engine) == before
