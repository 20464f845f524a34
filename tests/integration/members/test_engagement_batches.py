"""The engagement-facts consumer's batch path (a run of ``BalanceChanged`` / ``Points*`` /
``CheckoutCompleted`` events applied set-based) keeps exactly the projection the per-event path
keeps: each member's value of the newest event by event time (of equal times the later in the
stream), the latest visit, older and repeated events changing nothing, copied onto the member's
row; and a visit that ends a lapsed episode is one ``MemberReturned``, as one by one.

Real members service, PostgreSQL and NATS JetStream. The first test drives both paths' handlers on
the database with the same random runs (duplicates, ties, out-of-order times, several members and
tenants, a member the service does not know) and compares what they keep; the others publish to
the wallet stream as the wallet's relay would and read the projection back.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from peony.members.v1 import events_pb2 as members_events
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy import text

from kit.db import session_factory
from kit.messaging import EventEnvelope, connect, ensure_stream, event_type_of, new_envelope, unpack
from services.members.entrypoints.consumers import ENGAGEMENT_DURABLE, engagement_events
from services.members.service_layer.lapse import episode_key
from tests.integration.members.test_segment_facts import publish_all
from tests.integration.members.test_segments import World, ts
from tests.integration.members.test_spend_and_referrals import eventually

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MEMBERS_PER_TENANT = 4


@pytest_asyncio.fixture(scope="module")
async def js(members) -> AsyncIterator:
    nc, js = await connect(members.nats_url, "members-engagement-batch-tests")
    await ensure_stream(js, "wallet")
    try:
        yield js
    finally:
        await nc.close()


def engagement_event(kind: str, member: str, value: int, at: datetime):
    if kind == "visit":
        return wallet_events.CheckoutCompleted(
            checkout=f"checkouts/{uuid.UUID(int=value)}",
            member=member,
            store="stores/s1",
            total_minor=100,
            qualifying_spend_minor=100,
            currency_code="CNY",
            create_time=ts(at),
        )
    return balance_event(kind, member, value)


def balance_event(kind: str, member: str, value: int):
    if kind == "stored_value":
        # principal + bonus is the stored value kept
        return wallet_events.BalanceChanged(
            member=member, principal_minor=value - value // 3, bonus_minor=value // 3
        )
    cls = {
        "earned": wallet_events.PointsEarned,
        "redeemed": wallet_events.PointsRedeemed,
        "expired": wallet_events.PointsExpired,
    }[kind]
    return cls(member=member, points=1, points_available=value)


def random_run(rng: random.Random, slots: int, length: int) -> list[tuple[int, str, int, int]]:
    """(member slot, kind, value, minutes after BASE): few distinct times, so ties are common;
    some events repeated verbatim, runs of one type long enough to batch."""
    run: list[tuple[int, str, int, int]] = []
    while len(run) < length:
        kind = rng.choice(["stored_value", "stored_value", "visit", "visit", "earned", "redeemed", "expired"])
        for _ in range(rng.randint(1, 8)):
            fact = (rng.randrange(slots), kind, rng.randint(0, 10**9), rng.randint(0, 6))
            run.append(fact)
            if rng.random() < 0.15:
                run.append(fact)  # the same fact again (a copy the inbox did not catch)
    return run


async def projection(world: World, tenants: list[str], slots: list[list[str]]) -> list[tuple]:
    """What each member slot keeps, in member_activity and on the member's row."""
    out = []
    for tenant, ids in zip(tenants, slots, strict=True):
        for member_id in ids:
            activity = await world.sql(
                "SELECT points_available, points_as_of, stored_value_minor, stored_value_as_of, last_visit_at"
                " FROM member_activity WHERE tenant_id = :t AND member_id = :m",
                t=tenant,
                m=uuid.UUID(member_id),
            )
            row = await world.sql(
                "SELECT points_available, stored_value_minor, last_visit_at FROM members"
                " WHERE tenant_id = :t AND member_id = :m",
                t=tenant,
                m=uuid.UUID(member_id),
            )
            out.append((tuple(activity[0]) if activity else None, tuple(row[0]) if row else None))
    return out


