"""The booking policy and members' standing over real gRPC and PostgreSQL: reading and updating
the tenant's policy (AIP-134 masks, field violations, HQ-only), the no-show policy counted by
`on_no_show` / `on_late_cancel` in a unit of work (restricting online booking with a
`BookingRestricted` event), `MEMBER_RESTRICTED` on self-service channels only, staff overrides,
`GetBookingStanding` and the audited `LiftBookingRestriction`.

One booking database and one running server for the module; every test uses a tenant of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from peony.booking.v1 import appointments_pb2, events_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import text

from kit.messaging import EventEnvelope
from services.booking.service_layer import policy
from services.booking.service_layer.appointments import book_appointment
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.support.booking import (
    error_info,
    facial_and_staff,
    local_instant,
    md,
    member_md,
    put_store_zone,
    register_members,
    rid,
    running_booking,
    scalar,
    stamp,
)

pytestmark = pytest.mark.integration
STORE = "s1"
TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)  # also the default zone of local_instant
ONLINE = appointments_pb2.BOOKING_CHANNEL_ONLINE
MINI = appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM
STORE_CHANNEL = appointments_pb2.BOOKING_CHANNEL_STORE
PHONE = appointments_pb2.BOOKING_CHANNEL_PHONE


def desk_md(tenant: str, subject: str = "user:desk"):
    """Front-desk staff of the store (they may override member rules)."""
    return md(tenant, ("front_desk",), subject=subject, stores=[f"stores/{STORE}"])


async def refused(call) -> tuple[grpc.StatusCode, str, dict[str, str], list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return (info.value.code(), *error_info(info.value))


def until_of(standing) -> datetime | None:
    """`BookingStanding.restricted_until` as a datetime; None when unset."""
    return standing.restricted_until.ToDatetime(tzinfo=UTC) if standing.HasField("restricted_until") else None


# The members of these tests, known to booking in every tenant (`open_tenant`).
MEMBERS = (
    "m1",
    "m-blocked",
    "m-late",
    "m-late-counted",
    "m-lift",
    "m-many",
    "m-ns",
    "m-off",
    "m-race",
    "m-self",
    "m-window",
)


class Env:
    def __init__(self, stub, engine, uows):
        self.stub, self.engine, self.uows = stub, engine, uows

    async def open_tenant(self) -> str:
        tenant = f"t-{uuid.uuid4().hex[:10]}"
        await put_store_zone(self.uows, tenant, STORE, TZ)
        await register_members(self.engine, tenant, *MEMBERS)
        await facial_and_staff(self.stub, md(tenant), STORE, online_bookable=True)
        return tenant

    async def scalar(self, sql: str, **params):
        return await scalar(self.engine, sql, **params)

    async def appointments_of(self, tenant: str, member: str) -> int:
        return await self.scalar(
            "SELECT count(*) FROM appointments WHERE tenant_id = :t AND member_id = :m", t=tenant, m=member
        )

    async def restricted_events(self, tenant: str, member: str) -> list[events_pb2.BookingRestricted]:
        return await self.events(tenant, member, events_pb2.BookingRestricted)

    async def events(self, tenant: str, member: str, kind):
        """The `kind` events about `member` in the outbox, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e"
                    " AND aggregate_id = :m ORDER BY seq"
                ),
                {"t": tenant, "e": kind.DESCRIPTOR.full_name, "m": member},
            )
            out = []
            for (payload,) in rows:
                event = kind()
                assert EventEnvelope.FromString(payload).payload.Unpack(event)
                out.append(event)
            return out

    async def book_past(self, tenant: str, member: str, start: datetime, *, channel: int = STORE_CHANNEL):
        """Books through the service layer as if it were a day before `start` (so the appointment
        can be a no-show in the past); returns the appointment row."""

        async def run(uow: BookingUnitOfWork):
            row = await book_appointment(
                uow,
                member=member,
                store=STORE,
                service_ids=["facial"],
                staff=None,
                start_utc=start,
                channel=channel,
                now=start - timedelta(days=1),
            )
            return await uow.appointments.get(row["appointment_id"])

        return await self.uows.run(tenant, run)

    async def no_show(self, tenant: str, appointment, at: datetime) -> appointments_pb2.BookingStanding:
        async def run(uow: BookingUnitOfWork):
            return await policy.on_no_show(uow, appointment, at, await policy.load_policy(uow))

        return await self.uows.run(tenant, run)

    async def late_cancel(self, tenant: str, appointment, at: datetime) -> appointments_pb2.BookingStanding:
        async def run(uow: BookingUnitOfWork):
            return await policy.on_late_cancel(uow, appointment, at, await policy.load_policy(uow))

        return await self.uows.run(tenant, run)

    async def restrict(self, tenant: str, member: str, limit: int = 3) -> datetime:
        """`limit` no-shows of `member` in the last days; returns the instant of the last one."""
        base = datetime.now(ZONE).date() - timedelta(days=10)
        at = None
        for i in range(limit):
            row = await self.book_past(tenant, member, local_instant(base + timedelta(days=i), 10))
            at = row.start_time + timedelta(minutes=30)
            await self.no_show(tenant, row, at)
        return at

    async def update(self, tenant: str, paths=None, **values):
        return await self.stub.UpdateBookingPolicy(
            pb.UpdateBookingPolicyRequest(
                booking_policy=appointments_pb2.BookingPolicy(name="bookingPolicy", **values),
                update_mask=FieldMask(paths=list(paths or [])),
                request_id=rid(),
            ),
            metadata=md(tenant),
        )

    def book_request(self, member: str, start: datetime, channel: int, **extra) -> pb.BookAppointmentRequest:
        return pb.BookAppointmentRequest(
            member=f"members/{member}",
            store=f"stores/{STORE}",
            services=["services/facial"],
            start_time=stamp(start),
            channel=channel,
            request_id=rid(),
            **extra,
        )


