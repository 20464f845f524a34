"""The segment facts kept on the member's row (last visit, points, stored value, unused package
sessions) and per member and service (``member_service_sessions``) follow the wallet's events, and
segments read from them select exactly the members the earlier definition (a join of
``member_activity`` and a sum over ``member_package_sessions``) selected.

Real members service, PostgreSQL and NATS JetStream; events are published to the wallet stream as
the wallet's relay would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from peony.members.v1 import segment_pb2 as sg
from peony.wallet.v1 import events_pb2 as wallet_events

from kit.messaging import connect, ensure_stream, new_envelope
from services.members.entrypoints.consumers import ENGAGEMENT_DURABLE, WALLET_DURABLE
from tests.integration.members.test_segment_packages_visits import card, items
from tests.integration.members.test_segments import World, ts
from tests.integration.members.test_spend_and_referrals import eventually

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def js(members) -> AsyncIterator:
    nc, js = await connect(members.nats_url, "members-segment-facts-tests")
    await ensure_stream(js, "wallet")
    try:
        yield js
    finally:
        await nc.close()


@pytest_asyncio.fixture
async def world(members, js) -> World:
    return World(members, js)


def member_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


async def publish_all(
    world: World, envelopes, *, msg_suffix: str = "", consumer: str = ENGAGEMENT_DURABLE
) -> None:
    """Publishes every envelope, then waits until ``consumer`` has handled each."""
    for envelope in envelopes:
        subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
        await world.js.publish(
            subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id + msg_suffix}
        )
    ids = [uuid.UUID(e.event_id) for e in envelopes]

    async def handled() -> bool:
        rows = await world.sql(
            "SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY(:e) AND consumer = :c",
            e=ids,
            c=consumer,
        )
        return rows[0][0] == len(set(ids))

    await eventually(handled, within=120, what=f"{len(ids)} events handled")


def envelope(world: World, event):
    return new_envelope(event, tenant=world.tenant, aggregate_type="wallet", aggregate_id=str(uuid.uuid4()))


async def row_facts(world: World, name: str) -> dict:
    rows = await world.sql(
        "SELECT last_visit_at, points_available, stored_value_minor, package_sessions_remaining"
        " FROM members WHERE tenant_id = :t AND member_id = :m",
        t=world.tenant,
        m=uuid.UUID(member_id(name)),
    )
    return dict(rows[0]._mapping)


async def reference_facts(world: World, name: str) -> dict:
    """The same facts from the projection tables they are copied / summed from."""
    rows = await world.sql(
        """
        SELECT a.last_visit_at, coalesce(a.points_available, 0) AS points_available,
               coalesce(a.stored_value_minor, 0) AS stored_value_minor,
               (SELECT coalesce(sum(p.sessions_remaining), 0) FROM member_package_sessions p
                 WHERE p.tenant_id = m.tenant_id AND p.member_id = m.member_id)
                   AS package_sessions_remaining
        FROM members m LEFT JOIN member_activity a USING (tenant_id, member_id)
        WHERE m.tenant_id = :t AND m.member_id = :m
        """,
        t=world.tenant,
        m=uuid.UUID(member_id(name)),
    )
    return dict(rows[0]._mapping)


async def service_totals(world: World, name: str) -> dict[str, int]:
    rows = await world.sql(
        "SELECT service_id, sessions_remaining FROM member_service_sessions"
        " WHERE tenant_id = :t AND member_id = :m",
        t=world.tenant,
        m=uuid.UUID(member_id(name)),
    )
    return {r.service_id: r.sessions_remaining for r in rows if r.sessions_remaining}


async def test_member_row_facts_follow_the_events_once(world: World):
    store = await world.members.create_store(world.tenant)
    a = await world.register(store)
    now = datetime.now(UTC).replace(microsecond=0)
    visit = now - timedelta(days=10)

    def checkout(at: datetime):
        return envelope(
            world,
            wallet_events.CheckoutCompleted(
                checkout=f"checkouts/{uuid.uuid4()}",
                member=a.name,
                store=store,
                total_minor=100,
                qualifying_spend_minor=100,
                currency_code="CNY",
                create_time=ts(at),
            ),
        )

    earned = envelope(world, wallet_events.PointsEarned(member=a.name, points=300, points_available=300))
    first_card, second_card = card(a), card(a)
    sold = envelope(
        world, wallet_events.PackageSold(member=a.name, package=first_card, items=items(facial=5, massage=2))
    )
    await publish_all(world, [checkout(visit), earned, sold])
    await publish_all(
        world,
        [
            checkout(visit - timedelta(days=30)),  # an older visit: the last visit stays
            envelope(world, wallet_events.PointsRedeemed(member=a.name, points=200, points_available=100)),
            envelope(
                world, wallet_events.BalanceChanged(member=a.name, principal_minor=5000, bonus_minor=500)
            ),
            envelope(
                world, wallet_events.PackageSold(member=a.name, package=second_card, items=items(facial=3))
            ),
        ],
    )
    facts = await row_facts(world, a.name)
    assert facts == {
        "last_visit_at": visit,
        "points_available": 100,
        "stored_value_minor": 5500,
        "package_sessions_remaining": 10,
    }
    assert await service_totals(world, a.name) == {"facial": 8, "massage": 2}

    # Redelivery: the very same envelopes again (another broker message id, so the stream keeps
    # them): the inbox and the event-time guards leave every figure as it is.
    await publish_all(world, [earned, sold], msg_suffix="-again")
    # The same sale again under a new event id (a re-sent fact): the card counts once.
    resent = envelope(
        world, wallet_events.PackageSold(member=a.name, package=first_card, items=items(facial=5, massage=2))
    )
    await publish_all(world, [resent])
    assert await row_facts(world, a.name) == facts
    assert await service_totals(world, a.name) == {"facial": 8, "massage": 2}

    # a facial used on the first card, the second card refunded
    await publish_all(
        world,
        [
            envelope(
                world,
                wallet_events.PackageSessionConsumed(
                    member=a.name,
                    package=first_card,
                    service="services/facial",
                    sessions=1,
                    sessions_remaining=4,
                ),
            )
        ],
    )
    await publish_all(
        world,
        [envelope(world, wallet_events.PackageRefunded(member=a.name, package=second_card, sessions=3))],
    )
    facts = await row_facts(world, a.name)
    assert facts["package_sessions_remaining"] == 6
    assert await service_totals(world, a.name) == {"facial": 4, "massage": 2}
    assert facts == await reference_facts(world, a.name)

    facial_4 = sg.SegmentFilter(
        home_stores=[store],
        package_sessions_remaining=sg.PackageSessionsRange(
            service="services/facial", range=sg.Int64Range(min=4, max=4)
        ),
    )
    assert await world.names(facial_4) == [a.name]


# ----------------------------------------------------------------------------------------------
# A randomised population: the new single-table criteria against the earlier join definition.

REFERENCE = """
SELECT m.member_id::text AS member_id
FROM members m LEFT JOIN member_activity a USING (tenant_id, member_id)
LEFT JOIN (SELECT member_id, sum(qualifying_spend_minor) AS spend,
                  sum(visit::int - full_refund::int) AS visits
           FROM member_spend WHERE tenant_id = :t AND occurred_at > :window_start
             AND occurred_at <= :as_of GROUP BY member_id) w USING (member_id)