async def lapsed_episodes(world: World, tenant: str, ids: list[str]) -> None:
    """Every member of ``tenant`` lapsed in its current episode (slot 0 also before any visit), so
    the next later visit of each is a ``MemberReturned``."""
    for slot, member_id in enumerate(ids):
        kept = await world.sql(
            "SELECT last_visit_at FROM member_activity WHERE tenant_id = :t AND member_id = :m",
            t=tenant,
            m=uuid.UUID(member_id),
        )
        last = kept[0][0] if kept else None
        if last is None and slot != 0:
            continue
        async with world.members.db.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO programme_runs (tenant_id, programme, member_id, period)"
                    " VALUES (:t, 'lapse_60', :m, :p) ON CONFLICT DO NOTHING"
                ),
                {"t": tenant, "m": uuid.UUID(member_id), "p": episode_key(last)},
            )


async def returns(world: World, tenant: str, ids: list[str]) -> list[tuple]:
    """The tenant's MemberReturned events in outbox order, members as their slots."""
    rows = await world.sql(
        "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq",
        t=tenant,
        e=event_type_of(members_events.MemberReturned),
    )
    out = []
    for (payload,) in rows:
        event = unpack(EventEnvelope.FromString(payload), members_events.MemberReturned)
        slot = ids.index(event.member.rsplit("/", 1)[-1])
        out.append((slot, event.lapsed_days, event.visit_time.ToDatetime(), event.checkout))
    return out


