"""The tier anniversary review (domain.md §2): under the AUTOMATIC downgrade policy a member is
reviewed once per anniversary of reaching their tier, after the grace period, at local midnight
of their home store; who no longer qualifies drops, with a TierChange and one TierChanged whose
reason says why. Real PostgreSQL and NATS; the members service runs its own review worker (every
0.3 s here); spend arrives as wallet events. Time passing is simulated by moving `tier_since`
and the spend rows back (the only SQL writes here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
import pytest_asyncio
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from peony.members.v1 import tier_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import load_config, to_async_url
from kit.messaging import connect, ensure_stream
from services.members.entrypoints.app import build
from services.members.entrypoints.consumers import wallet_events_consumer
from tests.integration.members.conftest import MembersUnderTest
from tests.integration.members.test_spend_and_referrals import Wallet, _tenant, eventually, rid
from tests.integration.members.test_tier_reevaluation import (
    changes,
    ladder,
    listed_reason_codes,
    reason_codes,
    spent,
    update_ladder,
)

pytestmark = pytest.mark.integration

EAST = "Pacific/Kiritimati"  # UTC+14
WEST = "Pacific/Pago_Pago"  # UTC-11


@pytest_asyncio.fixture(scope="module")
async def members(infra) -> AsyncIterator[MembersUnderTest]:
    """A members service whose anniversary worker looks for due members every 0.3 s."""
    url = to_async_url(await infra.amigrated_database("members"))
    config = load_config(
        "members",
        {
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_MEMBERS_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            "PEONY_MEMBERS_TIER_REVIEW_INTERVAL_SECONDS": "0.3",
        },
    )
    runner = await build(config)
    port = await runner.start()
    addr = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(addr)
    db = create_async_engine(url)
    try:
        yield MembersUnderTest(addr, pb_grpc.MembersServiceStub(channel), channel, db, url, infra.nats_url)
    finally:
        await channel.close()
        await db.dispose()
        await runner.stop()


@pytest_asyncio.fixture(scope="module")
async def feed(members) -> AsyncIterator[Wallet]:
    nc, js = await connect(members.nats_url, "members-tier-anniversary-tests")
    await ensure_stream(js, "wallet")
    consumer = wallet_events_consumer(members.db, js, fetch_timeout=1.0, backoff=(0.2, 0.5))
    await consumer.start()
    try:
        yield Wallet(nc, js, consumer, members)
    finally:
        await consumer.stop()
        await nc.close()


def mid(member) -> str:
    return member.name.split("/")[1]


async def age_tier(members, tenant: str, member, tier_since: datetime, *, spend_days_back: int = 0) -> None:
    """The member has held their tier since ``tier_since``; their spend moved ``spend_days_back``
    days into the past (out of the qualification window when more than a year)."""
    async with members.db.begin() as conn:
        await conn.execute(
            text("UPDATE members SET tier_since = :s WHERE tenant_id = :t AND member_id = :m"),
            {"s": tier_since, "t": tenant, "m": mid(member)},
        )
        if spend_days_back:
            await conn.execute(
                text(
                    "UPDATE member_spend SET occurred_at = occurred_at - make_interval(days => :d)"
                    " WHERE tenant_id = :t AND member_id = :m"
                ),
                {"d": spend_days_back, "t": tenant, "m": mid(member)},
            )


async def reviewed(feed: Wallet, tenant: str, member) -> list[tuple[int, str, str]]:
    rows = await feed.rows(
        "SELECT anniversary, outcome, to_tier_id FROM tier_anniversary_reviews"
        " WHERE tenant_id = :t AND member_id = :m ORDER BY anniversary",
        t=tenant,
        m=mid(member),
    )
    return [(r.anniversary, r.outcome, r.to_tier_id) for r in rows]


async def history(members, tenant: str, member) -> list[tuple[str, str, str]]:
    resp = await members.stub.ListTierChanges(
        pb.ListTierChangesRequest(parent=member.name), metadata=members.auth(tenant)
    )
    return [(c.from_tier_id, c.to_tier_id, c.reason) for c in resp.tier_changes]


async def automatic(members, tenant: str, grace_days: int) -> None:
    await update_ladder(
        members, tenant, ladder(policy=tier_pb2.DOWNGRADE_POLICY_AUTOMATIC, grace_days=grace_days)
    )


async def test_the_anniversary_review_downgrades_who_no_longer_qualifies_once_after_the_grace(
    members, feed: Wallet
):
    tenant = _tenant()
    store = await members.create_store(tenant)
    now = datetime.now(UTC)
    lapsed = await spent(members, feed, tenant, store, 2_500)  # silver; spend now out of window
    loyal = await spent(members, feed, tenant, store, 2_500)  # silver; still spends
    in_grace = await spent(members, feed, tenant, store, 2_500)  # lapsed, but in the grace period
    staff_set = await spent(members, feed, tenant, store, 2_500)
    await members.stub.SetMemberTier(
        pb.SetMemberTierRequest(name=staff_set.name, tier_id="gold", reason="VIP by HQ", request_id=rid()),
        metadata=members.auth(tenant),
    )
    await age_tier(members, tenant, lapsed, now - timedelta(days=400), spend_days_back=400)
    await age_tier(members, tenant, loyal, now - timedelta(days=400))
    await age_tier(members, tenant, in_grace, now - timedelta(days=380), spend_days_back=380)
    await age_tier(members, tenant, staff_set, now - timedelta(days=400), spend_days_back=400)
    before = len(await changes(feed, tenant))

    await automatic(members, tenant, grace_days=30)

    async def lapsed_reviewed() -> bool:
        return bool(await reviewed(feed, tenant, lapsed)) and bool(await reviewed(feed, tenant, loyal))

    await eventually(lapsed_reviewed, what="the due members reviewed")
    await asyncio.sleep(1.5)  # several more worker ticks: nothing is reviewed twice
    reason = "anniversary review: no longer qualifies for silver (anniversary 1)"
    assert await reviewed(feed, tenant, lapsed) == [(1, "downgraded", "regular")]
    assert await reviewed(feed, tenant, loyal) == [(1, "kept", "silver")]
    assert await reviewed(feed, tenant, in_grace) == []  # 380 days < a year + 30 days of grace
    assert await reviewed(feed, tenant, staff_set) == []  # staff-set tiers are never reviewed
    assert await feed.tier(tenant, lapsed) == "regular"
    assert await feed.tier(tenant, loyal) == "silver"
    assert await feed.tier(tenant, in_grace) == "silver"
    assert await feed.tier(tenant, staff_set) == "gold"
    assert (await changes(feed, tenant))[before:] == [(lapsed.name, "silver", "regular", reason)]
    assert (await reason_codes(feed, tenant))[before:] == [tier_pb2.TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE]
    assert (await history(members, tenant, lapsed))[-1] == ("silver", "regular", reason)
    assert (await listed_reason_codes(members, tenant, lapsed))[-1] == (
        tier_pb2.TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE
    )


async def test_under_the_never_policy_nobody_is_reviewed(members, feed: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    lapsed = await spent(members, feed, tenant, store, 2_500)
    await age_tier(members, tenant, lapsed, datetime.now(UTC) - timedelta(days=800), spend_days_back=800)
    await update_ladder(members, tenant, ladder(policy=tier_pb2.DOWNGRADE_POLICY_NEVER))
    await asyncio.sleep(1.5)
    assert await reviewed(feed, tenant, lapsed) == []
    assert await feed.tier(tenant, lapsed) == "silver"


def due_in(zone: str, tier_since: datetime, now: datetime, grace_days: int) -> bool:
    """The rule in calendar terms: local date `grace` days ago is at least one year after the
    local date of `tier_since` (an independent oracle for the SQL)."""
    z = ZoneInfo(zone)
    start = tier_since.astimezone(z).date()
    today = (now.astimezone(z) - timedelta(days=grace_days)).date()
    return today >= start.replace(year=start.year + 1)


async def test_the_anniversary_is_at_local_midnight_of_the_home_store(members, feed: Wallet):
    tenant = _tenant()
    east = await members.create_store(tenant, tz=EAST)
    west = await members.create_store(tenant, tz=WEST)
    now = datetime.now(UTC)
    # Local midnight in the east, one year ago plus a day: in the east the anniversary is
    # tomorrow; in the west (25 hours behind) that instant is a local date a day earlier.
    east_today = now.astimezone(ZoneInfo(EAST)).date()
    first_day = east_today.replace(year=east_today.year - 1) + timedelta(days=1)
    since = datetime.combine(first_day, time(0, 0), tzinfo=ZoneInfo(EAST)).astimezone(UTC)
    in_east = await spent(members, feed, tenant, east, 2_500)
    in_west = await spent(members, feed, tenant, west, 2_500)
    await age_tier(members, tenant, in_east, since, spend_days_back=400)
    await age_tier(members, tenant, in_west, since, spend_days_back=400)
    expect_east, expect_west = due_in(EAST, since, now, 0), due_in(WEST, since, now, 0)
    assert not expect_east
    await automatic(members, tenant, grace_days=0)

    if expect_west:

        async def west_done() -> bool:
            return bool(await reviewed(feed, tenant, in_west))

        await eventually(west_done, what="the western member reviewed")
    await asyncio.sleep(1.5)
    assert await reviewed(feed, tenant, in_east) == []
    assert await feed.tier(tenant, in_east) == "silver"
    assert await feed.tier(tenant, in_west) == ("regular" if expect_west else "silver")