LEFT JOIN (SELECT member_id, sum(sessions_remaining) AS total,
                  sum(sessions_remaining) FILTER (WHERE service_id = 'facial') AS facial
           FROM member_package_sessions WHERE tenant_id = :t GROUP BY member_id) p USING (member_id)
WHERE m.tenant_id = :t AND m.state = 'active' AND ({criterion})
"""


async def test_segments_on_the_member_row_select_what_the_join_selected(world: World):
    rng = random.Random(1307)
    store = await world.members.create_store(world.tenant)
    population = [await world.register(store) for _ in range(18)]
    now = datetime.now(UTC).replace(microsecond=0)
    as_of = now + timedelta(days=100)  # registrations are then 100 days old: never-visited can lapse
    envelopes, refunds = [], []
    for m in population:
        for _ in range(rng.choice([0, 0, 1, 2, 3, 4])):
            at = now - timedelta(days=rng.randrange(0, 200), hours=rng.randrange(24))
            spend = rng.randrange(0, 100_000)
            checkout = f"checkouts/{uuid.uuid4()}"
            envelopes.append(
                envelope(
                    world,
                    wallet_events.CheckoutCompleted(
                        checkout=checkout,
                        member=m.name,
                        store=store,
                        total_minor=spend,
                        qualifying_spend_minor=spend,
                        currency_code="CNY",
                        create_time=ts(at),
                    ),
                )
            )
            if rng.random() < 0.25:  # refunded, in full or in part (counted at the checkout's time)
                full = rng.random() < 0.5
                refunds.append(
                    envelope(
                        world,
                        wallet_events.CheckoutRefunded(
                            checkout=checkout,
                            refund=f"{checkout}/refunds/{uuid.uuid4().hex[:8]}",
                            member=m.name,
                            store=store,
                            qualifying_spend_minor=spend if full else spend // 2,
                            full=full,
                            currency_code="CNY",
                        ),
                    )
                )
        if rng.random() < 0.7:
            envelopes.append(
                envelope(
                    world,
                    wallet_events.PointsEarned(
                        member=m.name, points=1, points_available=rng.randrange(0, 1000)
                    ),
                )
            )
        if rng.random() < 0.7:
            envelopes.append(
                envelope(
                    world,
                    wallet_events.BalanceChanged(
                        member=m.name,
                        principal_minor=rng.randrange(0, 50_000),
                        bonus_minor=rng.randrange(0, 5000),
                    ),
                )
            )
        for _ in range(rng.choice([0, 0, 1, 2])):
            envelopes.append(
                envelope(
                    world,
                    wallet_events.PackageSold(
                        member=m.name,
                        package=card(m),
                        items=items(facial=rng.randrange(0, 5), massage=rng.randrange(0, 3)),
                    ),
                )
            )
    await publish_all(world, envelopes)
    checkouts = [e for e in envelopes if e.event_type.endswith("CheckoutCompleted")]
    await publish_all(world, checkouts, consumer=WALLET_DURABLE)  # the spend rows
    await publish_all(world, refunds, consumer=WALLET_DURABLE)  # after their checkouts

    cases: list[tuple[sg.SegmentFilter, str, dict]] = []
    for days in (30, 60, 90, 150):
        cutoff = as_of - timedelta(days=days)
        cases.append(
            (
                sg.SegmentFilter(no_visit_for_days=days),
                "a.last_visit_at < :cutoff",
                {"cutoff": cutoff},
            )
        )
        cases.append(
            (
                sg.SegmentFilter(no_visit_for_days=days, include_never_visited=True),
                "a.last_visit_at < :cutoff OR (a.last_visit_at IS NULL AND m.create_time < :cutoff)",
                {"cutoff": cutoff},
            )
        )
        cases.append(
            (
                sg.SegmentFilter(visited_within_days=days + 100),
                "a.last_visit_at >= :since AND a.last_visit_at <= :as_of",
                {"since": as_of - timedelta(days=days + 100), "as_of": as_of},
            )
        )
    for low, high in ((0, 300), (200, 800), (1, 0)):
        bounds = sg.Int64Range(min=low, max=high) if high else sg.Int64Range(min=low)
        cond = "BETWEEN :low AND :high" if high else ">= :low"
        cases.append(
            (
                sg.SegmentFilter(points_balance=bounds),
                f"coalesce(a.points_available, 0) {cond}",
                {"low": low, "high": high},
            )
        )
    for low, high in ((0, 20_000), (10_000, 40_000)):
        cases.append(
            (
                sg.SegmentFilter(stored_value_balance=sg.Int64Range(min=low, max=high)),
                "coalesce(a.stored_value_minor, 0) BETWEEN :low AND :high",
                {"low": low, "high": high},
            )
        )
    for service, column in (("", "total"), ("services/facial", "facial")):
        for low, high in ((0, 0), (1, 3), (2, 100), (0, 4)):
            cases.append(
                (
                    sg.SegmentFilter(
                        package_sessions_remaining=sg.PackageSessionsRange(
                            service=service, range=sg.Int64Range(min=low, max=high)
                        )
                    ),
                    f"coalesce(p.{column}, 0) BETWEEN :low AND :high",
                    {"low": low, "high": high},
                )
            )
    cases.append(  # several criteria together
        (
            sg.SegmentFilter(
                no_visit_for_days=60,
                include_never_visited=True,
                points_balance=sg.Int64Range(min=100),
                package_sessions_remaining=sg.PackageSessionsRange(range=sg.Int64Range(min=1)),
            ),
            "(a.last_visit_at < :cutoff OR (a.last_visit_at IS NULL AND m.create_time < :cutoff))"
            " AND coalesce(a.points_available, 0) >= 100 AND coalesce(p.total, 0) >= 1",
            {"cutoff": as_of - timedelta(days=60)},
        )
    )
    for days, low_spend, low_visits in ((150, 50_000, 1), (200, 1, 2), (300, 0, 0), (130, 20_000, 0)):
        window = {"window_start": as_of - timedelta(days=days)}
        spend = sg.WindowedRange(window_days=days, range=sg.Int64Range(min=low_spend))
        visits = sg.WindowedRange(window_days=days, range=sg.Int64Range(min=low_visits))
        cases.append(
            (sg.SegmentFilter(spend=spend), "coalesce(w.spend, 0) >= :low", {"low": low_spend, **window})
        )
        cases.append(
            (sg.SegmentFilter(visits=visits), "coalesce(w.visits, 0) >= :low", {"low": low_visits, **window})
        )
        cases.append(
            (
                sg.SegmentFilter(home_stores=[store], spend=spend, visits=visits),
                "coalesce(w.spend, 0) >= :low AND coalesce(w.visits, 0) >= :visits",
                {"low": low_spend, "visits": low_visits, **window},
            )
        )
    cases.append(  # an upper bound only: members without spend (0) are in
        (
            sg.SegmentFilter(spend=sg.WindowedRange(window_days=150, range=sg.Int64Range(max=60_000))),
            "coalesce(w.spend, 0) <= :high",
            {"high": 60_000, "window_start": as_of - timedelta(days=150)},
        )
    )
    nonempty = 0
    for f, criterion, params in cases:
        params = {"window_start": as_of - timedelta(days=90), **params, "as_of": as_of}
        rows = await world.sql(REFERENCE.format(criterion=criterion), t=world.tenant, **params)
        expected = sorted(f"members/{r.member_id}" for r in rows)
        nonempty += bool(expected) and len(expected) < len(population)
        assert await world.count(f, as_of=as_of) == len(expected), (f, criterion)
        assert sorted(await world.names(f, as_of=as_of, page_size=4)) == expected, (f, criterion)
    assert nonempty >= len(cases) // 2  # the population is varied enough to tell criteria apart
