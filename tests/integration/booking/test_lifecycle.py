"""The appointment lifecycle over real gRPC and PostgreSQL: reschedule (atomic: a taken slot
leaves the appointment as it was), cancel with the late-cancel policy, check-in, completion,
no-shows, listing and notes; who may do what; the events written to the outbox; and the booking
features of the lifecycle area (lead time, explicit assignments, policy reminders, booked_by).

One database and one in-process server for the module; every test uses a tenant of its own.
Time-boundary cases the RPCs cannot reach with the real clock are driven through the service layer
with an explicit `now`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.booking.v1 import appointments_pb2, availability_pb2, events_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import text

from kit.errors import FailedPrecondition
from kit.messaging import EventEnvelope
from kit.messaging.envelope import unpack
from services.booking.service_layer import appointments as appts
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.support.booking import error_info, md, member_md, register_members, rows, running_booking, stamp
from tests.support.booking import instant as at

pytestmark = pytest.mark.integration
# Stores in zones 6-7 hours apart: at any instant one of them is in its working day (see `store_at`).
STORES = {"sh": "Asia/Shanghai", "be": "Europe/Berlin", "ny": "America/New_York"}
ALL_DAY = [{"day": d, "start": "00:00", "end": "23:59"} for d in range(1, 8)]
S = appointments_pb2
BOOKED, CHECKED_IN, COMPLETED = (
    S.APPOINTMENT_STATE_BOOKED,
    S.APPOINTMENT_STATE_CHECKED_IN,
    S.APPOINTMENT_STATE_COMPLETED,
)
CANCELLED, NO_SHOW = S.APPOINTMENT_STATE_CANCELLED, S.APPOINTMENT_STATE_NO_SHOW


def desk_md(tenant: str, store: str = "sh"):
    return md(tenant, ("front_desk",), subject="user:desk", stores=[f"stores/{store}"])


def error_of(err: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    reason, _, fields = error_info(err)
    return err.code(), reason, fields


def local(store: str, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), ZoneInfo(STORES[store])).astimezone(UTC)


def ahead(days: int, store: str = "sh") -> date:
    return datetime.now(ZoneInfo(STORES[store])).date() + timedelta(days=days)


def store_at(instant: datetime, hours: float = 2) -> str:
    """A store whose local time stays within 01:00-22:00 from `instant` for `hours`."""
    for store, tz in STORES.items():
        first, last = (
            instant.astimezone(ZoneInfo(tz)),
            (instant + timedelta(hours=hours)).astimezone(ZoneInfo(tz)),
        )
        if first.date() == last.date() and first.hour >= 1 and last.hour < 22:
            return store
    raise AssertionError("no store in its working day")


def whole_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


class Env:
    def __init__(self, stub, engine, uows):
        self.stub, self.engine, self.uows = stub, engine, uows

    async def tenant(self) -> str:
        """A new tenant: stores sh/be/ny each with staff anna, bob (both skilled) and one bed;
        services cut (30 min) and facial (50 min + 10 min cleaning, on a bed)."""
        tenant = f"lc-{uuid.uuid4().hex[:10]}"

        async def go(uow: BookingUnitOfWork) -> None:
            await uow.catalog.add_service(
                service_id="cut",
                display_name="Cut",
                duration_minutes=30,
                list_price_minor=10_000,
                currency_code="CNY",
            )
            await uow.catalog.add_service(
                service_id="facial",
                display_name="Facial",
                duration_minutes=50,
                buffer_after_minutes=10,
                skill="facial",
                room_type="bed",
                list_price_minor=28_800,
                currency_code="CNY",
            )
            for store, tz in STORES.items():
                await uow.catalog.put_store_zone(store, tz)
                for staff in ("anna", "bob"):
                    await uow.catalog.add_staff(
                        store_id=store,
                        staff_id=staff,
                        display_name=staff,
                        skills=["facial"],
                        weekly_hours=ALL_DAY,
                    )
                await uow.catalog.add_room(
                    store_id=store, room_id="bed-1", display_name="Bed", room_type="bed"
                )

        await self.uows.run(tenant, go)
        return tenant

    async def book(
        self,
        tenant: str,
        start: datetime,
        *,
        store: str = "sh",
        member: str | None = None,
        staff: str = "",
        services=("services/cut",),
        metadata=None,
        **extra,
    ) -> S.Appointment:
        member = member or str(uuid.uuid4())
        await register_members(self.engine, tenant, member)
        reply = await self.stub.BookAppointment(
            pb.BookAppointmentRequest(
                member=f"members/{member}",
                store=f"stores/{store}",
                services=list(services),
                start_time=stamp(start),
                preferred_staff=f"stores/{store}/staff/{staff}" if staff else "",
                channel=extra.pop("channel", S.BOOKING_CHANNEL_STORE),
                request_id=str(uuid.uuid4()),
                **extra,
            ),
            metadata=metadata or md(tenant),
        )
        return reply.appointment

    async def book_started(
        self, tenant: str, *, minutes_ago: int = 60, member: str | None = None
    ) -> S.Appointment:
        """An appointment that started `minutes_ago` (booked earlier, through the service layer)."""
        start = whole_minute(datetime.now(UTC)) - timedelta(minutes=minutes_ago)
        store = store_at(start, 2)
        member = member or str(uuid.uuid4())
        await register_members(self.engine, tenant, member)

        async def go(uow: BookingUnitOfWork) -> dict:
            return await appts.book_appointment(
                uow,
                member=member,
                store=store,
                service_ids=["cut"],
                staff=None,
                start_utc=start,
                channel=S.BOOKING_CHANNEL_STORE,
                now=start - timedelta(days=1),
            )

        row = await self.uows.run(tenant, go)
        return await self.get(tenant, f"appointments/{row['appointment_id']}")

    async def get(self, tenant: str, name: str) -> S.Appointment:
        return (
            await self.stub.GetAppointment(pb.GetAppointmentRequest(name=name), metadata=md(tenant))
        ).appointment

    async def refused(self, call, request, metadata) -> tuple[grpc.StatusCode, str, list[str]]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(request, metadata=metadata)
        return error_of(info.value)

    async def sql(self, query: str, **params) -> list:
        return await rows(self.engine, query, **params)

    async def sql_write(self, query: str, **params) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(query), params)

    async def events(self, tenant: str, event_type: str, name: str | None = None) -> list:
        cls = getattr(events_pb2, event_type)
        rows = await self.sql(
            "SELECT aggregate_id, payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq",
            t=tenant,
            e=f"peony.booking.v1.{event_type}",
        )
        return [
            unpack(EventEnvelope.FromString(payload), cls)
            for aggregate_id, payload in rows
            if name is None or f"appointments/{aggregate_id}" == name
        ]

    async def snapshot(self, tenant: str, name: str) -> tuple:
        """Everything a refused request must leave as it was. A reminder's firing (its state and
        its `ReminderDue`) is left out: the server's own reminder job may fire a due one at any
        moment (a CI run saw it between two snapshots of an appointment that had started)."""
        aid = name.removeprefix("appointments/")
        return (
            await self.sql("SELECT * FROM appointments WHERE appointment_id = :a", a=aid),
            await self.sql(
                "SELECT resource_id, seat, during, active FROM appointment_resources"
                " WHERE appointment_id = :a ORDER BY id",
                a=aid,
            ),
            await self.sql(
                "SELECT generation, kind, state <> 'cancelled' FROM scheduled_reminders"
                " WHERE appointment_id = :a ORDER BY 1, 2",
                a=aid,
            ),
            await self.sql(
                "SELECT count(*) FROM outbox"
                " WHERE tenant_id = :t AND event_type <> 'peony.booking.v1.ReminderDue'",
                t=tenant,
            ),
        )


@pytest.fixture(scope="module")
async def env(infra):
    async with running_booking(infra, "booking_lifecycle") as server:
        yield Env(server.stub, server.engine, server.uows)


# --- reschedule --------------------------------------------------------------------------------------
async def test_reschedule_is_atomic_and_moves_reminders(env):
    tenant = await env.tenant()
    day = ahead(3)
    a = await env.book(tenant, local("sh", day, 10), staff="anna", services=("services/facial",))
    b = await env.book(tenant, local("sh", day, 12), staff="anna", services=("services/facial",))
    before = await env.snapshot(tenant, a.name)

    # 11:30 overlaps b on anna and the only bed: SLOT_TAKEN, and a is exactly as it was
    code, reason, _ = await env.refused(
        env.stub.RescheduleAppointment,
        pb.RescheduleAppointmentRequest(
            name=a.name,
            start_time=stamp(local("sh", day, 11, 30)),
            preferred_staff="stores/sh/staff/anna",
            request_id=str(uuid.uuid4()),
        ),
        md(tenant),
    )
    assert (code, reason) == (grpc.StatusCode.ABORTED, "SLOT_TAKEN")
    assert await env.snapshot(tenant, a.name) == before

    # 10:30 overlaps a's own old block: fine, the old reservation is released first
    moved = (
        await env.stub.RescheduleAppointment(
            pb.RescheduleAppointmentRequest(
                name=a.name, start_time=stamp(local("sh", day, 10, 30)), request_id=str(uuid.uuid4())
            ),
            metadata=md(tenant),
        )
    ).appointment
    assert at(moved.start_time) == local("sh", day, 10, 30)
    assert at(moved.end_time) == local("sh", day, 11, 20)
    assert moved.local_start == f"{day.isoformat()}T10:30"
    assert moved.reschedule_count == 1 and moved.state == BOOKED
    assert moved.services[0].staff == "stores/sh/staff/anna"  # kept the current staff member
    assert moved.services[0].room == "stores/sh/rooms/bed-1"
    assert at(moved.services[0].reserved_end_time) == local("sh", day, 11, 30)
    assert sorted((r.minutes_before, at(r.due_time), r.state) for r in moved.reminders) == [
        (120, local("sh", day, 8, 30), S.REMINDER_STATE_SCHEDULED),
        (1440, local("sh", day, 10, 30) - timedelta(days=1), S.REMINDER_STATE_SCHEDULED),
    ]
    aid = a.name.removeprefix("appointments/")
    assert await env.sql(
        "SELECT generation, kind, state FROM scheduled_reminders WHERE appointment_id = :a ORDER BY 1, 2",
        a=aid,
    ) == [
        (0, "120m", "cancelled"),
        (0, "1440m", "cancelled"),
        (1, "120m", "scheduled"),
        (1, "1440m", "scheduled"),
    ]
    reservations = await env.sql(
        "SELECT active, lower(during), upper(during) FROM appointment_resources WHERE appointment_id = :a"
        " ORDER BY id",
        a=aid,
    )
    assert [r[0] for r in reservations] == [False, False, True, True]
    assert {(r[1], r[2]) for r in reservations if r[0]} == {
        (local("sh", day, 10, 30), local("sh", day, 11, 30))
    }

    (event,) = await env.events(tenant, "AppointmentRescheduled", a.name)
    assert at(event.previous_start_time) == local("sh", day, 10)
    assert event.previous_local_start == f"{day.isoformat()}T10:00"
    assert at(event.start_time) == local("sh", day, 10, 30) and event.local_start == moved.local_start
    assert event.actor == S.ACTOR_STAFF and event.services[0].staff == "stores/sh/staff/anna"

    # the freed 09:00-10:00 of the bed can be booked again; b was never touched
    await env.book(tenant, local("sh", day, 9, 25), staff="bob", services=("services/facial",))
    assert (await env.get(tenant, b.name)).reschedule_count == 0


async def test_reschedule_keeps_the_current_staff_and_honours_assignments(env):
    tenant = await env.tenant()
    day = ahead(3)
    a = await env.book(tenant, local("sh", day, 10), staff="bob")
    moved = (
        await env.stub.RescheduleAppointment(
            pb.RescheduleAppointmentRequest(
                name=a.name, start_time=stamp(local("sh", day, 14)), request_id=str(uuid.uuid4())
            ),
            metadata=md(tenant),
        )
    ).appointment
    assert moved.services[0].staff == "stores/sh/staff/bob"  # not anna, the first by id
    moved = (
        await env.stub.RescheduleAppointment(
            pb.RescheduleAppointmentRequest(
                name=a.name,
                start_time=stamp(local("sh", day, 15)),
                assignments=[
                    availability_pb2.SlotAssignment(service="services/cut", staff="stores/sh/staff/anna")
                ],
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(tenant),
        )
    ).appointment
    assert moved.services[0].staff == "stores/sh/staff/anna" and moved.reschedule_count == 2
    # an assignment for another service than the appointment's is refused, nothing written
    before = await env.snapshot(tenant, a.name)
    code, _, fields = await env.refused(
        env.stub.RescheduleAppointment,
        pb.RescheduleAppointmentRequest(
            name=a.name,
            start_time=stamp(local("sh", day, 16)),
            assignments=[
                availability_pb2.SlotAssignment(service="services/facial", staff="stores/sh/staff/anna")
            ],
            request_id=str(uuid.uuid4()),
        ),
        md(tenant),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["assignments"]
    assert await env.snapshot(tenant, a.name) == before


async def test_reschedule_at_the_cap_moves_rather_than_adds(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    day = ahead(2)
    booked = [await env.book(tenant, local("sh", day, 9 + i), member=member) for i in range(3)]  # the cap (3)
    code, reason, _ = await env.refused(
        env.stub.BookAppointment,
        pb.BookAppointmentRequest(
            member=f"members/{member}",
            store="stores/sh",
            services=["services/cut"],
            start_time=stamp(local("sh", day, 15)),
            channel=S.BOOKING_CHANNEL_STORE,
            request_id=str(uuid.uuid4()),
        ),
        md(tenant),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TOO_MANY_OPEN_APPOINTMENTS")
    moved = (
        await env.stub.RescheduleAppointment(
            pb.RescheduleAppointmentRequest(
                name=booked[0].name, start_time=stamp(local("sh", day, 15)), request_id=str(uuid.uuid4())
            ),
            metadata=member_md(tenant, member),
        )
    ).appointment
    assert moved.reschedule_count == 1
    (event,) = await env.events(tenant, "AppointmentRescheduled", booked[0].name)
    assert event.actor == S.ACTOR_MEMBER


async def test_reschedule_rules_for_members_and_states(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    soon = whole_minute(datetime.now(UTC)) + timedelta(hours=3)
    store = store_at(soon, 1)
    a = await env.book(tenant, soon, store=store, member=member)  # inside the 4 h free-change window
    later = soon + timedelta(hours=1)
    request = pb.RescheduleAppointmentRequest(
        name=a.name, start_time=stamp(later), request_id=str(uuid.uuid4())
    )
    before = await env.snapshot(tenant, a.name)
    assert (await env.refused(env.stub.RescheduleAppointment, request, member_md(tenant, member)))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CHANGE_CUTOFF_PASSED",
    )
    # someone else's appointment
    assert (await env.refused(env.stub.RescheduleAppointment, request, member_md(tenant, "other")))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    # store-bound staff of another store
    other_store = next(s for s in STORES if s != store)
    assert (await env.refused(env.stub.RescheduleAppointment, request, desk_md(tenant, other_store)))[:2] == (
        grpc.StatusCode.PERMISSION_DENIED,
        "STORE_OUT_OF_SCOPE",
    )
    # a start in the past, for staff too
    past = pb.RescheduleAppointmentRequest(
        name=a.name, start_time=stamp(datetime.now(UTC) - timedelta(hours=1)), request_id=str(uuid.uuid4())
    )
    assert (await env.refused(env.stub.RescheduleAppointment, past, md(tenant)))[1] == "SLOT_IN_PAST"
    assert await env.snapshot(tenant, a.name) == before
    # staff may move it until it starts
    moved = (await env.stub.RescheduleAppointment(request, metadata=desk_md(tenant, store))).appointment
    assert at(moved.start_time) == later

    await env.stub.CancelAppointment(
        pb.CancelAppointmentRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md(tenant)
    )
    again = pb.RescheduleAppointmentRequest(
        name=a.name, start_time=stamp(later), request_id=str(uuid.uuid4())
    )
    code, reason, _ = await env.refused(env.stub.RescheduleAppointment, again, md(tenant))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_APPOINTMENT_STATE")


# --- cancel -----------------------------------------------------------------------------------------
async def test_cancel_free_late_waived_and_by_whom(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    free = await env.book(tenant, local("sh", ahead(2), 10), member=member)
    cancelled = (
        await env.stub.CancelAppointment(
            pb.CancelAppointmentRequest(name=free.name, reason="ill", request_id=str(uuid.uuid4())),
            metadata=member_md(tenant, member),
        )
    ).appointment
    assert cancelled.state == CANCELLED and not cancelled.late_cancel and not cancelled.late_cancel_waived
    assert cancelled.cancelled_by == S.ACTOR_MEMBER and cancelled.cancel_reason == "ill"
    assert cancelled.HasField("cancel_time")
    assert {r.state for r in cancelled.reminders} == {S.REMINDER_STATE_CANCELLED}
    (event,) = await env.events(tenant, "AppointmentCancelled", free.name)
    assert (event.late_cancel, event.cancelled_by, list(event.staff)) == (
        False,
        S.ACTOR_MEMBER,
        ["stores/sh/staff/anna"],
    )
    assert await env.sql(
        "SELECT count(*) FROM appointment_resources WHERE appointment_id = :a AND active",
        a=free.name.removeprefix("appointments/"),
    ) == [(0,)]
    # twice: the state is wrong now
    code, reason, _ = await env.refused(
        env.stub.CancelAppointment,
        pb.CancelAppointmentRequest(name=free.name, request_id=str(uuid.uuid4())),
        member_md(tenant, member),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_APPOINTMENT_STATE")

    soon = whole_minute(datetime.now(UTC)) + timedelta(hours=2)
    store = store_at(soon, 1)
    late = await env.book(tenant, soon, store=store, member=member)
    # a member may not waive: refused before anything is written
    before = await env.snapshot(tenant, late.name)
    code, _, _ = await env.refused(
        env.stub.CancelAppointment,
        pb.CancelAppointmentRequest(name=late.name, waive_late_cancel=True, request_id=str(uuid.uuid4())),
        member_md(tenant, member),
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert await env.snapshot(tenant, late.name) == before
    cancelled = (
        await env.stub.CancelAppointment(
            pb.CancelAppointmentRequest(name=late.name, request_id=str(uuid.uuid4())),
            metadata=member_md(tenant, member),
        )
    ).appointment
    assert cancelled.late_cancel and not cancelled.late_cancel_waived
    (event,) = await env.events(tenant, "AppointmentCancelled", late.name)
    assert event.late_cancel and event.cancelled_by == S.ACTOR_MEMBER

    waived = await env.book(tenant, soon + timedelta(minutes=30), store=store, member=member)
    cancelled = (
        await env.stub.CancelAppointment(
            pb.CancelAppointmentRequest(
                name=waived.name, waive_late_cancel=True, request_id=str(uuid.uuid4())
            ),
            metadata=desk_md(tenant, store),
        )
    ).appointment
    assert (cancelled.late_cancel, cancelled.late_cancel_waived, cancelled.cancelled_by) == (
        False,
        True,
        S.ACTOR_STAFF,
    )
    (event,) = await env.events(tenant, "AppointmentCancelled", waived.name)
    assert not event.late_cancel and event.cancelled_by == S.ACTOR_STAFF


async def test_cancel_after_the_start_is_staff_only_and_late(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    started = await env.book_started(tenant, minutes_ago=10, member=member)
    before = await env.snapshot(tenant, started.name)
    request = pb.CancelAppointmentRequest(name=started.name, request_id=str(uuid.uuid4()))
    assert (await env.refused(env.stub.CancelAppointment, request, member_md(tenant, member)))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SLOT_IN_PAST",
    )
    assert await env.snapshot(tenant, started.name) == before
    cancelled = (await env.stub.CancelAppointment(request, metadata=md(tenant))).appointment
    assert cancelled.state == CANCELLED and cancelled.late_cancel
    # a retry with the same request id replays the answer and writes no second event
    again = (await env.stub.CancelAppointment(request, metadata=md(tenant))).appointment
    assert again == cancelled
    assert len(await env.events(tenant, "AppointmentCancelled", started.name)) == 1


# --- check-in, completion, no-show ----------------------------------------------------------------
async def test_too_early_transitions_are_refused_and_write_nothing(env):
    tenant = await env.tenant()
    future = await env.book(tenant, local("sh", ahead(2), 10))
    before = await env.snapshot(tenant, future.name)
    for call, request, reason in (
        (env.stub.CheckInAppointment, pb.CheckInAppointmentRequest, "TOO_EARLY_TO_CHECK_IN"),
        (env.stub.CompleteAppointment, pb.CompleteAppointmentRequest, "NOT_STARTED"),
        (env.stub.MarkNoShow, pb.MarkNoShowRequest, "NO_SHOW_TOO_EARLY"),
    ):
        code, got, _ = await env.refused(
            call, request(name=future.name, request_id=str(uuid.uuid4())), md(tenant)
        )
        assert (code, got) == (grpc.StatusCode.FAILED_PRECONDITION, reason)
    assert await env.snapshot(tenant, future.name) == before
    # front-desk work is staff only, and within the caller's stores
    member = future.member.removeprefix("members/")
    for metadata, reason in (
        (member_md(tenant, member), "MISSING_PERMISSION"),
        (desk_md(tenant, "ny"), "STORE_OUT_OF_SCOPE"),
    ):
        code, got, _ = await env.refused(
            env.stub.CheckInAppointment,
            pb.CheckInAppointmentRequest(name=future.name, request_id=str(uuid.uuid4())),
            metadata,
        )
        assert (code, got) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    code, got, _ = await env.refused(
        env.stub.MarkNoShow,
        pb.MarkNoShowRequest(name=f"appointments/{uuid.uuid4()}", request_id=str(uuid.uuid4())),
        md(tenant),
    )
    assert (code, got) == (grpc.StatusCode.NOT_FOUND, "APPOINTMENT_NOT_FOUND")


async def test_check_in_then_complete(env):
    tenant = await env.tenant()
    a = await env.book_started(tenant, minutes_ago=5)
    checked = (
        await env.stub.CheckInAppointment(
            pb.CheckInAppointmentRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md(tenant)
        )
    ).appointment
    assert checked.state == CHECKED_IN and checked.HasField("check_in_time")
    (event,) = await env.events(tenant, "AppointmentCheckedIn", a.name)
    assert event.check_in_time == checked.check_in_time and event.start_time == a.start_time
    # checked in: no cancelling, no no-show, no second check-in
    for call, request in (
        (env.stub.CancelAppointment, pb.CancelAppointmentRequest),
        (env.stub.MarkNoShow, pb.MarkNoShowRequest),
        (env.stub.CheckInAppointment, pb.CheckInAppointmentRequest),
    ):
        code, reason, _ = await env.refused(
            call, request(name=a.name, request_id=str(uuid.uuid4())), md(tenant)
        )
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_APPOINTMENT_STATE")

    reply = await env.stub.CompleteAppointment(
        pb.CompleteAppointmentRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md(tenant)
    )
    done = reply.appointment
    assert done.state == COMPLETED and done.check_in_time == checked.check_in_time
    assert done.HasField("complete_time") and not done.HasField("wallet_hold")
    (event,) = await env.events(tenant, "AppointmentCompleted", a.name)
    assert event.complete_time == done.complete_time and event.services[0].service == "services/cut"
    assert event.hold_state == S.APPOINTMENT_HOLD_STATE_UNSPECIFIED and not event.wallet_hold
    # the completed appointment keeps its reservation, for the record
    assert await env.sql(
        "SELECT count(*) FROM appointment_resources WHERE appointment_id = :a AND active",
        a=a.name.removeprefix("appointments/"),
    ) == [(1,)]
    code, reason, _ = await env.refused(
        env.stub.CompleteAppointment,
        pb.CompleteAppointmentRequest(name=a.name, request_id=str(uuid.uuid4())),
        md(tenant),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_APPOINTMENT_STATE")


async def test_complete_straight_from_booked_schedules_follow_ups(env):
    tenant = await env.tenant()
    await env.stub.CreateServicePlan(
        pb.CreateServicePlanRequest(
            service_plan=S.ServicePlan(
                display_name="Cut -> facial",
                trigger_service="services/cut",
                follow_up_service="services/facial",
                follow_up_after_days=7,
            ),
            service_plan_id="cut-facial",
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(tenant),
    )
    a = await env.book_started(tenant, minutes_ago=1)
    reply = await env.stub.CompleteAppointment(
        pb.CompleteAppointmentRequest(
            name=a.name, hold_settlement=S.HOLD_SETTLEMENT_CAPTURE, request_id=str(uuid.uuid4())
        ),
        metadata=md(tenant),
    )
    done = reply.appointment
    assert done.state == COMPLETED and done.check_in_time == done.complete_time
    (follow_up,) = reply.follow_ups
    assert follow_up.service_plan == "servicePlans/cut-facial" and follow_up.source_appointment == a.name
    (event,) = await env.events(tenant, "AppointmentCompleted", a.name)
    assert list(event.follow_ups) == [follow_up.name]

    # the wallet hold recorded on the appointment (by holds.py) is shown on it
    await env.sql_write(
        "UPDATE appointments SET hold = CAST(:h AS jsonb) WHERE appointment_id = :a",
        h='{"hold": "holds/h1", "amountMinor": "5000", "currencyCode": "CNY",'
        ' "state": "APPOINTMENT_HOLD_STATE_CAPTURED"}',
        a=a.name.removeprefix("appointments/"),
    )
    hold = (await env.get(tenant, a.name)).wallet_hold
    assert (hold.hold, hold.amount_minor, hold.state) == ("holds/h1", 5000, S.APPOINTMENT_HOLD_STATE_CAPTURED)


async def test_no_show_frees_the_time_and_counts(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    a = await env.book_started(tenant, minutes_ago=30, member=member)
    reply = await env.stub.MarkNoShow(
        pb.MarkNoShowRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md(tenant)
    )
    assert reply.appointment.state == NO_SHOW and reply.appointment.HasField("no_show_time")
    assert reply.booking_standing.no_shows_in_window == 1
    aid = a.name.removeprefix("appointments/")
    assert await env.sql(
        "SELECT count(*) FROM appointment_resources WHERE appointment_id = :a AND active", a=aid
    ) == [(0,)]
    assert await env.sql(
        "SELECT count(*) FROM scheduled_reminders WHERE appointment_id = :a AND state = 'scheduled'", a=aid
    ) == [(0,)]
    (event,) = await env.events(tenant, "AppointmentNoShow", a.name)
    assert event.member == f"members/{member}" and event.no_shows_in_window == 1
    assert event.start_time == a.start_time


async def test_time_boundaries_through_the_service_layer(env):
    """Check-in opens at the start of the store-local day; a no-show needs the grace period."""
    tenant = await env.tenant()
    a = await env.book(tenant, local("sh", ahead(2), 10))
    aid = a.name.removeprefix("appointments/")
    day_start = local("sh", ahead(2), 0)

    async def check_in(now: datetime):
        async def go(uow: BookingUnitOfWork):
            return await appts.check_in_appointment(uow, aid, now=now)

        return await env.uows.run(tenant, go)

    async def no_show(now: datetime):
        async def go(uow: BookingUnitOfWork):
            return await appts.mark_no_show(uow, aid, now=now)

        return await env.uows.run(tenant, go)

    with pytest.raises(FailedPrecondition) as info:
        await check_in(day_start - timedelta(minutes=1))
    assert info.value.reason == "TOO_EARLY_TO_CHECK_IN"
    start = at(a.start_time)
    with pytest.raises(FailedPrecondition) as info:
        await no_show(start + timedelta(minutes=14))
    assert info.value.reason == "NO_SHOW_TOO_EARLY"
    row, _ = await no_show(start + timedelta(minutes=15))
    assert row["state"] == appts.NO_SHOW

    b = await env.book(tenant, local("sh", ahead(2), 11))
    aid = b.name.removeprefix("appointments/")
    row = await check_in(day_start)
    assert row["state"] == appts.CHECKED_IN and row["check_in_time"] == day_start

    # a checked-in appointment not yet ended still counts towards the member's open appointments
    async def count(uow: BookingUnitOfWork) -> int:
        return await uow.appointments.count_open(b.member.removeprefix("members/"), day_start)

    assert await env.uows.run(tenant, count) == 1


# --- list and update --------------------------------------------------------------------------------
async def test_list_filters_pages_and_scopes(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    day = ahead(2)
    vip = {"staff_override": True, "override_reason": "regular"}  # past the cap of 3
    mine = [
        await env.book(tenant, local("sh", day, 9 + i), member=member, staff="anna", **vip) for i in range(4)
    ]
    other = await env.book(tenant, local("sh", day, 9), staff="bob")
    ny = await env.book(tenant, local("ny", ahead(2, "ny"), 10), store="ny", member=member, **vip)
    await env.stub.CancelAppointment(
        pb.CancelAppointmentRequest(name=mine[3].name, request_id=str(uuid.uuid4())), metadata=md(tenant)
    )

    async def names(metadata=None, **filters) -> list[str]:
        out, token = [], ""
        while True:
            reply = await env.stub.ListAppointments(
                pb.ListAppointmentsRequest(page_size=2, page_token=token, **filters),
                metadata=metadata or md(tenant),
            )
            out += [a.name for a in reply.appointments]
            token = reply.next_page_token
            if not token:
                return out

    every = await names()
    assert sorted(every) == sorted([a.name for a in mine] + [other.name, ny.name])
    starts = [at((await env.get(tenant, n)).start_time) for n in every]
    assert starts == sorted(starts)
    assert await names(member=f"members/{member}", store="stores/sh") == [a.name for a in mine]
    assert await names(staff="stores/sh/staff/bob") == [other.name]
    assert await names(member=f"members/{member}", states=[BOOKED], store="stores/sh") == [
        a.name for a in mine[:3]
    ]
    assert await names(
        store="stores/sh",
        staff="stores/sh/staff/anna",
        start_time_from=stamp(local("sh", day, 10)),
        start_time_to=stamp(local("sh", day, 12)),
    ) == [mine[1].name, mine[2].name]
    # a member sees only their own; store-bound staff only their stores'
    assert sorted(await names(member_md(tenant, member))) == sorted([a.name for a in mine] + [ny.name])
    assert await names(desk_md(tenant, "ny")) == [ny.name]
    code, reason, _ = await env.refused(
        env.stub.ListAppointments, pb.ListAppointmentsRequest(store="stores/sh"), desk_md(tenant, "ny")
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE")
    code, reason, _ = await env.refused(
        env.stub.ListAppointments,
        pb.ListAppointmentsRequest(
            start_time_from=stamp(local("sh", day, 12)), start_time_to=stamp(local("sh", day, 10))
        ),
        md(tenant),
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "END_BEFORE_START")
    # a token is bound to its query
    first = await env.stub.ListAppointments(pb.ListAppointmentsRequest(page_size=1), metadata=md(tenant))
    code, reason, _ = await env.refused(
        env.stub.ListAppointments,
        pb.ListAppointmentsRequest(page_size=1, page_token=first.next_page_token, store="stores/sh"),
        md(tenant),
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_update_changes_only_notes(env):
    tenant = await env.tenant()
    member = str(uuid.uuid4())
    a = await env.book(tenant, local("sh", ahead(2), 10), member=member, notes="first")
    events_before = await env.sql("SELECT count(*) FROM outbox WHERE tenant_id = :t", t=tenant)
    updated = (
        await env.stub.UpdateAppointment(
            pb.UpdateAppointmentRequest(
                appointment=S.Appointment(name=a.name, notes="prefers a quiet room"),
                request_id=str(uuid.uuid4()),
            ),
            metadata=member_md(tenant, member),
        )
    ).appointment
    assert updated.notes == "prefers a quiet room" and updated.start_time == a.start_time
    assert await env.sql("SELECT count(*) FROM outbox WHERE tenant_id = :t", t=tenant) == events_before
    before = await env.snapshot(tenant, a.name)
    code, _, fields = await env.refused(
        env.stub.UpdateAppointment,
        pb.UpdateAppointmentRequest(
            appointment=S.Appointment(name=a.name, notes="x", start_time=stamp(local("sh", ahead(2), 12))),
            update_mask=field_mask_pb2.FieldMask(paths=["notes", "start_time"]),
            request_id=str(uuid.uuid4()),
        ),
        md(tenant),
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["update_mask"])
    code, _, _ = await env.refused(
        env.stub.UpdateAppointment,
        pb.UpdateAppointmentRequest(
            appointment=S.Appointment(name=a.name, notes="x"), request_id=str(uuid.uuid4())
        ),
        member_md(tenant, "someone-else"),
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert await env.snapshot(tenant, a.name) == before


# --- booking features --------------------------------------------------------------------------------
async def test_assignments_are_honoured_and_validated(env):
    tenant = await env.tenant()
    day = ahead(2)
    start = local("sh", day, 10)
    assignments = [
        availability_pb2.SlotAssignment(service="services/cut", staff="stores/sh/staff/bob"),
        availability_pb2.SlotAssignment(
            service="services/facial", staff="stores/sh/staff/anna", room="stores/sh/rooms/bed-1"
        ),
    ]
    a = await env.book(tenant, start, services=("services/cut", "services/facial"), assignments=assignments)
    assert [(s.staff, s.room) for s in a.services] == [
        ("stores/sh/staff/bob", ""),
        ("stores/sh/staff/anna", "stores/sh/rooms/bed-1"),
    ]
    assert at(a.services[1].start_time) == start + timedelta(minutes=30)
    assert a.services[1].list_price_minor == 28_800 and a.list_price_minor == 38_800
    assert a.booked_by == "user:t"

    counts = await env.sql("SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant)
    both = ["services/cut", "services/facial"]
    cut_by = lambda who, **kw: availability_pb2.SlotAssignment(service="services/cut", staff=who, **kw)  # noqa: E731
    bad = [
        # not the services, in order; not one per service
        (both, [assignments[1], assignments[0]], grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (both, assignments[:1], grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        # a room for a service that needs none
        (
            both,
            [cut_by("stores/sh/staff/bob", room="stores/sh/rooms/bed-1"), assignments[1]],
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        # another store's staff
        (
            both,
            [cut_by("stores/ny/staff/bob"), assignments[1]],
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        # nobody of that name
        (["services/cut"], [cut_by("stores/sh/staff/ghost")], grpc.StatusCode.NOT_FOUND, "STAFF_NOT_FOUND"),
        # bob is busy with the first booking's cut
        (["services/cut"], [cut_by("stores/sh/staff/bob")], grpc.StatusCode.ABORTED, "SLOT_TAKEN"),
    ]
    other = str(uuid.uuid4())
    await register_members(env.engine, tenant, other)
    for services, items, code, reason in bad:
        got = await env.refused(
            env.stub.BookAppointment,
            pb.BookAppointmentRequest(
                member=f"members/{other}",
                store="stores/sh",
                services=services,
                start_time=stamp(start),
                assignments=items,
                channel=S.BOOKING_CHANNEL_STORE,
                request_id=str(uuid.uuid4()),
            ),
            md(tenant),
        )
        assert got[:2] == (code, reason), (items, got)
    assert await env.sql("SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant) == counts


async def test_lead_time_and_policy_reminders(env):
    tenant = await env.tenant()
    await env.stub.UpdateBookingPolicy(
        pb.UpdateBookingPolicyRequest(
            booking_policy=S.BookingPolicy(
                name="bookingPolicy", min_lead_minutes=180, reminder_minutes_before=[60]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["min_lead_minutes", "reminder_minutes_before"]),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(tenant),
    )
    member = str(uuid.uuid4())
    soon = whole_minute(datetime.now(UTC)) + timedelta(hours=2)
    store = store_at(soon, 1)
    code, reason, _ = await env.refused(
        env.stub.BookAppointment,
        pb.BookAppointmentRequest(
            member=f"members/{member}",
            store=f"stores/{store}",
            services=["services/cut"],
            start_time=stamp(soon),
            channel=S.BOOKING_CHANNEL_MINI_PROGRAM,
            request_id=str(uuid.uuid4()),
        ),
        member_md(tenant, member),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LEAD_TIME_TOO_SHORT")
    assert await env.sql("SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant) == [(0,)]
    # staff channels may book any future start
    a = await env.book(tenant, soon, store=store, member=member)
    assert [(r.minutes_before, at(r.due_time), r.state) for r in a.reminders] == [
        (60, soon - timedelta(hours=1), S.REMINDER_STATE_SCHEDULED)
    ]
    assert await env.sql(
        "SELECT kind FROM scheduled_reminders WHERE appointment_id = :a",
        a=a.name.removeprefix("appointments/"),
    ) == [("60m",)]
    # a member token books as themselves, online by default
    far = await env.book(
        tenant, local("sh", ahead(2), 10), member=member, metadata=member_md(tenant, member), channel=0
    )
    assert far.booked_by == f"members/{member}" and far.channel == S.BOOKING_CHANNEL_ONLINE
    (event,) = await env.events(tenant, "AppointmentBooked", far.name)
    assert event.channel == S.BOOKING_CHANNEL_ONLINE and not event.wallet_hold


# --- races ------------------------------------------------------------------------------------------
async def test_concurrent_changes_of_one_slot_or_one_appointment(env):
    tenant = await env.tenant()
    day = ahead(4)
    movers = [await env.book(tenant, local("sh", day, 9 + i), staff="anna") for i in range(4)]
    before = {a.name: await env.snapshot(tenant, a.name) for a in movers}
    target = local("sh", day, 15)

    async def move(a):
        try:
            return await env.stub.RescheduleAppointment(
                pb.RescheduleAppointmentRequest(
                    name=a.name,
                    start_time=stamp(target),
                    preferred_staff="stores/sh/staff/anna",
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(tenant),
            )
        except grpc.aio.AioRpcError as err:
            return err

    results = await asyncio.gather(*(move(a) for a in movers))
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [(a, r) for a, r in zip(movers, results, strict=True) if isinstance(r, Exception)]
    assert len(won) == 1 and at(won[0].appointment.start_time) == target
    for a, err in lost:
        assert error_of(err)[:2] == (grpc.StatusCode.ABORTED, "SLOT_TAKEN")
        # the outbox grew by the winner's event, nothing else of the loser changed
        rows, reservations, reminders, _ = await env.snapshot(tenant, a.name)
        assert (rows, reservations, reminders) == before[a.name][:3]

    # one appointment cancelled five times at once: one cancellation, one event
    victim = lost[0][0]

    async def cancel():
        try:
            return await env.stub.CancelAppointment(
                pb.CancelAppointmentRequest(name=victim.name, request_id=str(uuid.uuid4())),
                metadata=md(tenant),
            )
        except grpc.aio.AioRpcError as err:
            return err

    results = await asyncio.gather(*(cancel() for _ in range(5)))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert {error_of(r)[1] for r in results if isinstance(r, Exception)} == {"INVALID_APPOINTMENT_STATE"}
    assert len(await env.events(tenant, "AppointmentCancelled", victim.name)) == 1
