"""Booking items of issue 12 over real gRPC, PostgreSQL and NATS: the store's work list of due
follow-up calls (`ListDueFollowUps`: paged, only the store's fired and unresolved ones, staff of
that store only), recording the outcome of a call (`ResolveFollowUp`: once, audited with the
caller, `FollowUpResolved`, every bad request refused with nothing written), and
`BookingPolicyUpdated` published with the fields an `UpdateBookingPolicy` changed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.booking.v1 import appointments_pb2, events_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from services.booking.service_layer import plans
from tests.integration.booking.test_service_plans import (
    SH,
    add_plan,
    local,
    outbox_events,
    refused,
    seed,
    visit,
)
from tests.support.booking import md, member_md, rid, rows, running_booking

pytestmark = pytest.mark.integration
RESOLVED_EVENT = "peony.booking.v1.FollowUpResolved"
POLICY_EVENT = "peony.booking.v1.BookingPolicyUpdated"
REACHED = appointments_pb2.FOLLOW_UP_OUTCOME_REACHED
BOOKED = appointments_pb2.FOLLOW_UP_OUTCOME_BOOKED
FIRED = appointments_pb2.FOLLOW_UP_STATE_FIRED
RESOLVED = appointments_pb2.FOLLOW_UP_STATE_RESOLVED


@pytest.fixture(scope="module")
async def server(infra):
    # the tests fire follow-ups with the job step themselves
    async with running_booking(
        infra, "follow_up_outcomes", {"PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "3600"}
    ) as s:
        yield s.stub, s.engine, s.uows


async def tenant_events(engine, tenant: str, event_type: str, cls) -> list:
    return [
        e
        for e, (t,) in zip(
            await outbox_events(engine, event_type, cls),
            await rows(
                engine, "SELECT tenant_id FROM outbox WHERE event_type = :e ORDER BY seq", e=event_type
            ),
            strict=True,
        )
        if t == tenant
    ]


async def follow_up_states(engine, tenant: str) -> list[tuple]:
    return await rows(
        engine,
        "SELECT follow_up_id::text, state, outcome, resolved_by, booked_appointment_id::text FROM follow_ups"
        " WHERE tenant_id = :t ORDER BY follow_up_id",
        t=tenant,
    )


async def test_the_work_list_and_resolving_follow_ups(server):
    stub, engine, uows = server
    tenant = f"fu-{uuid.uuid4().hex[:10]}"
    await seed(uows, tenant, {"s1": "Asia/Shanghai", "s2": "Asia/Shanghai"})
    await add_plan(uows, tenant, "a")  # essence 7 days after a facial, reminded the day before
    now = datetime.now(UTC).replace(microsecond=0)
    today = datetime.now(SH).date()
    members = [str(uuid.uuid4()) for _ in range(5)]
    # s1: three visits 12, 11 and 10 days ago (due 5, 4, 3 days ago); s2: one; s1: one today (not due)
    for i, (member, store, days_ago) in enumerate(
        zip(members, ("s1", "s1", "s1", "s2", "s1"), (10, 12, 11, 10, 0), strict=True)
    ):
        start = local(today - timedelta(days=days_ago), 10 + i, SH)
        await visit(uows, tenant, store, start, member=member, complete_at=start + timedelta(minutes=30))
    assert await plans.fire_follow_ups(engine, uows, now) == 4

    hq, desk1 = md(tenant), md(tenant, ("front_desk",), subject="user:desk1", stores=["s1"])
    desk2 = md(tenant, ("front_desk",), subject="user:desk2", stores=["s2"])

    async def work_list(meta, store="stores/s1", size=2) -> list[appointments_pb2.FollowUp]:
        out, token = [], ""
        while True:
            page = await stub.ListDueFollowUps(
                pb.ListDueFollowUpsRequest(store=store, page_size=size, page_token=token), metadata=meta
            )
            out += page.follow_ups
            token = page.next_page_token
            if not token:
                return out

    due = await work_list(desk1)
    # the longest due first; only s1's fired ones (not today's scheduled one, not s2's)
    assert [f.member for f in due] == [f"members/{members[i]}" for i in (1, 2, 0)]
    assert [f.due_date for f in due] == sorted(f.due_date for f in due)
    assert {f.state for f in due} == {FIRED} and {f.store for f in due} == {"stores/s1"}
    assert [f.name for f in await work_list(hq, size=50)] == [f.name for f in due]
    assert [f.member for f in await work_list(desk2, "stores/s2")] == [f"members/{members[3]}"]
    (scheduled,) = [
        f
        for f in (
            await stub.ListFollowUps(pb.ListFollowUpsRequest(store="stores/s1"), metadata=hq)
        ).follow_ups
        if f.state == appointments_pb2.FOLLOW_UP_STATE_SCHEDULED
    ]

    # who may read it, and bad requests
    for meta, store, expected in (
        (desk2, "stores/s1", (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE")),
        (member_md(tenant, members[1]), "stores/s1", (grpc.StatusCode.PERMISSION_DENIED, "STAFF_ONLY")),
        (hq, "", (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (hq, "s1", (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
    ):
        assert await refused(
            stub.ListDueFollowUps(pb.ListDueFollowUpsRequest(store=store), metadata=meta)
        ) == (expected), (store, expected)
    first_page = await stub.ListDueFollowUps(
        pb.ListDueFollowUpsRequest(store="stores/s1", page_size=2), metadata=hq
    )
    assert await refused(
        stub.ListDueFollowUps(
            pb.ListDueFollowUpsRequest(store="stores/s2", page_size=2, page_token=first_page.next_page_token),
            metadata=hq,
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")

    # Refused resolutions write nothing.
    before = await follow_up_states(engine, tenant)
    other_members_visit = await visit(
        uows, tenant, "s1", local(today + timedelta(days=1), 15, SH), member=members[4]
    )
    target = due[0]

    def resolve(name=target.name, outcome=REACHED, booked="", request_id=None):
        return pb.ResolveFollowUpRequest(
            name=name,
            outcome=outcome,
            booked_appointment=booked,
            request_id=rid() if request_id is None else request_id,
        )

    for request, meta, expected in (
        (resolve(name="followUps/not-a-uuid"), desk1, (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (resolve(outcome=0), desk1, (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (resolve(outcome=99), desk1, (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (
            resolve(booked=f"appointments/{uuid.uuid4()}"),  # with an outcome other than BOOKED
            desk1,
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ),
        (
            resolve(outcome=BOOKED, booked="appointments/x"),
            desk1,
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ),
        (resolve(request_id=""), desk1, (grpc.StatusCode.INVALID_ARGUMENT, None)),
        (
            resolve(name=f"followUps/{uuid.uuid4()}"),
            desk1,
            (grpc.StatusCode.NOT_FOUND, "FOLLOW_UP_NOT_FOUND"),
        ),
        (resolve(name=scheduled.name), desk1, (grpc.StatusCode.FAILED_PRECONDITION, "FOLLOW_UP_NOT_DUE")),
        (resolve(), desk2, (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE")),
        (resolve(), member_md(tenant, members[1]), (grpc.StatusCode.PERMISSION_DENIED, "STAFF_ONLY")),
        (resolve(), md(tenant, ("marketing",)), (grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")),
        (
            resolve(outcome=BOOKED, booked=f"appointments/{uuid.uuid4()}"),
            desk1,
            (grpc.StatusCode.NOT_FOUND, "APPOINTMENT_NOT_FOUND"),
        ),
        (
            resolve(outcome=BOOKED, booked=f"appointments/{other_members_visit['appointment_id']}"),
            desk1,
            (grpc.StatusCode.FAILED_PRECONDITION, "APPOINTMENT_OF_ANOTHER_MEMBER"),
        ),
    ):
        code, reason = await refused(stub.ResolveFollowUp(request, metadata=meta))
        assert code == expected[0] and (expected[1] is None or reason == expected[1]), (request, code, reason)
    assert await follow_up_states(engine, tenant) == before
    assert await tenant_events(engine, tenant, RESOLVED_EVENT, events_pb2.FollowUpResolved) == []

    # Reached: recorded with who and when; a retry replays it; a second outcome is refused.
    request = resolve()
    done = (await stub.ResolveFollowUp(request, metadata=desk1)).follow_up
    assert (done.state, done.outcome, done.resolved_by) == (RESOLVED, REACHED, "user:desk1")
    assert abs(done.outcome_time.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=5)
    assert (await stub.ResolveFollowUp(request, metadata=desk1)).follow_up == done
    assert await refused(stub.ResolveFollowUp(resolve(outcome=BOOKED), metadata=desk1)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_FOLLOW_UP_STATE",
    )
    # Booked, naming the member's own new appointment.
    own = await visit(uows, tenant, "s1", local(today + timedelta(days=2), 15, SH), member=members[2])
    booked = (
        await stub.ResolveFollowUp(
            resolve(name=due[1].name, outcome=BOOKED, booked=f"appointments/{own['appointment_id']}"),
            metadata=hq,
        )
    ).follow_up
    assert (booked.outcome, booked.booked_appointment) == (BOOKED, f"appointments/{own['appointment_id']}")

    # Off the work list; listed as resolved.
    assert [f.name for f in await work_list(desk1)] == [due[2].name]
    resolved = await stub.ListFollowUps(pb.ListFollowUpsRequest(state=RESOLVED), metadata=hq)
    assert sorted(f.name for f in resolved.follow_ups) == sorted([done.name, booked.name])

    events = await tenant_events(engine, tenant, RESOLVED_EVENT, events_pb2.FollowUpResolved)
    assert [(e.follow_up, e.outcome, e.resolved_by, e.store) for e in events] == [
        (done.name, REACHED, "user:desk1", "stores/s1"),
        (booked.name, BOOKED, "user:t", "stores/s1"),
    ]
    assert events[1].booked_appointment == booked.booked_appointment
    assert events[0].member == due[0].member and events[0].service_plan == "servicePlans/a"


async def test_a_policy_change_publishes_booking_policy_updated(server):
    stub, engine, _ = server
    tenant = f"pol-{uuid.uuid4().hex[:10]}"
    admin = md(tenant, subject="user:hq")

    def update(paths, **values):
        return stub.UpdateBookingPolicy(
            pb.UpdateBookingPolicyRequest(
                booking_policy=appointments_pb2.BookingPolicy(name="bookingPolicy", **values),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
                request_id=rid(),
            ),
            metadata=admin,
        )

    async def published() -> list[events_pb2.BookingPolicyUpdated]:
        return await tenant_events(engine, tenant, POLICY_EVENT, events_pb2.BookingPolicyUpdated)

    # refused updates publish nothing
    assert (await refused(update(["cancel_free_minutes_before"], cancel_free_minutes_before=-5)))[0] == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    manager = md(tenant, ("store_manager",), stores=["s1"])
    assert (
        await refused(
            stub.UpdateBookingPolicy(
                pb.UpdateBookingPolicyRequest(
                    booking_policy=appointments_pb2.BookingPolicy(
                        name="bookingPolicy", waitlist_offer_minutes=5
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["waitlist_offer_minutes"]),
                    request_id=rid(),
                ),
                metadata=manager,
            )
        )
    )[0] == grpc.StatusCode.PERMISSION_DENIED
    assert await published() == []

    # two fields named, one of them at its current value (the default 30): only the other changed
    await update(
        ["cancel_free_minutes_before", "waitlist_offer_minutes"],
        cancel_free_minutes_before=120,
        waitlist_offer_minutes=30,
    )
    (event,) = await published()
    assert list(event.changed_fields) == ["cancel_free_minutes_before"] and event.updated_by == "user:hq"
    assert event.booking_policy.cancel_free_minutes_before == 120
    assert event.booking_policy.waitlist_offer_minutes == 30 and event.booking_policy.name == "bookingPolicy"
    current = (
        await stub.GetBookingPolicy(pb.GetBookingPolicyRequest(name="bookingPolicy"), metadata=admin)
    ).booking_policy
    assert event.booking_policy == current

    # the same value again changes nothing and publishes nothing
    await update(["cancel_free_minutes_before"], cancel_free_minutes_before=120)
    assert len(await published()) == 1
    await update(["reminder_minutes_before"], reminder_minutes_before=[60])
    assert [list(e.changed_fields) for e in await published()] == [
        ["cancel_free_minutes_before"],
        ["reminder_minutes_before"],
    ]
