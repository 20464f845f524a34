"""BookAppointment written whole by one database call (`apply_booking`, migration 0012): the
appointment, its reservations and reminders, the member's cap, the outbox event and the idempotency
record. The response, the event and the recorded replay are built before the call for the outcome
the plan expects (every claim's first candidate); when the database decides otherwise the plan is
stale and re-planned, never applied with a response that disagrees with the rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from peony.booking.v1 import appointments_pb2, catalog_pb2, events_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from kit.messaging.envelope import EventEnvelope, unpack
from tests.support.booking import (
    create_service,
    create_staff,
    local_instant,
    put_store_zone,
    register_members,
    rows,
    running_booking,
    scalar,
    stamp,
    weekly,
)
from tests.support.booking import md as tenant_md

pytestmark = pytest.mark.integration
TENANT = "booking-one-call"
STORE = "s1"
ZONE = ZoneInfo("Asia/Shanghai")
ANNA, BOB = f"stores/{STORE}/staff/anna", f"stores/{STORE}/staff/bob"
MEMBERS = [str(uuid.uuid4()) for _ in range(8)]


def md():
    return tenant_md(TENANT)


@pytest.fixture(scope="module")
async def booking(infra):
    async with running_booking(infra, "booking_one_call") as server:
        await put_store_zone(server.uows, TENANT, STORE, "Asia/Shanghai")
        await register_members(server.engine, TENANT, *MEMBERS)
        await create_service(
            server.stub,
            md(),
            "facial",
            display_name="Facial",
            category="face",
            duration_minutes=45,
            list_price_minor=28_800,
            currency_code="CNY",
            requirements=catalog_pb2.ResourceRequirements(skill="facial"),
        )
        for name in ("anna", "bob"):  # candidates in name order: anna first
            await create_staff(
                server.stub,
                md(),
                STORE,
                name,
                display_name=name.title(),
                skills=["facial"],
                weekly_hours=weekly("09:00", "21:00"),
            )
        yield server


@contextmanager
def statements_on(database: str) -> Iterator[list[str]]:
    """The SQL statements the booking server sends to `database` meanwhile (in this process)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.engine.url.database == database:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def book(member: str, start: datetime, *, staff: str = "") -> pb.BookAppointmentRequest:
    return pb.BookAppointmentRequest(
        member=f"members/{member}",
        store=f"stores/{STORE}",
        services=["services/facial"],
        start_time=stamp(start),
        preferred_staff=staff,
        channel=appointments_pb2.BOOKING_CHANNEL_STORE,
        request_id=str(uuid.uuid4()),
    )


async def booked_events(server, appointment_id: str) -> list[events_pb2.AppointmentBooked]:
    found = await rows(
        server.engine,
        "SELECT payload FROM outbox WHERE tenant_id = :t AND aggregate_id = :a ORDER BY seq",
        t=TENANT,
        a=appointment_id,
    )
    return [unpack(EventEnvelope.FromString(bytes(r.payload)), events_pb2.AppointmentBooked) for r in found]


async def the_same_everywhere(server, request, response) -> None:
    """What the caller got is what the database holds, the replay and the event say."""
    appointment = response.appointment
    got = await server.stub.GetAppointment(pb.GetAppointmentRequest(name=appointment.name), metadata=md())
    assert got.appointment == appointment
    replay = await server.stub.BookAppointment(request, metadata=md())
    assert replay == response
    (booked,) = await booked_events(server, appointment.name.split("/")[1])
    assert [s.staff for s in booked.services] == [s.staff for s in appointment.services]
    assert (booked.appointment, booked.start_time, booked.local_start) == (
        appointment.name,
        appointment.start_time,
        appointment.local_start,
    )


async def test_a_booking_is_written_whole_by_one_database_call(booking):
    day = datetime.now(ZONE).date() + timedelta(days=2)
    request = book(MEMBERS[0], local_instant(day, 10), staff=ANNA)
    database = booking.engine.url.database
    with statements_on(database) as sent:
        response = await booking.stub.BookAppointment(request, metadata=md())
    assert response.appointment.services[0].staff == ANNA
    applied = [s for s in sent if "apply_booking" in s]
    assert len(applied) == 1
    # the event and the idempotency record went with it: no statement of their own
    assert not [s for s in sent if "INSERT INTO outbox" in s or "INSERT INTO idempotency_keys" in s], sent
    assert not [s for s in sent if "pg_notify" in s and "apply_booking" not in s], sent
    await the_same_everywhere(booking, request, response)


async def test_a_stale_plan_is_re_planned_not_misapplied(booking):
    """Anna (the first candidate) is taken at 14:00: a booking naming no staff is planned for her,
    the database seats Bob instead, finds the plan stale, and the re-planned run books Bob with a
    response, an event and a replay that all say Bob."""
    day = datetime.now(ZONE).date() + timedelta(days=3)
    at = local_instant(day, 14)
    await booking.stub.BookAppointment(book(MEMBERS[1], at, staff=ANNA), metadata=md())
    request = book(MEMBERS[2], at)
    with statements_on(booking.engine.url.database) as sent:
        response = await booking.stub.BookAppointment(request, metadata=md())
    assert response.appointment.services[0].staff == BOB
    assert len([s for s in sent if "apply_booking" in s]) == 2  # planned for Anna, then re-planned
    await the_same_everywhere(booking, request, response)
    # one appointment for the member, one reservation for Bob (the stale run wrote nothing)
    member_rows = "SELECT count(*) FROM appointments WHERE tenant_id = :t AND member_id = :m"
    assert await scalar(booking.engine, member_rows, t=TENANT, m=MEMBERS[2]) == 1


async def test_a_booking_planned_from_an_outdated_configuration_is_re_planned(booking):
    """The policy, zones and services are kept in process; another replica (here: SQL) changing
    the service makes the next booking planned from the kept copy stale, and the re-planned booking
    carries the new price."""
    day = datetime.now(ZONE).date() + timedelta(days=4)
    first = await booking.stub.BookAppointment(
        book(MEMBERS[3], local_instant(day, 10), staff=ANNA), metadata=md()
    )
    assert first.appointment.list_price_minor == 28_800
    async with booking.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE services SET list_price_minor = 30000 WHERE tenant_id = :t AND service_id = 'facial'"
            ),
            {"t": TENANT},
        )
    request = book(MEMBERS[4], local_instant(day, 12), staff=ANNA)
    with statements_on(booking.engine.url.database) as sent:
        response = await booking.stub.BookAppointment(request, metadata=md())
    assert response.appointment.list_price_minor == 30_000
    assert len([s for s in sent if "apply_booking" in s]) == 2  # planned from the copy, re-planned
    await the_same_everywhere(booking, request, response)
    # the next one plans from the refreshed copy again: one call
    with statements_on(booking.engine.url.database) as sent:
        again = await booking.stub.BookAppointment(
            book(MEMBERS[5], local_instant(day, 14), staff=ANNA), metadata=md()
        )
    assert again.appointment.list_price_minor == 30_000
    assert len([s for s in sent if "apply_booking" in s]) == 1
