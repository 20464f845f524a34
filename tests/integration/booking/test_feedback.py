"""Visit feedback and complaints over real gRPC, PostgreSQL and NATS: feedback only on a
completed visit of the member, within the feedback window, once per appointment (also under
concurrent submits); complaints with their first-response SLA, staff replies and resolution
scoped to the complaint's store, and `ComplaintSlaBreached` written exactly once whether the job
steps (racing each other) or a late reply record the breach."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from peony.booking.v1 import appointments_pb2, events_pb2, feedback_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.booking.service_layer import feedback as fb
from services.booking.service_layer import policy as booking_policy
from tests.integration.booking.test_service_plans import (
    SH,
    local,
    outbox_events,
    refused,
    seed,
    visit,
)
from tests.support.booking import (
    booking_uows,
    md,
    member_md,
    register_members,
    rid,
    rows,
    running_booking,
    stamp,
)

pytestmark = pytest.mark.integration
FEEDBACK_SUBMITTED = "peony.booking.v1.FeedbackSubmitted"
COMPLAINT_OPENED = "peony.booking.v1.ComplaintOpened"
COMPLAINT_RESOLVED = "peony.booking.v1.ComplaintResolved"
SLA_BREACHED = "peony.booking.v1.ComplaintSlaBreached"


@pytest.fixture(scope="module")
async def server(infra):
    # its own job runner races the tests'
    async with running_booking(
        infra, "feedback_rpc", {"PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "0.3"}
    ) as server:
        yield server.stub, server.engine, server.uows, server.url


async def tenant_with_stores(uows) -> str:
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    await seed(uows, tenant, {"s1": "Asia/Shanghai", "s2": "Asia/Shanghai"})
    return tenant


def slot(days_ago: int, hour: int) -> datetime:
    """`hour`:00 in Shanghai (the stores' zone), `days_ago` days before today there."""
    return local(datetime.now(SH).date() - timedelta(days=days_ago), hour, SH)


async def completed(uows, tenant: str, member: str, *, store: str = "s1", days_ago: int = 1, hour: int = 10):
    """A visit of `member` at `hour`:00 `days_ago` days ago, completed an hour later."""
    start = slot(days_ago, hour)
    return await visit(uows, tenant, store, start, member=member, complete_at=start + timedelta(hours=1))


def submit(appointment_id: str, rating: int, comment: str = "") -> pb.SubmitFeedbackRequest:
    return pb.SubmitFeedbackRequest(
        parent=f"appointments/{appointment_id}",
        feedback=feedback_pb2.Feedback(rating=rating, comment=comment),
        request_id=rid(),
    )


# --- feedback ---------------------------------------------------------------------------------


async def test_feedback_once_per_completed_visit_of_the_member(server):
    stub, engine, uows, _ = server
    tenant = await tenant_with_stores(uows)
    anna, bo = str(uuid.uuid4()), str(uuid.uuid4())
    visit_ = await completed(uows, tenant, anna)
    aid = visit_["appointment_id"]

    async def count() -> int:
        return (await rows(engine, "SELECT count(*) FROM feedback WHERE tenant_id = :t", t=tenant))[0][0]

    # bad input, other members, unknown appointments: refused, nothing written
    for request, meta, expected in (
        (submit(aid, 0), member_md(tenant, anna), (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (submit(aid, 6), member_md(tenant, anna), (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")),
        (
            submit(aid, 5, "x" * 2001),
            member_md(tenant, anna),
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ),
        (submit(aid, 5), member_md(tenant, bo), (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_RECORD")),
        (
            submit(str(uuid.uuid4()), 5),
            member_md(tenant, anna),
            (grpc.StatusCode.NOT_FOUND, "APPOINTMENT_NOT_FOUND"),
        ),
        (
            submit(aid, 5),
            md(tenant, roles=("front_desk",), stores=["s2"]),
            (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE"),
        ),
    ):
        assert await refused(stub.SubmitFeedback(request, metadata=meta)) == expected
    assert await count() == 0

    got = (await stub.SubmitFeedback(submit(aid, 4, "  lovely  "), metadata=member_md(tenant, anna))).feedback
    assert (got.name, got.rating, got.comment) == (f"appointments/{aid}/feedback", 4, "lovely")
    assert (got.member, got.store, list(got.staff), list(got.services)) == (
        f"members/{anna}",
        "stores/s1",
        ["stores/s1/staff/anna"],
        ["services/facial"],
    )
    assert await refused(stub.SubmitFeedback(submit(aid, 1), metadata=member_md(tenant, anna))) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_EXISTS",
    )
    assert await count() == 1
    events = [
        e
        for e in await outbox_events(engine, FEEDBACK_SUBMITTED, events_pb2.FeedbackSubmitted)
        if e.appointment == f"appointments/{aid}"
    ]
    assert len(events) == 1
    assert (events[0].rating, events[0].has_comment, list(events[0].staff)) == (
        4,
        True,
        ["stores/s1/staff/anna"],
    )
    assert "lovely" not in str(events[0])

    read = await stub.GetFeedback(pb.GetFeedbackRequest(name=got.name), metadata=member_md(tenant, anna))
    assert read.feedback == got
    assert await refused(
        stub.GetFeedback(pb.GetFeedbackRequest(name=got.name), metadata=member_md(tenant, bo))
    ) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWN_RECORD",
    )
    assert await refused(
        stub.GetFeedback(
            pb.GetFeedbackRequest(name=f"appointments/{uuid.uuid4()}/feedback"), metadata=md(tenant)
        )
    ) == (grpc.StatusCode.NOT_FOUND, "FEEDBACK_NOT_FOUND")
    assert await refused(
        stub.GetFeedback(pb.GetFeedbackRequest(name=f"appointments/{aid}"), metadata=md(tenant))
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


async def test_feedback_needs_a_completed_visit_within_the_window(server):
    stub, engine, uows, _ = server
    tenant = await tenant_with_stores(uows)
    anna = str(uuid.uuid4())
    booked = await visit(uows, tenant, "s1", slot(-2, 10), member=anna)
    assert await refused(
        stub.SubmitFeedback(submit(booked["appointment_id"], 5), metadata=member_md(tenant, anna))
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "APPOINTMENT_NOT_COMPLETED")
    # completed 31 days ago: the default 30-day window has closed; 29 days ago it is still open
    old = await completed(uows, tenant, anna, days_ago=31)
    assert await refused(
        stub.SubmitFeedback(submit(old["appointment_id"], 5), metadata=member_md(tenant, anna))
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "FEEDBACK_WINDOW_CLOSED")
    recent = await completed(uows, tenant, anna, days_ago=29)
    await stub.SubmitFeedback(submit(recent["appointment_id"], 3), metadata=member_md(tenant, anna))
    assert await rows(engine, "SELECT appointment_id::text FROM feedback WHERE tenant_id = :t", t=tenant) == [
        (recent["appointment_id"],)
    ]


async def test_the_tenant_policy_sets_the_window_and_the_sla(server):
    stub, _, uows, _ = server
    tenant = await tenant_with_stores(uows)
    anna = str(uuid.uuid4())

    async def set_policy(uow):
        await booking_policy.update_policy(
            uow, {"feedback_window_days": 7, "complaint_first_response_minutes": 15}, datetime.now(UTC)
        )

    await uows.run(tenant, set_policy)
    old = await completed(uows, tenant, anna, days_ago=8)
    assert await refused(
        stub.SubmitFeedback(submit(old["appointment_id"], 5), metadata=member_md(tenant, anna))
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "FEEDBACK_WINDOW_CLOSED")
    recent = await completed(uows, tenant, anna, days_ago=6)
    await stub.SubmitFeedback(submit(recent["appointment_id"], 5), metadata=member_md(tenant, anna))
    opened = await open_(stub, tenant, member_md(tenant, anna), anna)
    assert opened.first_response_due_time.ToDatetime(tzinfo=UTC) - opened.create_time.ToDatetime(
        tzinfo=UTC
    ) == timedelta(minutes=15)


async def test_concurrent_submits_record_one_feedback(server):
    stub, engine, uows, _ = server
    tenant = await tenant_with_stores(uows)
    anna = str(uuid.uuid4())
    aid = (await completed(uows, tenant, anna))["appointment_id"]
    results = await asyncio.gather(
        *(stub.SubmitFeedback(submit(aid, 1 + i % 5), metadata=member_md(tenant, anna)) for i in range(8)),
        return_exceptions=True,
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    refusals = [r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 1 and refusals == [grpc.StatusCode.ALREADY_EXISTS] * 7
    assert (await rows(engine, "SELECT rating FROM feedback WHERE tenant_id = :t", t=tenant)) == [
        (ok[0].feedback.rating,)
    ]
    events = await outbox_events(engine, FEEDBACK_SUBMITTED, events_pb2.FeedbackSubmitted)
    assert [e.appointment for e in events].count(f"appointments/{aid}") == 1


async def test_list_feedback_filters_pages_and_averages(server):
    stub, _, uows, _ = server
    tenant = await tenant_with_stores(uows)
    ratings = {("s1", 10): 5, ("s1", 11): 2, ("s1", 12): 4, ("s2", 10): 1, ("s2", 11): 3}
    for (store, hour), rating in ratings.items():
        member = str(uuid.uuid4())
        aid = (await completed(uows, tenant, member, store=store, hour=hour))["appointment_id"]
        await stub.SubmitFeedback(submit(aid, rating), metadata=member_md(tenant, member))

    async def listed(meta=None, **filters):
        out, token = [], ""
        while True:
            page = await stub.ListFeedback(
                pb.ListFeedbackRequest(page_size=2, page_token=token, **filters), metadata=meta or md(tenant)
            )
            out += page.feedback
            token = page.next_page_token
            if not token:
                return out, page.total_size, page.average_rating_centi

    everything, total, mean = await listed()
    assert (len(everything), total, mean) == (5, 5, 300)
    times = [f.create_time.ToDatetime() for f in everything]
    assert times == sorted(times, reverse=True)  # newest first
    s1, total, mean = await listed(store="stores/s1")
    assert (sorted(f.rating for f in s1), total, mean) == ([2, 4, 5], 3, 367)
    unhappy, total, _ = await listed(max_rating=2)
    assert sorted(f.rating for f in unhappy) == [1, 2] and total == 2
    by_staff, total, _ = await listed(staff="stores/s2/staff/anna")
    assert {f.store for f in by_staff} == {"stores/s2"} and total == 2
    desk, total, _ = await listed(md(tenant, roles=("front_desk",), stores=["s2"]))
    assert {f.store for f in desk} == {"stores/s2"} and total == 2
    now = datetime.now(UTC)
    _, total, mean = await listed(create_time_from=stamp(now))
    assert (total, mean) == (0, 0)
    assert await refused(
        stub.ListFeedback(
            pb.ListFeedbackRequest(
                create_time_from=stamp(now), create_time_to=stamp(now - timedelta(hours=1))
            ),
            metadata=md(tenant),
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "END_BEFORE_START")
    assert await refused(
        stub.ListFeedback(
            pb.ListFeedbackRequest(store="stores/s1"),
            metadata=md(tenant, roles=("front_desk",), stores=["s2"]),
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE")
    assert await refused(
        stub.ListFeedback(pb.ListFeedbackRequest(), metadata=member_md(tenant, str(uuid.uuid4())))
    ) == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")


# --- complaints -------------------------------------------------------------------------------


def complaint(member: str, **fields) -> feedback_pb2.Complaint:
    return feedback_pb2.Complaint(member=f"members/{member}" if member else "", **fields)


async def open_(stub, tenant, meta, member: str, **fields) -> feedback_pb2.Complaint:
    reply = await stub.OpenComplaint(
        pb.OpenComplaintRequest(
            complaint=complaint(member, description="too hot", **fields), request_id=rid()
        ),
        metadata=meta,
    )
    return reply.complaint


async def test_open_respond_resolve_a_complaint(server):
    stub, engine, uows, _ = server
    tenant = await tenant_with_stores(uows)
    anna, bo = str(uuid.uuid4()), str(uuid.uuid4())
    await register_members(engine, tenant, bo)  # anna is known from her visit
    aid = (await completed(uows, tenant, anna))["appointment_id"]

    async def count() -> int:
        return (await rows(engine, "SELECT count(*) FROM complaints WHERE tenant_id = :t", t=tenant))[0][0]

    for fields, meta, expected in (
        (
            {"description": ""},
            member_md(tenant, anna),
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ),
        (
            {"description": "x", "appointment": f"appointments/{aid}"},
            member_md(tenant, bo),
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),  # not bo's visit
        ),
        (
            {"description": "x", "appointment": f"appointments/{aid}", "store": "stores/s2"},
            member_md(tenant, anna),
            (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),  # not the visit's store
        ),
        (
            {"description": "x", "appointment": f"appointments/{uuid.uuid4()}"},
            member_md(tenant, anna),
            (grpc.StatusCode.NOT_FOUND, "APPOINTMENT_NOT_FOUND"),
        ),
        (
            {"description": "x", "member": f"members/{bo}"},
            member_md(tenant, anna),
            (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_RECORD"),
        ),
        (
            {"description": "x", "member": f"members/{anna}", "store": "stores/s1"},
            md(tenant, roles=("front_desk",), stores=["s2"]),
            (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE"),
        ),
        # every reference is resolved (issue 9, example 3): a member, store or staff booking
        # does not know is NOT_FOUND
        (
            {"description": "x", "member": f"members/{uuid.uuid4()}", "store": "stores/s1"},
            md(tenant),
            (grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND"),
        ),
        (
            {"description": "x", "member": f"members/{anna}", "store": "stores/nowhere"},
            md(tenant),
            (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"),
        ),
        (
            {"description": "x", "member": f"members/{anna}", "staff": "stores/s1/staff/ghost"},
            md(tenant),
            (grpc.StatusCode.NOT_FOUND, "STAFF_NOT_FOUND"),
        ),
    ):
        assert (
            await refused(
                stub.OpenComplaint(
                    pb.OpenComplaintRequest(complaint=feedback_pb2.Complaint(**fields), request_id=rid()),
                    metadata=meta,
                )
            )
            == expected
        ), fields
    assert await count() == 0

    before = datetime.now(UTC)
    opened = await open_(
        stub,
        tenant,
        member_md(tenant, anna),
        "",
        appointment=f"appointments/{aid}",
        category=feedback_pb2.COMPLAINT_CATEGORY_HYGIENE,
    )
    assert (opened.member, opened.store, opened.state, opened.sla_breached) == (
        f"members/{anna}",
        "stores/s1",
        feedback_pb2.COMPLAINT_STATE_OPEN,
        False,
    )
    assert opened.opened_by == f"members/{anna}"
    assert opened.channel == appointments_pb2.BOOKING_CHANNEL_ONLINE
    created = opened.create_time.ToDatetime(tzinfo=UTC)
    assert before <= created and opened.first_response_due_time.ToDatetime(tzinfo=UTC) == created + timedelta(
        minutes=30
    )
    assert not opened.HasField("first_response_time")
    events = [
        e
        for e in await outbox_events(engine, COMPLAINT_OPENED, events_pb2.ComplaintOpened)
        if e.complaint == opened.name
    ]
    assert len(events) == 1 and events[0].category == feedback_pb2.COMPLAINT_CATEGORY_HYGIENE
    assert events[0].first_response_due_time == opened.first_response_due_time

    # staff of another store, members, and staff without the permission may not answer it
    respond = pb.RespondToComplaintRequest(name=opened.name, message="sorry", request_id=rid())
    for meta, expected in (
        (
            md(tenant, roles=("front_desk",), stores=["s2"]),
            (grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE"),
        ),
        (member_md(tenant, anna), (grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")),
        (md(tenant, roles=("marketing",)), (grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")),
    ):
        assert await refused(stub.RespondToComplaint(respond, metadata=meta)) == expected
    assert await refused(
        stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=opened.name, message=" ", request_id=rid()), metadata=md(tenant)
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert await refused(
        stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=f"complaints/{uuid.uuid4()}", message="hi", request_id=rid()),
            metadata=md(tenant),
        )
    ) == (grpc.StatusCode.NOT_FOUND, "COMPLAINT_NOT_FOUND")

    desk = md(tenant, roles=("front_desk",), subject="user:desk", stores=["s1"])
    answered = (await stub.RespondToComplaint(respond, metadata=desk)).complaint
    assert answered.state == feedback_pb2.COMPLAINT_STATE_IN_PROGRESS and not answered.sla_breached
    first = answered.first_response_time
    assert [(r.message, r.author) for r in answered.replies] == [("sorry", "user:desk")]
    again = (
        await stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=opened.name, message="fixed the fan", request_id=rid()),
            metadata=desk,
        )
    ).complaint
    assert [r.message for r in again.replies] == [
        "sorry",
        "fixed the fan",
    ] and again.first_response_time == first

    resolved = (
        await stub.ResolveComplaint(
            pb.ResolveComplaintRequest(name=opened.name, resolution="refunded", request_id=rid()),
            metadata=desk,
        )
    ).complaint
    assert (resolved.state, resolved.resolution) == (feedback_pb2.COMPLAINT_STATE_RESOLVED, "refunded")
    assert resolved.HasField("resolve_time") and resolved.first_response_time == first
    for call in (
        stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=opened.name, message="more", request_id=rid()), metadata=desk
        ),
        stub.ResolveComplaint(
            pb.ResolveComplaintRequest(name=opened.name, resolution="again", request_id=rid()), metadata=desk
        ),
    ):
        assert await refused(call) == (grpc.StatusCode.FAILED_PRECONDITION, "COMPLAINT_RESOLVED")
    events = [
        e
        for e in await outbox_events(engine, COMPLAINT_RESOLVED, events_pb2.ComplaintResolved)
        if e.complaint == opened.name
    ]
    assert len(events) == 1 and events[0].first_response_time == first and not events[0].sla_breached
    assert "refunded" not in str(events[0])

    got = (
        await stub.GetComplaint(pb.GetComplaintRequest(name=opened.name), metadata=member_md(tenant, anna))
    ).complaint
    assert got == resolved
    assert await refused(
        stub.GetComplaint(pb.GetComplaintRequest(name=opened.name), metadata=member_md(tenant, bo))
    ) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_RECORD")

    # Staff record one for a member (no appointment); resolving an open complaint is its first
    # response.
    by_staff = await open_(stub, tenant, desk, bo, store="stores/s1", staff="stores/s1/staff/anna")
    assert (by_staff.opened_by, by_staff.channel) == ("user:desk", appointments_pb2.BOOKING_CHANNEL_STORE)
    assert by_staff.category == feedback_pb2.COMPLAINT_CATEGORY_OTHER
    resolved = (
        await stub.ResolveComplaint(
            pb.ResolveComplaintRequest(name=by_staff.name, resolution="talked", request_id=rid()),
            metadata=desk,
        )
    ).complaint
    assert resolved.first_response_time == resolved.resolve_time and not resolved.sla_breached


async def test_sla_breach_is_raised_exactly_once(server):
    stub, engine, uows, url = server
    tenant = await tenant_with_stores(uows)
    anna = str(uuid.uuid4())
    await register_members(engine, tenant, anna)
    desk = md(tenant, roles=("front_desk",), stores=["s1"])
    quiet = await open_(stub, tenant, member_md(tenant, anna), anna, store="stores/s1")
    late = await open_(stub, tenant, member_md(tenant, anna), anna, store="stores/s1")
    on_time = await open_(stub, tenant, member_md(tenant, anna), anna, store="stores/s1")
    await stub.RespondToComplaint(
        pb.RespondToComplaintRequest(name=on_time.name, message="hi", request_id=rid()), metadata=desk
    )
    ids = {c.name.removeprefix("complaints/") for c in (quiet, late, on_time)}
    async with engine.begin() as conn:  # their deadlines pass
        await conn.execute(
            text(
                "UPDATE complaints SET first_response_due_time = now() - interval '1 minute',"
                " create_time = now() - interval '31 minutes' WHERE complaint_id::text = ANY(:ids)"
            ),
            {"ids": sorted(ids)},
        )
    # A late reply to `late` before any job saw it records the breach itself; the jobs (two
    # engines, racing each other and the server's own runner) record `quiet`'s.
    answered = (
        await stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=late.name, message="sorry, late", request_id=rid()),
            metadata=desk,
        )
    ).complaint
    other = create_async_engine(url)
    try:
        other_uows = booking_uows(other)
        now = datetime.now(UTC)
        for _ in range(2):
            await asyncio.gather(
                *(fb.check_complaint_slas(e, u, now) for e, u in ((engine, uows), (other, other_uows)) * 2)
            )
    finally:
        await other.dispose()
    states = dict(
        await rows(
            engine,
            "SELECT complaint_id::text, sla_breached FROM complaints WHERE tenant_id = :t",
            t=tenant,
        )
    )
    quiet_id, late_id, on_time_id = (c.name.removeprefix("complaints/") for c in (quiet, late, on_time))
    assert states == {quiet_id: True, late_id: True, on_time_id: False}
    assert answered.sla_breached and answered.state == feedback_pb2.COMPLAINT_STATE_IN_PROGRESS

    breaches = [
        e.complaint
        for e in await outbox_events(engine, SLA_BREACHED, events_pb2.ComplaintSlaBreached)
        if e.complaint.removeprefix("complaints/") in ids
    ]
    assert sorted(breaches) == sorted([quiet.name, late.name])
    # a reply after the breach keeps it, with no second event; resolving reports it
    replied = (
        await stub.RespondToComplaint(
            pb.RespondToComplaintRequest(name=quiet.name, message="sorry", request_id=rid()), metadata=desk
        )
    ).complaint
    assert replied.sla_breached and replied.HasField("first_response_time")
    await stub.ResolveComplaint(
        pb.ResolveComplaintRequest(name=quiet.name, resolution="ok", request_id=rid()), metadata=desk
    )
    resolved_events = [
        e
        for e in await outbox_events(engine, COMPLAINT_RESOLVED, events_pb2.ComplaintResolved)
        if e.complaint == quiet.name
    ]
    assert len(resolved_events) == 1 and resolved_events[0].sla_breached
    breaches = [
        e.complaint
        for e in await outbox_events(engine, SLA_BREACHED, events_pb2.ComplaintSlaBreached)
        if e.complaint.removeprefix("complaints/") in ids
    ]
    assert len(breaches) == 2

    # ListComplaints: breached only, by state; a member sees only their own
    async def listed(meta, **filters) -> list[str]:
        out, token = [], ""
        while True:
            page = await stub.ListComplaints(
                pb.ListComplaintsRequest(page_size=2, page_token=token, **filters), metadata=meta
            )
            out += [c.name for c in page.complaints]
            token = page.next_page_token
            if not token:
                return out

    assert sorted(await listed(md(tenant), sla_breached_only=True)) == sorted([quiet.name, late.name])
    assert await listed(md(tenant), states=[feedback_pb2.COMPLAINT_STATE_RESOLVED]) == [quiet.name]
    everything = await listed(md(tenant))
    assert sorted(everything) == sorted([quiet.name, late.name, on_time.name])
    assert await listed(member_md(tenant, str(uuid.uuid4()))) == []
    assert sorted(await listed(member_md(tenant, anna))) == sorted(everything)
    assert await listed(md(tenant, roles=("front_desk",), stores=["s2"])) == []