@pytest.fixture(scope="module")
async def env(infra):
    async with running_booking(infra, "booking_policy") as server:
        yield Env(server.stub, server.engine, server.uows)


# --- the policy ------------------------------------------------------------------------------


async def test_a_tenant_without_a_row_has_the_defaults(env):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    got = await env.stub.GetBookingPolicy(
        pb.GetBookingPolicyRequest(name="bookingPolicy"), metadata=md(tenant)
    )
    p = got.booking_policy
    assert p.name == "bookingPolicy" and not p.HasField("update_time")
    assert (
        p.cancel_free_minutes_before,
        p.no_show_limit,
        p.no_show_window_days,
        p.no_show_restriction_days,
    ) == (
        240,
        3,
        90,
        30,
    )
    assert list(p.reminder_minutes_before) == [1440, 120]
    assert (p.slot_step_minutes, p.max_open_appointments, p.default_booking_window_days) == (15, 3, 7)
    assert (
        p.follow_up_remind_time == "10:00"
        and p.capture_session_on_no_show
        and not p.count_late_cancels_as_no_shows
    )
    # a member may read it too (what they book against)
    member_view = await env.stub.GetBookingPolicy(
        pb.GetBookingPolicyRequest(name="bookingPolicy"), metadata=member_md(tenant, "m1")
    )
    assert member_view.booking_policy == p
    assert (await env.uows.run(tenant, policy.load_policy, read_only=True)) == policy.DEFAULTS
    code, *_, fields = await refused(
        env.stub.GetBookingPolicy(pb.GetBookingPolicyRequest(name="policy"), metadata=md(tenant))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["name"]


async def test_update_applies_the_mask_and_load_policy_reads_it(env):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    request = pb.UpdateBookingPolicyRequest(
        booking_policy=appointments_pb2.BookingPolicy(
            name="bookingPolicy", slot_step_minutes=30, reminder_minutes_before=[60, 1440], no_show_limit=9
        ),
        update_mask=FieldMask(paths=["slot_step_minutes", "reminder_minutes_before"]),
        request_id=rid(),
    )
    first = await env.stub.UpdateBookingPolicy(request, metadata=md(tenant))
    p = first.booking_policy
    assert p.slot_step_minutes == 30 and list(p.reminder_minutes_before) == [60, 1440]
    assert p.no_show_limit == 3  # not in the mask
    assert p.HasField("update_time")
    # a retry replays the first response
    assert await env.stub.UpdateBookingPolicy(request, metadata=md(tenant)) == first
    loaded = await env.uows.run(tenant, policy.load_policy, read_only=True)
    assert loaded.slot_step_minutes == 30 and loaded.reminder_minutes_before == (60, 1440)
    assert loaded.no_show_limit == 3 and loaded.cancel_free_minutes_before == 240

    # without a mask: the fields set in the message; zero / false need the mask
    p = (
        await env.update(tenant, cancel_free_minutes_before=120, count_late_cancels_as_no_shows=True)
    ).booking_policy
    assert (
        p.cancel_free_minutes_before == 120 and p.count_late_cancels_as_no_shows and p.slot_step_minutes == 30
    )
    p = (
        await env.update(
            tenant, ["no_show_limit", "count_late_cancels_as_no_shows", "reminder_minutes_before"]
        )
    ).booking_policy
    assert (
        p.no_show_limit == 0
        and not p.count_late_cancels_as_no_shows
        and list(p.reminder_minutes_before) == []
    )
    got = await env.stub.GetBookingPolicy(
        pb.GetBookingPolicyRequest(name="bookingPolicy"), metadata=md(tenant)
    )
    assert got.booking_policy == p
    loaded = await env.uows.run(tenant, policy.load_policy, read_only=True)
    assert (loaded.no_show_limit, loaded.reminder_minutes_before, loaded.cancel_free_minutes_before) == (
        0,
        (),
        120,
    )


async def test_concurrent_updates_of_different_fields_both_land(env):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    fields = {
        "min_lead_minutes": 30,
        "waitlist_offer_minutes": 45,
        "feedback_window_days": 14,
        "hold_grace_hours": 24,
        "no_show_grace_minutes": 20,
    }
    await asyncio.gather(*(env.update(tenant, [name], **{name: value}) for name, value in fields.items()))
    loaded = await env.uows.run(tenant, policy.load_policy, read_only=True)
    assert {name: getattr(loaded, name) for name in fields} == fields


@pytest.mark.parametrize(
    ("values", "paths", "expected"),
    [
        ({"slot_step_minutes": 4}, ["slot_step_minutes"], ["booking_policy.slot_step_minutes"]),
        ({"slot_step_minutes": 241}, [], ["booking_policy.slot_step_minutes"]),
        ({"reminder_minutes_before": [120, 0]}, [], ["booking_policy.reminder_minutes_before"]),
        ({"reminder_minutes_before": [120, -5]}, [], ["booking_policy.reminder_minutes_before"]),
        ({"reminder_minutes_before": [60, 60]}, [], ["booking_policy.reminder_minutes_before"]),
        ({"follow_up_remind_time": "24:00"}, [], ["booking_policy.follow_up_remind_time"]),
        ({"follow_up_remind_time": "9:30"}, [], ["booking_policy.follow_up_remind_time"]),
        ({"no_show_window_days": 0}, ["no_show_window_days"], ["booking_policy.no_show_window_days"]),
        ({"no_show_limit": -1}, [], ["booking_policy.no_show_limit"]),
        ({"max_open_appointments": -2}, [], ["booking_policy.max_open_appointments"]),
        ({"cancel_free_minutes_before": -1}, [], ["booking_policy.cancel_free_minutes_before"]),
        (
            {"slot_step_minutes": 1, "follow_up_remind_time": "noon"},
            [],
            ["booking_policy.slot_step_minutes", "booking_policy.follow_up_remind_time"],
        ),
        ({"slot_step_minutes": 30}, ["update_time"], ["update_mask"]),
        ({"slot_step_minutes": 30}, ["name"], ["update_mask"]),
        ({"slot_step_minutes": 30}, ["slot_step"], ["update_mask"]),
        ({}, [], ["update_mask"]),
    ],
)
async def test_update_refuses_bad_values_and_writes_nothing(env, values, paths, expected):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    code, _, _, fields = await refused(env.update(tenant, paths, **values))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == expected
    assert await env.scalar("SELECT count(*) FROM booking_policies WHERE tenant_id = :t", t=tenant) == 0


async def test_update_needs_the_policy_name(env):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    for message in (appointments_pb2.BookingPolicy(slot_step_minutes=30), None):
        request = pb.UpdateBookingPolicyRequest(booking_policy=message, request_id=rid())
        code, _, _, fields = await refused(env.stub.UpdateBookingPolicy(request, metadata=md(tenant)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert fields == (["booking_policy.name"] if message is not None else ["booking_policy"])


async def test_only_hq_booking_admins_update_the_policy(env):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    request = pb.UpdateBookingPolicyRequest(
        booking_policy=appointments_pb2.BookingPolicy(name="bookingPolicy", slot_step_minutes=30),
        request_id=rid(),
    )
    for caller, reason in (
        (md(tenant, ("store_manager",), stores=[f"stores/{STORE}"]), "HQ_SCOPE_REQUIRED"),
        (md(tenant, ("front_desk",)), "MISSING_PERMISSION"),
        (member_md(tenant, "m1"), "MISSING_PERMISSION"),
    ):
        code, got_reason, _, _ = await refused(env.stub.UpdateBookingPolicy(request, metadata=caller))
        assert (code, got_reason) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    assert await env.scalar("SELECT count(*) FROM booking_policies WHERE tenant_id = :t", t=tenant) == 0
    done = await env.stub.UpdateBookingPolicy(request, metadata=md(tenant, ("hq_admin",)))
    assert done.booking_policy.slot_step_minutes == 30


# --- the no-show policy ----------------------------------------------------------------------


async def test_the_no_show_that_reaches_the_limit_restricts_and_publishes(env):
    tenant = await env.open_tenant()
    member = "m-ns"
    base = datetime.now(ZONE).date() - timedelta(days=10)
    rows = [
        await env.book_past(tenant, member, local_instant(base + timedelta(days=i), 10)) for i in range(3)
    ]
    marks = [r.start_time + timedelta(minutes=30) for r in rows]

    first = await env.no_show(tenant, rows[0], marks[0])
    second = await env.no_show(tenant, rows[1], marks[1])
    assert (first.no_shows_in_window, second.no_shows_in_window) == (1, 2)
    assert until_of(first) is None and until_of(second) is None
    assert await env.restricted_events(tenant, member) == []

    third = await env.no_show(tenant, rows[2], marks[2])
    until = marks[2] + timedelta(days=30)
    assert third.no_shows_in_window == 3 and until_of(third) == until
    events = await env.restricted_events(tenant, member)
    assert len(events) == 1
    assert events[0].member == f"members/{member}"
    assert events[0].restricted_until.ToDatetime(tzinfo=UTC) == until
    assert events[0].no_shows_in_window == 3
    assert events[0].appointment == f"appointments/{rows[2].appointment_id}"

    # counting the same no-show again changes nothing
    again = await env.no_show(tenant, rows[2], marks[2] + timedelta(minutes=5))
    assert again.no_shows_in_window == 3 and until_of(again) == until
    assert len(await env.restricted_events(tenant, member)) == 1

    standing = (
        await env.stub.GetBookingStanding(
            pb.GetBookingStandingRequest(name=f"members/{member}/bookingStanding"),
            metadata=member_md(tenant, member),
        )
    ).booking_standing
    assert standing.name == f"members/{member}/bookingStanding"
    assert standing.no_shows_in_window == 3 and standing.late_cancels_in_window == 0
    assert standing.restricted_until.ToDatetime(tzinfo=UTC) == until
    assert standing.open_appointments == 0 and standing.max_open_appointments == 3
    assert standing.booking_window_days == 7
    assert standing.bookable_until.ToDatetime(tzinfo=UTC) == policy.bookable_until(datetime.now(UTC), ZONE, 7)
    assert not standing.HasField("restriction_lift_time")


async def test_no_shows_outside_the_rolling_window_do_not_restrict(env):
    tenant = await env.open_tenant()
    await env.update(tenant, no_show_limit=2, no_show_window_days=5, no_show_restriction_days=10)
    member = "m-window"
    base = datetime.now(ZONE).date() - timedelta(days=20)
    days = (0, 6, 9)  # 6 days apart: out of the 5-day window; 3 days apart: in it
    rows = [await env.book_past(tenant, member, local_instant(base + timedelta(days=d), 10)) for d in days]
    marks = [r.start_time + timedelta(hours=1) for r in rows]
    assert until_of(await env.no_show(tenant, rows[0], marks[0])) is None
    standing = await env.no_show(tenant, rows[1], marks[1])
    assert standing.no_shows_in_window == 1 and until_of(standing) is None
    standing = await env.no_show(tenant, rows[2], marks[2])
    assert standing.no_shows_in_window == 2
    assert until_of(standing) == marks[2] + timedelta(days=10)
    assert [e.no_shows_in_window for e in await env.restricted_events(tenant, member)] == [2]


async def test_late_cancels_count_only_when_the_policy_says_so(env):
    tenant = await env.open_tenant()
    base = datetime.now(ZONE).date() - timedelta(days=10)
    member = "m-late"
    rows = [
        await env.book_past(tenant, member, local_instant(base + timedelta(days=i), 10)) for i in range(3)
    ]
    for row in rows:
        standing = await env.late_cancel(tenant, row, row.start_time - timedelta(hours=1))
    assert (standing.late_cancels_in_window, standing.no_shows_in_window) == (3, 0)
    assert until_of(standing) is None
    assert await env.restricted_events(tenant, member) == []

    await env.update(tenant, count_late_cancels_as_no_shows=True)
    other = "m-late-counted"
    rows = [await env.book_past(tenant, other, local_instant(base + timedelta(days=i), 12)) for i in range(3)]
    await env.late_cancel(tenant, rows[0], rows[0].start_time - timedelta(hours=1))
    await env.no_show(tenant, rows[1], rows[1].start_time + timedelta(hours=1))
    at = rows[2].start_time - timedelta(hours=1)
    standing = await env.late_cancel(tenant, rows[2], at)
    assert (standing.late_cancels_in_window, standing.no_shows_in_window) == (2, 3)
    assert until_of(standing) == at + timedelta(days=30)
    [event] = await env.restricted_events(tenant, other)
    assert event.appointment == f"appointments/{rows[2].appointment_id}"


async def test_a_limit_of_zero_disables_the_restriction(env):
    tenant = await env.open_tenant()
    await env.update(tenant, ["no_show_limit"], no_show_limit=0)
    member = "m-off"
    await env.restrict(tenant, member)
    assert await env.restricted_events(tenant, member) == []
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    booked = await env.stub.BookAppointment(
        env.book_request(member, local_instant(tomorrow, 11), ONLINE), metadata=member_md(tenant, member)
    )
    assert booked.appointment.overridden_rules == []


async def test_concurrent_no_shows_restrict_once(env):
    tenant = await env.open_tenant()
    await env.update(tenant, no_show_limit=2)
    member = "m-race"
    base = datetime.now(ZONE).date() - timedelta(days=12)
    rows = [
        await env.book_past(tenant, member, local_instant(base + timedelta(days=i), 10)) for i in range(7)
    ]
    at = datetime.now(UTC) - timedelta(hours=1)
    await env.no_show(tenant, rows[0], at)
    # six more at once: each counts after the ones before it (the member's row lock), so only
    # the one reaching the limit restricts
    results = await asyncio.gather(*(env.no_show(tenant, r, at) for r in rows[1:]))
    assert sorted(s.no_shows_in_window for s in results) == [2, 3, 4, 5, 6, 7]
    assert {until_of(s) for s in results} == {at + timedelta(days=30)}
    assert len(await env.restricted_events(tenant, member)) == 1


# --- MEMBER_RESTRICTED -----------------------------------------------------------------------


async def test_a_restricted_member_cannot_book_online_and_nothing_is_written(env):
    tenant = await env.open_tenant()
    member = "m-blocked"
    last = await env.restrict(tenant, member)
    until = last + timedelta(days=30)
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    before = await env.appointments_of(tenant, member)
    for channel in (ONLINE, MINI):
        code, reason, metadata, _ = await refused(
            env.stub.BookAppointment(
                env.book_request(member, local_instant(tomorrow, 11), channel),
                metadata=member_md(tenant, member),
            )
        )
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_RESTRICTED")
        assert datetime.fromisoformat(metadata["restricted_until"]) == until
    # an unspecified channel is online
    code, reason, _, _ = await refused(
        env.stub.BookAppointment(
            env.book_request(member, local_instant(tomorrow, 11), 0), metadata=member_md(tenant, member)
        )
    )
    assert reason == "MEMBER_RESTRICTED"
    assert await env.appointments_of(tenant, member) == before

    # staff channels are not restricted
    for i, channel in enumerate((STORE_CHANNEL, PHONE)):
        booked = await env.stub.BookAppointment(
            env.book_request(member, local_instant(tomorrow, 12 + i), channel), metadata=desk_md(tenant)
        )
        assert booked.appointment.overridden_rules == []
    # staff may override it online, recorded with the booking
    booked = await env.stub.BookAppointment(
        env.book_request(
            member,
            local_instant(tomorrow, 15),
            ONLINE,
            staff_override=True,
            override_reason="called the store",
        ),
        metadata=desk_md(tenant),
    )
    assert list(booked.appointment.overridden_rules) == ["MEMBER_RESTRICTED"]
    assert booked.appointment.override_reason == "called the store"
    assert await env.appointments_of(tenant, member) == before + 3


async def test_member_rules_report_every_overridden_rule(env):
    tenant = await env.open_tenant()
    member = "m-many"
    await env.restrict(tenant, member)
    await env.update(tenant, ["max_open_appointments"], max_open_appointments=1)
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    await env.stub.BookAppointment(
        env.book_request(member, local_instant(tomorrow, 10), STORE_CHANNEL), metadata=md(tenant)
    )
    far = datetime.now(ZONE).date() + timedelta(days=20)
    # staff channel, no override: the restriction does not apply, the window and the cap do
    code, reason, _, _ = await refused(
        env.stub.BookAppointment(
            env.book_request(member, local_instant(far, 10), STORE_CHANNEL), metadata=md(tenant)
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BEYOND_BOOKING_WINDOW")
    code, reason, _, _ = await refused(
        env.stub.BookAppointment(
            env.book_request(member, local_instant(tomorrow, 14), STORE_CHANNEL), metadata=md(tenant)
        )
    )
    assert reason == "TOO_MANY_OPEN_APPOINTMENTS"
    booked = await env.stub.BookAppointment(
        env.book_request(member, local_instant(far, 10), ONLINE, staff_override=True, override_reason="vip"),
        metadata=md(tenant),
    )
    assert list(booked.appointment.overridden_rules) == [
        "MEMBER_RESTRICTED",
        "BEYOND_BOOKING_WINDOW",
        "TOO_MANY_OPEN_APPOINTMENTS",
    ]


# --- standing and lifting --------------------------------------------------------------------


async def test_standing_is_read_by_the_member_themself_or_staff(env):
    tenant = await env.open_tenant()
    member = "m-self"
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    await env.stub.BookAppointment(
        env.book_request(member, local_instant(tomorrow, 10), ONLINE), metadata=member_md(tenant, member)
    )
    name = f"members/{member}/bookingStanding"
    own = await env.stub.GetBookingStanding(
        pb.GetBookingStandingRequest(name=name), metadata=member_md(tenant, member)
    )
    s = own.booking_standing
    assert (s.open_appointments, s.no_shows_in_window, s.booking_window_days) == (1, 0, 7)
    assert not s.HasField("restricted_until")
    # the zone of the member's store: the end of the local day 7 days ahead
    assert s.bookable_until.ToDatetime(tzinfo=UTC) == policy.bookable_until(datetime.now(UTC), ZONE, 7)
    for roles in (("front_desk",), ("beautician",), ("hq_admin",)):
        staff = await env.stub.GetBookingStanding(
            pb.GetBookingStandingRequest(name=name), metadata=md(tenant, roles)
        )
        assert staff.booking_standing == s
    code, reason, _, _ = await refused(
        env.stub.GetBookingStanding(
            pb.GetBookingStandingRequest(name=name), metadata=member_md(tenant, "someone-else")
        )
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_RECORD")
    code, reason, _, _ = await refused(
        env.stub.GetBookingStanding(
            pb.GetBookingStandingRequest(name=name), metadata=md(tenant, ("marketing",))
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    for bad in (
        "members/x",
        f"members/{member}/standing",
        "members//bookingStanding",
        "m1/bookingStanding",
        "",
    ):
        code, _, _, fields = await refused(
            env.stub.GetBookingStanding(pb.GetBookingStandingRequest(name=bad), metadata=md(tenant))
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["name"])
    # a member nobody knows has no standing (issue 9, example 7: no invented standing) ...
    code, reason, _, _ = await refused(
        env.stub.GetBookingStanding(
            pb.GetBookingStandingRequest(name="members/new/bookingStanding"), metadata=md(tenant)
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND")
    # ... and a known member without a booking history stands clean
    fresh = await env.stub.GetBookingStanding(
        pb.GetBookingStandingRequest(name="members/m1/bookingStanding"), metadata=md(tenant)
    )
    assert fresh.booking_standing.open_appointments == 0 and fresh.booking_standing.booking_window_days == 7


async def test_lifting_a_restriction_is_audited_and_forgets_earlier_no_shows(env):
    tenant = await env.open_tenant()
    member = "m-lift"
    await env.restrict(tenant, member)
    name = f"members/{member}/bookingStanding"
    staff = desk_md(tenant, "user:desk-1")

    # bad input and callers without the override permission change nothing
    for request in (
        pb.LiftBookingRestrictionRequest(name=name, reason="  ", request_id=rid()),
        pb.LiftBookingRestrictionRequest(name=name, reason="x" * 501, request_id=rid()),
        pb.LiftBookingRestrictionRequest(name="members/m-lift", reason="ok", request_id=rid()),
    ):
        code, *_ = await refused(env.stub.LiftBookingRestriction(request, metadata=staff))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    for caller in (md(tenant, ("beautician",)), member_md(tenant, member)):
        code, reason, _, _ = await refused(
            env.stub.LiftBookingRestriction(
                pb.LiftBookingRestrictionRequest(name=name, reason="please", request_id=rid()),
                metadata=caller,
            )
        )
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")
    assert (
        await env.scalar("SELECT count(*) FROM booking_restriction_lifts WHERE tenant_id = :t", t=tenant) == 0
    )

    request = pb.LiftBookingRestrictionRequest(name=name, reason="doctor's note", request_id=rid())
    lifted = await env.stub.LiftBookingRestriction(request, metadata=staff)
    s = lifted.booking_standing
    assert not s.HasField("restricted_until")
    assert s.no_shows_in_window == 0  # the no-shows before the lift no longer count
    assert s.restriction_lift_reason == "doctor's note" and s.HasField("restriction_lift_time")
    assert await env.stub.LiftBookingRestriction(request, metadata=staff) == lifted  # replayed
    [event] = await env.events(tenant, member, events_pb2.BookingRestrictionLifted)  # once, replay or not
    assert (event.member, event.lifted_by, event.reason) == (
        f"members/{member}",
        "user:desk-1",
        "doctor's note",
    )
    assert event.lift_time == s.restriction_lift_time
    async with env.engine.connect() as conn:
        audit = (
            await conn.execute(
                text(
                    "SELECT lifted_by, reason, lift_time, restricted_until FROM booking_restriction_lifts"
                    " WHERE tenant_id = :t AND member_id = :m"
                ),
                {"t": tenant, "m": member},
            )
        ).all()
    assert len(audit) == 1
    assert audit[0].lifted_by == "user:desk-1" and audit[0].reason == "doctor's note"
    assert audit[0].lift_time == s.restriction_lift_time.ToDatetime(tzinfo=UTC)
    assert audit[0].restricted_until > datetime.now(UTC)
    assert event.restricted_until.ToDatetime(tzinfo=UTC) == audit[0].restricted_until

    # the member books online again
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    booked = await env.stub.BookAppointment(
        env.book_request(member, local_instant(tomorrow, 11), MINI), metadata=member_md(tenant, member)
    )
    assert booked.appointment.overridden_rules == []

    # nothing left to lift
    code, reason, _, _ = await refused(
        env.stub.LiftBookingRestriction(
            pb.LiftBookingRestrictionRequest(name=name, reason="again", request_id=rid()), metadata=staff
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_RESTRICTED")
    code, reason, _, _ = await refused(
        env.stub.LiftBookingRestriction(
            pb.LiftBookingRestrictionRequest(
                name="members/never/bookingStanding", reason="x", request_id=rid()
            ),
            metadata=staff,
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND")
    assert (
        await env.scalar("SELECT count(*) FROM booking_restriction_lifts WHERE tenant_id = :t", t=tenant) == 1
    )
    assert len(await env.events(tenant, member, events_pb2.BookingRestrictionLifted)) == 1

    # a no-show after the lift counts from zero: one is not enough to restrict again
    row = await env.book_past(
        tenant, member, local_instant(datetime.now(ZONE).date() - timedelta(days=1), 10)
    )
    after = await env.no_show(tenant, row, datetime.now(UTC))
    assert after.no_shows_in_window == 1 and until_of(after) is None
    assert len(await env.restricted_events(tenant, member)) == 1
