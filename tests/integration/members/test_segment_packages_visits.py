"""Segment criteria on facts of other services, through CountSegment / ListSegmentMembers on real
PostgreSQL and NATS: unused package sessions (the wallet's package events) and the last visit
from booking's completed appointments as well as checkouts. The events are published as the
wallet and booking would, and the test waits for the members consumers to handle them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
from peony.booking.v1 import events_pb2 as booking_events
from peony.members.v1 import member_pb2
from peony.members.v1 import segment_pb2 as sg
from peony.wallet.v1 import events_pb2 as wallet_events

from kit.messaging import connect, ensure_stream, new_envelope
from services.members.entrypoints.consumers import BOOKING_VISITS_DURABLE
from tests.integration.members.test_segments import World, _violations, ts
from tests.integration.members.test_spend_and_referrals import eventually

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def js(members) -> AsyncIterator:
    nc, js = await connect(members.nats_url, "members-segment-package-tests")
    await ensure_stream(js, "wallet")
    await ensure_stream(js, "booking")
    try:
        yield js
    finally:
        await nc.close()


@pytest_asyncio.fixture
async def world(members, js) -> World:
    return World(members, js)


def card(member: member_pb2.Member) -> str:
    return f"{member.name}/packages/{uuid.uuid4().hex[:12]}"


def items(**sessions: int) -> list[wallet_events.PackageItemSessions]:
    return [
        wallet_events.PackageItemSessions(service=f"services/{s}", sessions_remaining=n)
        for s, n in sessions.items()
    ]


async def test_package_sessions_remaining_selects_by_unused_sessions(world: World):
    store = await world.members.create_store(world.tenant)
    a, b, c, d, e, none = [await world.register(store) for _ in range(6)]
    # a: a card of 5 facials and 2 massages, then one facial used -> facial 4, all 6
    pa = card(a)
    await world.publish(
        wallet_events.PackageSold(member=a.name, package=pa, items=items(facial=5, massage=2)), "s1"
    )
    await world.publish(
        wallet_events.PackageSessionConsumed(
            member=a.name, package=pa, service="services/facial", sessions=1, sessions_remaining=4
        ),
        "c1",
    )
    # b: one facial, refunded -> 0
    pb_ = card(b)
    await world.publish(wallet_events.PackageSold(member=b.name, package=pb_, items=items(facial=1)), "s2")
    await world.publish(wallet_events.PackageRefunded(member=b.name, package=pb_, sessions=1), "r2")
    # c: three facials, transferred to d -> c 0, d 3
    pc = card(c)
    await world.publish(wallet_events.PackageSold(member=c.name, package=pc, items=items(facial=3)), "s3")
    await world.publish(
        wallet_events.PackageTransferred(
            from_member=c.name,
            from_package=pc,
            to_member=d.name,
            to_package=card(d),
            sessions=3,
            to_items=items(facial=3),
        ),
        "t3",
    )
    # e: one massage used up, then given back by a refunded checkout -> 1
    pe = card(e)
    await world.publish(wallet_events.PackageSold(member=e.name, package=pe, items=items(massage=1)), "s4")
    await world.publish(
        wallet_events.PackageSessionConsumed(
            member=e.name, package=pe, service="services/massage", sessions=1, sessions_remaining=0
        ),
        "c4",
    )
    await world.publish(
        wallet_events.PackageSessionsRestored(
            member=e.name, package=pe, service="services/massage", sessions=1, sessions_remaining=1
        ),
        "x4",
    )

    def sessions(service: str = "", **bounds: int) -> sg.SegmentFilter:
        return sg.SegmentFilter(
            home_stores=[store],
            package_sessions_remaining=sg.PackageSessionsRange(
                service=service, range=sg.Int64Range(**bounds)
            ),
        )

    async def selects(f: sg.SegmentFilter, expected: list[member_pb2.Member]) -> None:
        assert await world.count(f) == len(expected), f
        assert sorted(await world.names(f, page_size=2)) == sorted(m.name for m in expected), f

    await selects(sessions(min=1), [a, d, e])
    await selects(sessions(min=6), [a])
    await selects(sessions("services/facial", min=4), [a])
    await selects(sessions("services/facial", min=3, max=3), [d])
    await selects(sessions("services/massage", min=1), [a, e])
    await selects(sessions(max=0), [b, c, none])
    await selects(sessions("services/pedicure", min=1), [])

    bad = [
        (sg.PackageSessionsRange(), "filter.package_sessions_remaining.range"),
        (
            sg.PackageSessionsRange(range=sg.Int64Range(min=3, max=1)),
            "filter.package_sessions_remaining.range",
        ),
        (
            sg.PackageSessionsRange(range=sg.Int64Range(max=100_001)),
            "filter.package_sessions_remaining.range",
        ),
        (sg.PackageSessionsRange(range=sg.Int64Range(min=-1)), "filter.package_sessions_remaining.range"),
        (
            sg.PackageSessionsRange(service="facial", range=sg.Int64Range(min=1)),
            "filter.package_sessions_remaining.service",
        ),
    ]
    for criterion, field in bad:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await world.count(sg.SegmentFilter(package_sessions_remaining=criterion))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in _violations(err.value), (criterion, _violations(err.value))


async def publish_completed(world: World, member: member_pb2.Member, store: str, at: datetime) -> None:
    appointment_id = str(uuid.uuid4())
    event = booking_events.AppointmentCompleted(
        appointment=f"appointments/{appointment_id}", member=member.name, store=store, complete_time=ts(at)
    )
    envelope = new_envelope(
        event, tenant=world.tenant, aggregate_type="appointment", aggregate_id=appointment_id
    )
    await world.js.publish(
        "peony.booking.AppointmentCompleted",
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": envelope.event_id},
    )

    async def handled() -> bool:
        rows = await world.sql(
            "SELECT count(*) FROM inbox WHERE event_id = :e AND consumer = :c",
            e=uuid.UUID(envelope.event_id),
            c=BOOKING_VISITS_DURABLE,
        )
        return rows[0][0] == 1

    await eventually(handled, within=60, what="AppointmentCompleted handled")


async def test_a_completed_appointment_is_a_visit(world: World):
    now = datetime.now(UTC)
    store = await world.members.create_store(world.tenant)
    booked, checked_out, both, neither = [await world.register(store) for _ in range(4)]
    await publish_completed(world, booked, store, now - timedelta(days=10))
    await world.checkout(checked_out, store, 1_000, now - timedelta(days=10))
    await world.checkout(both, store, 1_000, now - timedelta(days=40))
    await publish_completed(world, both, store, now - timedelta(days=3))
    # an older appointment arriving late does not move the last visit back
    await publish_completed(world, both, store, now - timedelta(days=50))

    def f(**kw) -> sg.SegmentFilter:
        return sg.SegmentFilter(home_stores=[store], **kw)

    assert sorted(await world.names(f(visited_within_days=15))) == sorted(
        [booked.name, checked_out.name, both.name]
    )
    assert await world.names(f(visited_within_days=5)) == [both.name]
    assert sorted(await world.names(f(no_visit_for_days=7))) == sorted([booked.name, checked_out.name])
    # the one who never visited counts only with include_never_visited, once registered long enough
    lapsed = f(no_visit_for_days=7, include_never_visited=True)
    assert neither.name not in await world.names(lapsed)
    assert neither.name in await world.names(lapsed, as_of=now + timedelta(days=8))


async def test_a_completed_appointment_ends_a_lapse_episode(world: World):
    """The lapse programme counts an appointment as the visit that ends the episode:
    MemberReturned once, naming the appointment."""
    from peony.members.v1 import events_pb2 as members_events

    from kit.config import load_config
    from kit.crypto import PiiCipher
    from kit.db import session_factory
    from kit.messaging import EventEnvelope, unpack
    from kit.uow import UnitOfWorkFactory
    from services.members.service_layer.lapse import LapseSettings, run_lapses
    from services.members.service_layer.unit_of_work import MembersUnitOfWork

    members = world.members
    cipher = PiiCipher(
        load_config("members", {"PEONY_MEMBERS_DATABASE_URL": members.database_url}).pii_master_key
    )
    uows = UnitOfWorkFactory(MembersUnitOfWork, session_factory(members.db), service="members", cipher=cipher)
    store = await members.create_store(world.tenant)
    member = await world.register(store)
    t0 = datetime.now(UTC)
    await world.checkout(member, store, 1_000, t0 - timedelta(days=61))
    await run_lapses(members.db, uows, t0, LapseSettings.from_env({}))

    async def events(kind) -> list:
        rows = await world.sql(
            "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq",
            t=world.tenant,
            e=kind.DESCRIPTOR.full_name,
        )
        return [unpack(EventEnvelope.FromString(r.payload), kind) for r in rows]

    assert [e.member for e in await events(members_events.MemberLapsed)] == [member.name]
    await publish_completed(world, member, store, t0 - timedelta(hours=1))
    returned = await events(members_events.MemberReturned)
    assert len(returned) == 1
    assert (returned[0].member, returned[0].lapsed_days, returned[0].checkout) == (member.name, 60, "")
    assert returned[0].appointment.startswith("appointments/")
    # the checkout of the same visit ends nothing more
    await world.checkout(member, store, 1_000, t0 - timedelta(minutes=30))
    assert len(await events(members_events.MemberReturned)) == 1
