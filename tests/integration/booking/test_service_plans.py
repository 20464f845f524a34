"""Service plans and their follow-ups over real PostgreSQL and NATS: the plan RPCs (validation,
permissions, paging, update masks), follow-ups scheduled once per (completed appointment, plan),
their remind instants computed in the store's zone across DST changes (10:00 local stays 10:00),
concurrent job runners firing each `FollowUpDue` exactly once, a booking process SIGKILLed
mid-run and restarted still firing every follow-up once, and the skips (plan deactivated, the
follow-up service already booked)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.booking.v1 import appointments_pb2, events_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.messaging import EventEnvelope
from kit.messaging.envelope import unpack
from services.booking.service_layer import appointments as appts
from services.booking.service_layer import plans
from services.booking.service_layer import policy as booking_policy
from services.booking.service_layer.policy import DEFAULTS
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.support.booking import (
    booking_database,
    booking_process,
    booking_uows,
    drained,
    md,
    member_md,
    reason_of,
    register_members,
    rid,
    rows,
    running_booking,
    times_published,
)

pytestmark = pytest.mark.integration
FOLLOW_UP_DUE = "peony.booking.v1.FollowUpDue"
ALL_WEEK = [{"day": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]
NY, SH = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")


# --- helpers (test_feedback.py uses them too) ---------------------------------------------------


async def refused(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), reason_of(info.value)


async def seed(uows, tenant: str, stores: dict[str, str]) -> None:
    """Services facial and essence, and staff anna (08:00-20:00 every day) in each store."""

    async def go(uow: BookingUnitOfWork) -> None:
        for service_id, name in (("facial", "Facial"), ("essence", "Essence care")):
            await uow.catalog.add_service(
                service_id=service_id,
                display_name=name,
                duration_minutes=30,
                list_price_minor=10_000,
                currency_code="CNY",
            )
        for store, tz in stores.items():
            await uow.catalog.put_store_zone(store, tz)
            await uow.catalog.add_staff(
                store_id=store, staff_id="anna", display_name="Anna", weekly_hours=ALL_WEEK
            )

    await uows.run(tenant, go)


async def visit(
    uows,
    tenant: str,
    store: str,
    start_utc: datetime,
    *,
    member: str | None = None,
    services=("facial",),
    complete_at: datetime | None = None,
) -> dict:
    """Books (as of a day before the start) and, with `complete_at`, completes an appointment."""

    member = member or str(uuid.uuid4())

    async def go(uow: BookingUnitOfWork) -> dict:
        await register_members(uow, tenant, member)
        row = await appts.book_appointment(
            uow,
            member=member,
            store=store,
            service_ids=list(services),
            staff=None,
            start_utc=start_utc,
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            staff_override=True,
            now=start_utc - timedelta(days=1),
        )
        if complete_at is not None:
            await appts.complete_appointment(uow, row["appointment_id"], now=complete_at)
        return row

    return await uows.run(tenant, go)


async def add_plan(uows, tenant: str, plan_id: str = "facial-essence", *, after: int = 7, before: int = 1):
    async def go(uow: BookingUnitOfWork):
        return await plans.create_plan(
            uow,
            plan_id=plan_id,
            display_name="Facial → essence care",
            trigger_service_id="facial",
            follow_up_service_id="essence",
            follow_up_after_days=after,
            remind_days_before=before,
            now=datetime.now(UTC),
        )

    return await uows.run(tenant, go)


def local(day: date, hh: int, zone: ZoneInfo, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), zone).astimezone(UTC)


async def outbox_events(engine, event_type: str, message_cls) -> list:
    got = await rows(engine, "SELECT payload FROM outbox WHERE event_type = :e ORDER BY seq", e=event_type)
    return [unpack(EventEnvelope.FromString(payload), message_cls) for (payload,) in got]


# --- the remind instant ------------------------------------------------------------------------


def test_remind_instant_keeps_the_local_wall_time_across_dst():
    # Completed Monday 2 March (EST); due 9 March; reminded Sunday 8 March, the day clocks go
    # forward: 10:00 EDT is 14:00Z (a fixed 24 h arithmetic from EST would say 15:00Z).
    due, at = plans.follow_up_schedule(local(date(2026, 3, 2), 11, NY), NY, 7, 1, time(10))
    assert (due, at) == (date(2026, 3, 9), datetime(2026, 3, 8, 14, tzinfo=UTC))
    # Completed 26 October (EDT); reminded Sunday 1 November, the day clocks go back: 10:00 EST.
    due, at = plans.follow_up_schedule(local(date(2026, 10, 26), 11, NY), NY, 7, 1, time(10))
    assert (due, at) == (date(2026, 11, 2), datetime(2026, 11, 1, 15, tzinfo=UTC))
    # The local completion date counts, not the UTC one: 01:00 on 2 March in Shanghai is still
    # 1 March in UTC.
    due, at = plans.follow_up_schedule(datetime(2026, 3, 1, 17, tzinfo=UTC), SH, 7, 1, time(10))
    assert (due, at) == (date(2026, 3, 9), datetime(2026, 3, 8, 2, tzinfo=UTC))
    # 0 days before = on the due date; a remind time in the spring-forward gap moves to 03:00 EDT.
    due, at = plans.follow_up_schedule(local(date(2026, 3, 1), 11, NY), NY, 7, 0, time(2, 30))
    assert (due, at) == (date(2026, 3, 8), datetime(2026, 3, 8, 7, tzinfo=UTC))
    assert plans.remind_time_of("bad") == time(10) and plans.remind_time_of("09:30") == time(9, 30)


async def test_follow_ups_fire_at_ten_local_across_dst_and_in_shanghai(infra):
    _, engine, uows = await booking_database(infra, "plans_time")
    tenant = "plans-time"
    try:
        await seed(uows, tenant, {"ny": "America/New_York", "sh": "Asia/Shanghai"})
        await add_plan(uows, tenant)
        assert DEFAULTS.follow_up_remind_time == "10:00"
        march = await visit(
            uows, tenant, "ny", local(date(2026, 3, 2), 9, NY), complete_at=local(date(2026, 3, 2), 11, NY)
        )
        november = await visit(
            uows,
            tenant,
            "ny",
            local(date(2026, 10, 26), 9, NY),
            complete_at=local(date(2026, 10, 26), 11, NY),
        )
        shanghai = await visit(
            uows,
            tenant,
            "sh",
            local(date(2026, 3, 1), 19, SH),
            complete_at=datetime(2026, 3, 1, 17, tzinfo=UTC),
        )
        expected = {
            march["appointment_id"]: (date(2026, 3, 9), datetime(2026, 3, 8, 14, tzinfo=UTC), NY),
            november["appointment_id"]: (date(2026, 11, 2), datetime(2026, 11, 1, 15, tzinfo=UTC), NY),
            shanghai["appointment_id"]: (date(2026, 3, 9), datetime(2026, 3, 8, 2, tzinfo=UTC), SH),
        }
        got = {
            r.aid: r
            for r in await rows(
                engine, "SELECT *, appointment_id::text AS aid, follow_up_id::text AS fid FROM follow_ups"
            )
        }
        assert set(got) == set(expected)
        for appointment_id, (due, remind, zone) in expected.items():
            row = got[appointment_id]
            assert (row.due_date, row.remind_utc, row.time_zone, row.state) == (
                due,
                remind,
                str(zone),
                "scheduled",
            )
            assert row.remind_utc.astimezone(zone).time() == time(10)

        # The scheduler fires each at its instant, not a microsecond before.
        for appointment_id, (_, remind, _) in sorted(expected.items(), key=lambda x: x[1][1]):
            before = await plans.fire_follow_ups(engine, uows, remind - timedelta(microseconds=1))
            assert before == 0
            assert await plans.fire_follow_ups(engine, uows, remind) == 1
            state = await rows(
                engine,
                "SELECT state, resolve_time FROM follow_ups WHERE appointment_id = :a",
                a=appointment_id,
            )
            assert state == [("fired", remind)]
        assert await plans.fire_follow_ups(engine, uows, datetime(2027, 1, 1, tzinfo=UTC)) == 0

        events = await outbox_events(engine, FOLLOW_UP_DUE, events_pb2.FollowUpDue)
        assert len(events) == 3
        by_source = {e.source_appointment.removeprefix("appointments/"): e for e in events}
        for appointment_id, (due, _, zone) in expected.items():
            e = by_source[appointment_id]
            assert (e.due_date, e.time_zone) == (due.isoformat(), str(zone))
            assert e.follow_up == f"followUps/{got[appointment_id].fid}"
            assert (e.service_plan, e.follow_up_service) == (
                "servicePlans/facial-essence",
                "services/essence",
            )
            assert e.follow_up_service_display_name == "Essence care"
            assert e.member == f"members/{got[appointment_id].member_id}"
    finally:
        await engine.dispose()


async def test_the_tenant_policy_sets_the_remind_time(infra):
    _, engine, uows = await booking_database(infra, "plans_policy")
    tenant = "plans-policy"
    try:
        await seed(uows, tenant, {"ny": "America/New_York"})
        await add_plan(uows, tenant)

        async def set_policy(uow):
            await booking_policy.update_policy(uow, {"follow_up_remind_time": "08:45"}, datetime.now(UTC))

        await uows.run(tenant, set_policy)
        start = local(date(2026, 3, 2), 9, NY)
        done = await visit(uows, tenant, "ny", start, complete_at=start + timedelta(hours=1))
        got = await rows(
            engine, "SELECT remind_utc FROM follow_ups WHERE appointment_id = :a", a=done["appointment_id"]
        )
        assert got == [(datetime(2026, 3, 8, 12, 45, tzinfo=UTC),)]  # 08:45 EDT
    finally:
        await engine.dispose()


# --- scheduling and skipping --------------------------------------------------------------------


async def test_on_completed_schedules_once_per_plan_and_skips(infra):
    _, engine, uows = await booking_database(infra, "plans_schedule")
    tenant = "plans-schedule"
    try:
        await seed(uows, tenant, {"sh": "Asia/Shanghai"})
        await add_plan(uows, tenant, "a")
        await add_plan(uows, tenant, "b", after=14, before=0)
        await add_plan(uows, tenant, "inactive")

        async def deactivate(uow):
            await plans.update_plan(uow, "inactive", {"active": False}, datetime.now(UTC))

        await uows.run(tenant, deactivate)
        start = local(date(2026, 5, 4), 10, SH)
        done = await visit(uows, tenant, "sh", start, complete_at=start + timedelta(hours=1))
        # `essence` alone triggers nothing
        await visit(
            uows,
            tenant,
            "sh",
            start + timedelta(hours=2),
            services=("essence",),
            complete_at=start + timedelta(hours=3),
        )

        async def again(uow):
            row = await uow.appointments.get(done["appointment_id"])
            return await plans.on_completed(uow, row, datetime.now(UTC), DEFAULTS)

        follow_ups = [plans.follow_up_to_proto(r) for r in await uows.run(tenant, again)]
        # a repeated call schedules nothing new
        assert sorted(f.service_plan for f in follow_ups) == ["servicePlans/a", "servicePlans/b"]
        assert {f.state for f in follow_ups} == {appointments_pb2.FOLLOW_UP_STATE_SCHEDULED}
        b = next(f for f in follow_ups if f.service_plan == "servicePlans/b")
        assert b.due_date == "2026-05-18"  # 14 days, reminded on the day itself
        assert b.remind_time.ToDatetime(tzinfo=UTC) == local(date(2026, 5, 18), 10, SH)
        assert (await rows(engine, "SELECT count(*) FROM follow_ups"))[0][0] == 2

        # Plan b deactivated: its follow-up is skipped at once. The member books essence for
        # after the completion: plan a's follow-up is skipped when due.
        async def stop_b(uow):
            await plans.update_plan(uow, "b", {"active": False}, datetime.now(UTC))

        await uows.run(tenant, stop_b)
        await visit(
            uows, tenant, "sh", start + timedelta(days=3), member=done["member_id"], services=("essence",)
        )
        assert await plans.fire_follow_ups(engine, uows, datetime(2027, 1, 1, tzinfo=UTC)) == 0
        states = dict(await rows(engine, "SELECT plan_id, state FROM follow_ups"))
        assert states == {"a": "skipped", "b": "skipped"}
        assert await outbox_events(engine, FOLLOW_UP_DUE, events_pb2.FollowUpDue) == []
    finally:
        await engine.dispose()


async def test_concurrent_runners_fire_each_follow_up_exactly_once(infra):
    url, engine, uows = await booking_database(infra, "plans_once")
    other = create_async_engine(url)
    tenant = "plans-once"
    try:
        await seed(uows, tenant, {"sh": "Asia/Shanghai"})
        await add_plan(uows, tenant, "a")
        await add_plan(uows, tenant, "b", after=30)
        start = local(date(2026, 6, 1), 9, SH)
        for i in range(8):
            at = start + timedelta(minutes=30 * i)
            await visit(uows, tenant, "sh", at, complete_at=at + timedelta(minutes=30))
        other_uows = booking_uows(other)
        now = datetime(2027, 1, 1, tzinfo=UTC)
        fired = 0
        for _ in range(2):
            fired += sum(
                await asyncio.gather(
                    *(plans.fire_follow_ups(e, u, now) for e, u in ((engine, uows), (other, other_uows)) * 2)
                )
            )
        assert fired == 16
        assert await rows(engine, "SELECT state, count(*) FROM follow_ups GROUP BY state") == [("fired", 16)]
        per_follow_up = await rows(
            engine,
            "SELECT aggregate_id, count(*) FROM outbox WHERE event_type = :e GROUP BY 1",
            e=FOLLOW_UP_DUE,
        )
        assert len(per_follow_up) == 16 and {n for _, n in per_follow_up} == {1}
    finally:
        await other.dispose()
        await engine.dispose()


async def test_sigkill_mid_run_fires_every_follow_up_once(infra, tmp_path):
    url, engine, uows = await booking_database(infra, "plans_kill")
    tenant = "plans-kill"
    await seed(uows, tenant, {"sh": "Asia/Shanghai"})
    await add_plan(uows, tenant, "a")
    await add_plan(uows, tenant, "b", after=30)
    start = local(date(2026, 6, 1), 8, SH)
    for i in range(16):
        at = start + timedelta(minutes=30 * i)
        await visit(uows, tenant, "sh", at, complete_at=at + timedelta(minutes=30))
    total = 32

    booking = booking_process(url, infra.nats_url, tmp_path / "booking.log")
    booking.start()
    try:
        # 32 follow-ups come due one every 0.15 s from now, over ~5 s
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE follow_ups f SET remind_utc = now() + x.n * interval '150 milliseconds'"
                    " FROM (SELECT follow_up_id, row_number() OVER (ORDER BY follow_up_id) AS n"
                    " FROM follow_ups) x WHERE f.follow_up_id = x.follow_up_id"
                )
            )
        await asyncio.sleep(2.0)
        booking.signal(signal.SIGKILL)  # mid-run
        booking.wait(10)
        fired_before = (await rows(engine, "SELECT count(*) FROM follow_ups WHERE state = 'fired'"))[0][0]
        assert 0 < fired_before < total, fired_before
        await asyncio.sleep(0.5)
        booking.start()

        pending = await drained(engine, "follow_ups")
        assert pending == 0, booking.log_tail()
    finally:
        booking.stop()

    try:
        states = await rows(engine, "SELECT state, resolve_time IS NOT NULL FROM follow_ups")
        assert len(states) == total and set(states) == {("fired", True)}
        outbox = await rows(
            engine, "SELECT event_id, aggregate_id FROM outbox WHERE event_type = :e", e=FOLLOW_UP_DUE
        )
        follow_up_ids = {r[0] for r in await rows(engine, "SELECT follow_up_id::text FROM follow_ups")}
        assert sorted(a for _, a in outbox) == sorted(follow_up_ids)  # one event per follow-up
        event_ids = {str(event_id) for event_id, _ in outbox}
    finally:
        await engine.dispose()

    # every FollowUpDue reached the booking stream exactly once (by event id)
    seen = await times_published(infra.nats_url, event_ids)
    assert set(seen) == event_ids and set(seen.values()) == {1}


# --- the RPCs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def server(infra):
    async with running_booking(infra, "plans_rpc") as server:
        yield server.stub, server.engine, server.uows


def plan_msg(**overrides) -> appointments_pb2.ServicePlan:
    values = {
        "display_name": "Facial → essence care",
        "trigger_service": "services/facial",
        "follow_up_service": "services/essence",
        "follow_up_after_days": 7,
    }
    values.update(overrides)
    return appointments_pb2.ServicePlan(**values)


async def test_plan_rpcs_validate_authorise_and_page(server):
    stub, engine, uows = server
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    await seed(uows, tenant, {"s1": "Asia/Shanghai"})
    admin = md(tenant)

    created = (
        await stub.CreateServicePlan(
            pb.CreateServicePlanRequest(service_plan=plan_msg(), service_plan_id="fe", request_id=rid()),
            metadata=admin,
        )
    ).service_plan
    assert (created.name, created.remind_days_before, created.active) == ("servicePlans/fe", 1, True)
    assert created.HasField("create_time")
    got = (
        await stub.GetServicePlan(pb.GetServicePlanRequest(name="servicePlans/fe"), metadata=admin)
    ).service_plan
    assert got == created

    def count():
        return rows(engine, "SELECT count(*) FROM service_plans WHERE tenant_id = :t", t=tenant)

    bad = [
        (plan_msg(follow_up_after_days=0), "", admin, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (plan_msg(remind_days_before=31), "", admin, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (plan_msg(trigger_service="facial"), "", admin, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (plan_msg(display_name=" "), "", admin, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (plan_msg(), "Bad_Id", admin, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            plan_msg(follow_up_service="services/nope"),
            "",
            admin,
            grpc.StatusCode.NOT_FOUND,
            "SERVICE_NOT_FOUND",
        ),
        (plan_msg(), "fe", admin, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS"),
        (
            plan_msg(),
            "",
            md(tenant, roles=("store_manager",), stores=["s1"]),
            grpc.StatusCode.PERMISSION_DENIED,
            "HQ_SCOPE_REQUIRED",
        ),
        (
            plan_msg(),
            "",
            md(tenant, roles=("front_desk",), stores=["s1"]),
            grpc.StatusCode.PERMISSION_DENIED,
            "MISSING_PERMISSION",
        ),
    ]
    for plan, plan_id, meta, code, reason in bad:
        assert await refused(
            stub.CreateServicePlan(
                pb.CreateServicePlanRequest(service_plan=plan, service_plan_id=plan_id, request_id=rid()),
                metadata=meta,
            )
        ) == (code, reason), (plan, plan_id)
    assert (await count())[0][0] == 1
    assert await refused(
        stub.GetServicePlan(pb.GetServicePlanRequest(name="servicePlans/nope"), metadata=admin)
    ) == (grpc.StatusCode.NOT_FOUND, "SERVICE_PLAN_NOT_FOUND")

    # Update: the mask names the fields; an empty mask takes the set ones.
    update = pb.UpdateServicePlanRequest(
        service_plan=plan_msg(name="servicePlans/fe", follow_up_after_days=10, remind_days_before=0),
        update_mask=field_mask_pb2.FieldMask(paths=["follow_up_after_days", "remind_days_before"]),
        request_id=rid(),
    )
    updated = (await stub.UpdateServicePlan(update, metadata=admin)).service_plan
    assert (updated.follow_up_after_days, updated.remind_days_before, updated.active) == (10, 0, True)
    updated = (
        await stub.UpdateServicePlan(
            pb.UpdateServicePlanRequest(
                service_plan=appointments_pb2.ServicePlan(name="servicePlans/fe", display_name="Renamed"),
                request_id=rid(),
            ),
            metadata=admin,
        )
    ).service_plan
    assert (updated.display_name, updated.follow_up_after_days) == ("Renamed", 10)
    for paths, plan, code, reason in (
        (
            ["create_time"],
            plan_msg(name="servicePlans/fe"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            ["follow_up_after_days"],
            plan_msg(name="servicePlans/fe", follow_up_after_days=0),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            ["trigger_service"],
            plan_msg(name="servicePlans/fe", trigger_service="services/nope"),
            grpc.StatusCode.NOT_FOUND,
            "SERVICE_NOT_FOUND",
        ),
        (["active"], plan_msg(name="servicePlans/nope"), grpc.StatusCode.NOT_FOUND, "SERVICE_PLAN_NOT_FOUND"),
    ):
        assert await refused(
            stub.UpdateServicePlan(
                pb.UpdateServicePlanRequest(
                    service_plan=plan, update_mask=field_mask_pb2.FieldMask(paths=paths), request_id=rid()
                ),
                metadata=admin,
            )
        ) == (code, reason), paths
    assert (
        await rows(engine, "SELECT trigger_service_id FROM service_plans WHERE tenant_id = :t", t=tenant)
    ) == [("facial",)]

    # Paging: 5 more plans (one triggered by essence, one inactive), pages of 2.
    for i in range(4):
        await stub.CreateServicePlan(
            pb.CreateServicePlanRequest(
                service_plan=plan_msg(trigger_service="services/essence" if i == 0 else "services/facial"),
                service_plan_id=f"p{i}",
                request_id=rid(),
            ),
            metadata=admin,
        )
    await stub.UpdateServicePlan(
        pb.UpdateServicePlanRequest(
            service_plan=appointments_pb2.ServicePlan(name="servicePlans/p3", active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=rid(),
        ),
        metadata=admin,
    )

    async def all_pages(**filters) -> list[str]:
        names, token = [], ""
        while True:
            page = await stub.ListServicePlans(
                pb.ListServicePlansRequest(page_size=2, page_token=token, **filters), metadata=admin
            )
            names += [p.name.removeprefix("servicePlans/") for p in page.service_plans]
            token = page.next_page_token
            if not token:
                return names

    assert await all_pages() == ["fe", "p0", "p1", "p2"]
    assert await all_pages(show_inactive=True) == ["fe", "p0", "p1", "p2", "p3"]
    assert await all_pages(trigger_service="services/facial") == ["fe", "p1", "p2"]
    page = await stub.ListServicePlans(pb.ListServicePlansRequest(page_size=2), metadata=admin)
    assert await refused(
        stub.ListServicePlans(
            pb.ListServicePlansRequest(page_size=2, page_token=page.next_page_token, show_inactive=True),
            metadata=admin,
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_list_follow_ups_scoped_to_the_member_and_the_store(server):
    stub, _, uows = server
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    await seed(uows, tenant, {"s1": "Asia/Shanghai", "s2": "Asia/Shanghai"})
    await add_plan(uows, tenant, "a")
    await add_plan(uows, tenant, "b", after=30)
    anna, bo = str(uuid.uuid4()), str(uuid.uuid4())
    start = local(datetime.now(SH).date() - timedelta(days=2), 10, SH)
    for member, store, hours in ((anna, "s1", 0), (anna, "s2", 1), (bo, "s1", 2)):
        at = start + timedelta(hours=hours)
        await visit(uows, tenant, store, at, member=member, complete_at=at + timedelta(minutes=30))

    async def listed(meta, **filters) -> list[appointments_pb2.FollowUp]:
        out, token = [], ""
        while True:
            page = await stub.ListFollowUps(
                pb.ListFollowUpsRequest(page_size=2, page_token=token, **filters), metadata=meta
            )
            out += page.follow_ups
            token = page.next_page_token
            if not token:
                return out

    everything = await listed(md(tenant))
    assert len(everything) == 6
    times = [f.remind_time.ToDatetime() for f in everything]
    assert times == sorted(times)  # by remind_time
    mine = await listed(member_md(tenant, anna))
    assert len(mine) == 4 and {f.member for f in mine} == {f"members/{anna}"}
    # a member's own filter is forced to themselves
    assert await refused(
        stub.ListFollowUps(pb.ListFollowUpsRequest(member=f"members/{bo}"), metadata=member_md(tenant, anna))
    ) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_RECORD")
    desk = md(tenant, roles=("front_desk",), stores=["s2"])
    assert {f.store for f in await listed(desk)} == {"stores/s2"}
    assert await refused(stub.ListFollowUps(pb.ListFollowUpsRequest(store="stores/s1"), metadata=desk)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "STORE_OUT_OF_SCOPE",
    )
    only_b = await listed(md(tenant), service_plan="servicePlans/b", member=f"members/{bo}")
    completed_on = (start + timedelta(hours=2, minutes=30)).astimezone(SH).date()
    assert len(only_b) == 1 and only_b[0].due_date == (completed_on + timedelta(days=30)).isoformat()
    scheduled = await listed(md(tenant), state=appointments_pb2.FOLLOW_UP_STATE_SCHEDULED)
    assert len(scheduled) == 6
    assert await listed(md(tenant), state=appointments_pb2.FOLLOW_UP_STATE_FIRED) == []

    # CompleteAppointment (the lifecycle) schedules them in its transaction and returns them.
    pending = await visit(uows, tenant, "s2", start + timedelta(hours=3), member=bo)
    reply = await stub.CompleteAppointment(
        pb.CompleteAppointmentRequest(name=f"appointments/{pending['appointment_id']}", request_id=rid()),
        metadata=md(tenant),
    )
    assert reply.appointment.state == appointments_pb2.APPOINTMENT_STATE_COMPLETED
    assert sorted(f.service_plan for f in reply.follow_ups) == ["servicePlans/a", "servicePlans/b"]
    listed_now = {f.name: f for f in await listed(md(tenant), member=f"members/{bo}")}
    assert all(listed_now[f.name] == f for f in reply.follow_ups) and len(listed_now) == 4