class Model:
    """The rule in plain Python, fact by fact: per member, each balance of the newest event (a later
    one of equal time wins), the latest visit; in ``projection``'s shape (a member without any
    event has no ``member_activity`` row; the member the service does not know has no row)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[int, int], dict[str, tuple]] = {}

    def apply(self, facts) -> list[tuple]:
        for t, slot, kind, value, minutes in facts:
            at = BASE + timedelta(minutes=minutes)
            kept = self.kept.setdefault((t, slot), {})
            if kind == "visit":
                kept["visit"] = max(kept.get("visit", at), at)
                continue
            column = "stored_value" if kind == "stored_value" else "points"
            if column not in kept or kept[column][1] <= at:
                kept[column] = (value, at)
        out = []
        for t in range(2):
            for slot in range(MEMBERS_PER_TENANT + 1):
                kept = self.kept.get((t, slot))
                points, points_as_of = kept.get("points", (0, None)) if kept else (0, None)
                value, value_as_of = kept.get("stored_value", (0, None)) if kept else (0, None)
                visit = kept.get("visit") if kept else None
                activity = (points, points_as_of, value, value_as_of, visit) if kept else None
                row = (points, value, visit) if slot < MEMBERS_PER_TENANT else None
                out.append((activity, row))
        return out


async def test_batch_path_keeps_what_the_per_event_path_keeps_for_random_runs(members, js):
    world = World(members, js)
    # Two tenants per path; each tenant: registered members plus one the service does not know.
    per_event_tenants = [f"t-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    batch_tenants = [f"t-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    slots: dict[str, list[str]] = {}
    for tenant in per_event_tenants + batch_tenants:
        world.tenant = tenant
        store = await members.create_store(tenant)
        registered = [
            (await world.register(store)).name.rsplit("/", 1)[-1] for _ in range(MEMBERS_PER_TENANT)
        ]
        slots[tenant] = [*registered, str(uuid.uuid4())]
    sessions = session_factory(members.db)
    one = engagement_events.handler()
    many = engagement_events.batch_handlers()
    rng = random.Random(20261207)

    returned = 0
    model = Model()
    for _ in range(6):  # rounds on top of what the earlier rounds kept: older events change nothing
        for tenant in per_event_tenants + batch_tenants:
            await lapsed_episodes(world, tenant, slots[tenant])
        # (tenant index, member slot, kind, value, minutes after BASE)
        facts = [
            (rng.randrange(2), *fact) for fact in random_run(rng, MEMBERS_PER_TENANT + 1, rng.randint(5, 60))
        ]

        def envelopes(tenants: list[str], facts=facts):
            return [
                new_envelope(
                    engagement_event(
                        kind, f"members/{slots[tenants[t]][slot]}", value, BASE + timedelta(minutes=minutes)
                    ),
                    tenant=tenants[t],
                    aggregate_type="wallet",
                    aggregate_id=slots[tenants[t]][slot],
                    occurred_at=BASE + timedelta(minutes=minutes),
                )
                for t, slot, kind, value, minutes in facts
            ]

        for envelope in envelopes(per_event_tenants):  # one transaction per event, stream order
            async with sessions() as session, session.begin():
                await one(session, envelope)

        batched = envelopes(batch_tenants)
        async with sessions() as session, session.begin():
            i = 0
            while i < len(batched):  # runs of one type, as the consumer hands them over
                j = i
                while j < len(batched) and batched[j].event_type == batched[i].event_type:
                    j += 1
                await many[batched[i].event_type](session, batched[i:j])
                i = j

        per_event = await projection(world, per_event_tenants, [slots[t] for t in per_event_tenants])
        batch = await projection(world, batch_tenants, [slots[t] for t in batch_tenants])
        assert batch == per_event
        assert per_event == model.apply(facts)
        for one_by_one, batched_tenant in zip(per_event_tenants, batch_tenants, strict=True):
            expected = await returns(world, one_by_one, slots[one_by_one])
            assert await returns(world, batched_tenant, slots[batched_tenant]) == expected
            returned += len(expected)
    assert returned, "no visit ended a lapse: the lapse half tests nothing"
    assert any(kept[0] is not None for kept in per_event), "the runs kept nothing: the test tests nothing"


async def test_published_runs_keep_each_members_newest_balance(members, js):
    """Through the wallet stream: interleaved members, out-of-order times, ties (the later in the
    stream wins), a second copy of an event and a malformed one in the middle of the run."""
    world = World(members, js)
    store = await members.create_store(world.tenant)
    people = [(await world.register(store)).name for _ in range(3)]
    rng = random.Random(7)
    envelopes, expected_points, expected_value = [], {}, {}
    for n in range(90):
        name = people[n % 3]
        at = BASE + timedelta(minutes=rng.randint(0, 20))
        value = rng.randint(0, 10**6)
        kind = "stored_value" if n < 60 else "earned"
        envelopes.append(
            new_envelope(
                balance_event(kind, name, value),
                tenant=world.tenant,
                aggregate_type="wallet",
                aggregate_id=name.rsplit("/", 1)[-1],
                occurred_at=at,
            )
        )
        expected = expected_value if kind == "stored_value" else expected_points
        if name not in expected or expected[name][0] <= at:
            expected[name] = (at, value)
    bad = new_envelope(
        wallet_events.BalanceChanged(member="members/not-a-uuid", principal_minor=5),
        tenant=world.tenant,
        aggregate_type="wallet",
        aggregate_id="not-a-uuid",
    )
    with_bad = [*envelopes[:30], bad, *envelopes[30:]]
    # Everything published before the consumer sees it: fetched and applied in runs.
    await publish_all(world, with_bad[:1])  # the tenant's first event alone
    for envelope in with_bad[1:]:
        subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
        await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id})
    await publish_all(world, envelopes[10:20], msg_suffix="-copy")  # copies: the inbox drops them

    async def all_good_handled() -> bool:
        rows = await world.sql(
            "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:e)",
            c=ENGAGEMENT_DURABLE,
            e=[uuid.UUID(e.event_id) for e in envelopes],
        )
        return rows[0][0] == len(envelopes)

    await eventually(all_good_handled, within=120, what="the good events handled")
    for name in people:
        rows = await world.sql(
            "SELECT m.stored_value_minor, m.points_available, a.stored_value_as_of, a.points_as_of"
            " FROM members m JOIN member_activity a USING (tenant_id, member_id)"
            " WHERE m.tenant_id = :t AND m.member_id = :m",
            t=world.tenant,
            m=uuid.UUID(name.rsplit("/", 1)[-1]),
        )
        assert tuple(rows[0]) == (
            expected_value[name][1],
            expected_points[name][1],
            expected_value[name][0],
            expected_points[name][0],
        )
    # the malformed event is not applied (it is retried, then dead-lettered)
    rows = await world.sql(
        "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e",
        c=ENGAGEMENT_DURABLE,
        e=uuid.UUID(bad.event_id),
    )
    assert rows[0][0] == 0
