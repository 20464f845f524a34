"""The lapse programme on real PostgreSQL and NATS JetStream, time controlled by the test.

Visits arrive as the wallet's CheckoutCompleted (published to the wallet stream, handled by the
members service's own engagement-facts consumer); ``run_lapses(now)`` is called at chosen
instants. What the programme did is read from the members outbox (MemberLapsed, MemberReturned).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from peony.members.v1 import events_pb2 as members_events
from sqlalchemy import text

from kit.config import load_config
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.messaging import EventEnvelope, connect, ensure_stream, unpack
from kit.uow import UnitOfWorkFactory
from services.members.service_layer.lapse import LapseSettings, run_lapses
from services.members.service_layer.unit_of_work import MembersUnitOfWork
from tests.integration.members.test_segments import World

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def js(members):
    nc, js = await connect(members.nats_url, "members-lapse-tests")
    await ensure_stream(js, "wallet")
    try:
        yield js
    finally:
        await nc.close()


async def _events(world: World, kind) -> list:
    rows = await world.sql(
        "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq",
        t=world.tenant,
        e=kind.DESCRIPTOR.full_name,
    )
    return [unpack(EventEnvelope.FromString(r.payload), kind) for r in rows]


async def test_lapse_fires_once_per_threshold_and_episode_and_a_visit_ends_it(members, js):
    world = World(members, js)
    cipher = PiiCipher(
        load_config("members", {"PEONY_MEMBERS_DATABASE_URL": members.database_url}).pii_master_key
    )
    uows = UnitOfWorkFactory(MembersUnitOfWork, session_factory(members.db), service="members", cipher=cipher)
    store = await members.create_store(world.tenant)
    regular = await world.register(store)
    never = await world.register(store)
    t0 = datetime.now(UTC)
    await world.checkout(regular, store, 10_000, t0)

    async def run(at: datetime) -> None:
        await run_lapses(members.db, uows, at, LapseSettings.from_env({}))

    async def lapsed() -> list[tuple[str, int]]:
        return [(e.member, e.days) for e in await _events(world, members_events.MemberLapsed)]

    await run(t0 + timedelta(days=59, hours=23))
    assert await lapsed() == []
    await run(t0 + timedelta(days=60, minutes=1))
    await run(t0 + timedelta(days=75))  # the same episode: nothing new
    assert sorted(await lapsed()) == sorted([(regular.name, 60), (never.name, 60)])
    await asyncio.gather(run(t0 + timedelta(days=90, minutes=1)), run(t0 + timedelta(days=90, minutes=1)))
    assert sorted(await lapsed()) == sorted(
        [(regular.name, 60), (never.name, 60), (regular.name, 90), (never.name, 90)]
    )
    events = await _events(world, members_events.MemberLapsed)
    assert events[0].store == store

    # The member visits: the episode ends (MemberReturned, once), and a new one starts from the visit.
    back = t0 + timedelta(days=95)
    await world.checkout(regular, store, 20_000, back)
    returned = await _events(world, members_events.MemberReturned)
    assert [(e.member, e.lapsed_days) for e in returned] == [(regular.name, 90)]
    await world.checkout(regular, store, 5_000, back + timedelta(days=1))  # not lapsed now: nothing
    assert len(await _events(world, members_events.MemberReturned)) == 1
    await run(back + timedelta(days=30))
    assert len(await lapsed()) == 4
    await run(back + timedelta(days=61, minutes=1))
    assert (regular.name, 60) in (await lapsed())[4:]
    # A member first seen past both thresholds gets only the larger one.
    late = await world.register(store)
    await world.checkout(late, store, 1_000, t0 - timedelta(days=200))
    await run(t0 + timedelta(days=1))
    assert [d for m, d in await lapsed() if m == late.name] == [90]

    with pytest.raises(ValueError):
        LapseSettings.from_env({"PEONY_MEMBERS_LAPSE_DAYS": "0,abc"})
    async with members.db.connect() as conn:
        runs = (
            await conn.execute(
                text("SELECT count(*) FROM programme_runs WHERE tenant_id = :t AND programme LIKE 'lapse%'"),
                {"t": world.tenant},
            )
        ).scalar()
    assert runs == len(await lapsed())
