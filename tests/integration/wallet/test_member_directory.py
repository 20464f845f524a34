"""The wallet's member directory, fed by real members events through the wallet's durable consumer.

One wallet database and one running consumer for the module (the durable ``wallet-members-events``
is one per NATS server); every test uses a tenant of its own and waits for its own events in the
inbox before asserting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import tier_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.config import to_async_url
from kit.errors import InvalidArgument, NotFound
from kit.members_client import MemberFacts
from kit.messaging import EventConsumer, EventEnvelope, connect, ensure_stream, new_envelope, short_name
from services.wallet.adapters.member_directory import MemberDirectory, MemberNotYetRegistered, MemberTierView
from services.wallet.entrypoints.consumers import MEMBERS_DURABLE, members_events_consumer

pytestmark = pytest.mark.integration
_S = timedelta(seconds=1)
_MIN = timedelta(minutes=1)


@dataclass
class Wallet:
    engine: AsyncEngine
    nc: NATS
    js: JetStreamContext
    consumer: EventConsumer


@pytest_asyncio.fixture(scope="module")
async def wallet(infra) -> AsyncIterator[Wallet]:
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_dir"))
    engine = create_async_engine(url)
    nc, js = await connect(infra.nats_url, "wallet-directory-tests")
    await ensure_stream(js, "members")
    # Short retry delays: the "TierChanged before MemberRegistered" test waits for a redelivery.
    consumer = members_events_consumer(engine, js, backoff=(0.2, 0.5, 1.0), fetch_timeout=1.0)
    await consumer.start()
    try:
        yield Wallet(engine, nc, js, consumer)
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def benefits(discount_bps: int, multiplier: int) -> tier_pb2.TierBenefits:
    return tier_pb2.TierBenefits(discount_bps=discount_bps, points_multiplier_permille=multiplier)


def registered(
    tenant: str, member_id: str, *, tier: str = "silver", b=(300, 1000), store="s1"
) -> EventEnvelope:
    event = members_events.MemberRegistered(
        member=f"members/{member_id}",
        member_number="M00000042",
        display_name="小美",
        home_store=f"stores/{store}",
        tier_id=tier,
        tier_benefits=benefits(*b),
    )
    return new_envelope(event, tenant=tenant, aggregate_type="member", aggregate_id=member_id)


def tier_changed(tenant: str, member_id: str, tier: str, b: tuple[int, int]) -> EventEnvelope:
    event = members_events.TierChanged(
        member=f"members/{member_id}", to_tier_id=tier, reason="spend", benefits=benefits(*b)
    )
    return new_envelope(event, tenant=tenant, aggregate_type="member", aggregate_id=member_id)


def ladder(tenant: str, version: int, tiers: dict[str, tuple[int, int]]) -> EventEnvelope:
    event = members_events.TierLadderUpdated(
        tier_ladder="tierLadder",
        version=version,
        tiers=[
            tier_pb2.Tier(tier_id=tier_id, display_name=tier_id.title(), rank=rank, benefits=benefits(*b))
            for rank, (tier_id, b) in enumerate(tiers.items())
        ],
    )
    return new_envelope(event, tenant=tenant, aggregate_type="tier_ladder", aggregate_id=tenant)


async def publish(w: Wallet, envelope: EventEnvelope, *, msg_id: str | None = None) -> None:
    """As the members relay would; a ``msg_id`` other than the event id defeats the stream's dedupe."""
    await w.js.publish(
        f"peony.members.{short_name(envelope.event_type)}",
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": msg_id or envelope.event_id},
    )


async def inbox_count(w: Wallet, envelope: EventEnvelope) -> int:
    async with w.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e"),
                {"c": MEMBERS_DURABLE, "e": envelope.event_id},
            )
        ).scalar_one()


async def handled(w: Wallet, *envelopes: EventEnvelope, within: float = 15.0) -> None:
    """Wait until the consumer has committed every one of ``envelopes``."""
    deadline = time.monotonic() + within
    for envelope in envelopes:
        while await inbox_count(w, envelope) == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{envelope.event_type} {envelope.event_id} not handled in {within}s")
            await asyncio.sleep(0.05)


async def lookup(w: Wallet, tenant: str, member_id: str) -> MemberTierView:
    async with w.engine.connect() as conn:
        return await MemberDirectory(conn, tenant).require(member_id)


async def test_registered_member_is_found_with_carried_benefits(wallet: Wallet):
    tenant, member_id = _tenant(), str(uuid.uuid4())
    event = registered(tenant, member_id, tier="silver", b=(300, 0), store="s7")
    await publish(wallet, event)
    await handled(wallet, event)
    # points_multiplier_permille 0 means "no bonus", i.e. 1000.
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s7", "silver", 300, 1000)


async def test_tier_changed_updates_the_member(wallet: Wallet):
    tenant, member_id = _tenant(), str(uuid.uuid4())
    events = [registered(tenant, member_id), tier_changed(tenant, member_id, "gold", (1000, 1500))]
    for event in events:
        await publish(wallet, event)
    await handled(wallet, *events)
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s1", "gold", 1000, 1500)


async def test_tier_changed_before_registration_is_retried_after_it(wallet: Wallet):
    tenant, member_id = _tenant(), str(uuid.uuid4())
    registration = registered(tenant, member_id)
    change = tier_changed(tenant, member_id, "gold", (1000, 1500))
    await publish(wallet, change)  # overtook the registration
    await asyncio.sleep(0.3)
    await publish(wallet, registration)
    await handled(wallet, registration, change)
    assert (await lookup(wallet, tenant, member_id)).tier_id == "gold"
    # ...and a late copy of the registration does not take the member back to the entry tier.
    await publish(wallet, registration, msg_id=f"copy-{uuid.uuid4()}")
    sentinel = tier_changed(tenant, member_id, "gold", (1000, 1500))
    await publish(wallet, sentinel)
    await handled(wallet, sentinel)
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s1", "gold", 1000, 1500)


async def test_newer_ladder_is_authoritative_and_a_stale_one_is_ignored(wallet: Wallet):
    tenant, member_id, other_id = _tenant(), str(uuid.uuid4()), str(uuid.uuid4())
    members = [registered(tenant, member_id, tier="silver", b=(300, 1000))]
    members.append(registered(tenant, other_id, tier="legacy", b=(200, 1100)))
    for event in members:
        await publish(wallet, event)
    v3 = ladder(tenant, 3, {"silver": (800, 1200), "gold": (2000, 2000)})
    await publish(wallet, v3)
    await handled(wallet, *members, v3)
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s1", "silver", 800, 1200)
    # A tier the ladder does not list keeps the benefits its member's event carried.
    assert await lookup(wallet, tenant, other_id) == MemberTierView(other_id, "s1", "legacy", 200, 1100)

    stale = ladder(tenant, 2, {"silver": (100, 1000), "gold": (100, 1000)})
    await publish(wallet, stale)
    await handled(wallet, stale)
    assert (await lookup(wallet, tenant, member_id)).discount_bps == 800

    # The ladder beats the (possibly stale) benefits carried by TierChanged.
    change = tier_changed(tenant, member_id, "gold", (1500, 1500))
    await publish(wallet, change)
    await handled(wallet, change)
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s1", "gold", 2000, 2000)


async def test_unknown_member_is_not_found_and_a_malformed_id_is_invalid(wallet: Wallet):
    tenant = _tenant()
    with pytest.raises(NotFound) as info:
        await lookup(wallet, tenant, str(uuid.uuid4()))
    assert info.value.reason == "MEMBER_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await lookup(wallet, tenant, "not-a-uuid")


async def test_another_tenants_member_and_ladder_are_not_visible(wallet: Wallet):
    tenant, other, member_id = _tenant(), _tenant(), str(uuid.uuid4())
    events = [registered(tenant, member_id, tier="silver", b=(300, 1000))]
    events.append(ladder(other, 9, {"silver": (5000, 5000)}))
    for event in events:
        await publish(wallet, event)
    await handled(wallet, *events)
    assert (await lookup(wallet, tenant, member_id)).discount_bps == 300
    with pytest.raises(NotFound):
        await lookup(wallet, other, member_id)


async def test_a_duplicate_event_has_one_effect(wallet: Wallet):
    tenant, member_id = _tenant(), str(uuid.uuid4())
    registration = registered(tenant, member_id)
    gold = tier_changed(tenant, member_id, "gold", (1000, 1500))
    platinum = tier_changed(tenant, member_id, "platinum", (2000, 2000))
    events = [registration, gold, platinum]
    for event in events:
        await publish(wallet, event)
    await handled(wallet, *events)
    # A second copy of `gold` past the stream's dedupe (as after a relay crash), then a no-op change of
    # the same member: the member's events are handled in stream order, so once it is handled the
    # copy has been too.
    await publish(wallet, gold, msg_id=f"copy-{uuid.uuid4()}")
    sentinel = tier_changed(tenant, member_id, "platinum", (2000, 2000))
    await publish(wallet, sentinel)
    await handled(wallet, sentinel)
    assert await lookup(wallet, tenant, member_id) == MemberTierView(member_id, "s1", "platinum", 2000, 2000)
    assert [await inbox_count(wallet, e) for e in events] == [1, 1, 1]


async def test_directory_writes_directly(wallet: Wallet):
    """The adapter alone: TierChanged before registration is retryable; stale events change nothing."""
    tenant, member_id = _tenant(), str(uuid.uuid4())
    async with wallet.engine.begin() as conn:
        directory = MemberDirectory(conn, tenant)
        with pytest.raises(MemberNotYetRegistered):
            await directory.apply_tier_changed(member_id, "gold", 1000, 1500)
        t0 = (await conn.execute(text("SELECT now()"))).scalar_one()
        assert await directory.apply_registered(member_id, "s1", "silver", 300, 1000, t0)
        assert await directory.apply_registered(member_id, "s2", "silver", 300, 1000, t0)  # idempotent
        # A tier change supersedes the registration even when its clock reads earlier (skew)...
        assert await directory.apply_tier_changed(member_id, "bronze", 100, 1000, changed_time=t0 - _S)
        # ...and a later change supersedes an earlier one, never the other way round.
        assert await directory.apply_tier_changed(member_id, "gold", 1000, 1500, changed_time=t0 + _S)
        assert not await directory.apply_tier_changed(member_id, "silver", 300, 1000, changed_time=t0)
        assert not await directory.apply_registered(member_id, "s1", "silver", 300, 1000, t0)
        assert await directory.apply_ladder(
            2, [{"tier_id": "gold", "discount_bps": 1200, "points_multiplier_permille": 1600}]
        )
        assert not await directory.apply_ladder(2, [])
        assert not await directory.apply_ladder(1, [])
        assert await directory.require(member_id) == MemberTierView(member_id, "s1", "gold", 1200, 1600)


async def test_a_read_through_snapshot_fills_only_an_absent_row_and_older_events_do_not_regress_it(
    wallet: Wallet,
):
    """Read-through (kit/members_client.py) fills the directory with what members says now; the
    events the consumer delivers later must not take the member back, nor may a second snapshot
    overwrite what is there."""
    tenant, member_id = _tenant(), str(uuid.uuid4())
    registered_at = datetime.now(UTC) - timedelta(hours=1)
    # The member registered in `regular` and was moved to `gold` ten minutes later.
    facts = MemberFacts(
        member_id=member_id,
        home_store_id="s1",
        tier_id="gold",
        discount_bps=1500,
        points_multiplier_permille=1500,
        booking_window_days=30,
        create_time=registered_at,
        update_time=registered_at + 10 * _MIN,
    )
    async with wallet.engine.begin() as conn:
        d = MemberDirectory(conn, tenant)
        await d.fill(facts)
        # the registration, delivered late, does not take the member back to the entry tier...
        assert not await d.apply_registered(member_id, "s1", "regular", 0, 1000, registered_at)
        # ...nor does a tier change older than the snapshot
        assert not await d.apply_tier_changed(
            member_id, "silver", 300, 1000, changed_time=registered_at + 5 * _MIN
        )
        assert (await d.find(member_id)).tier_id == "gold"
        # a second snapshot writes nothing over the row
        await d.fill(replace(facts, tier_id="regular", discount_bps=0))
        assert (await d.find(member_id)).discount_bps == 1500
        # a newer tier change applies
        assert await d.apply_tier_changed(
            member_id, "platinum", 2000, 2000, changed_time=registered_at + 20 * _MIN
        )
        assert (await d.find(member_id)).tier_id == "platinum"


async def _directory_rows(conn, tenant: str) -> list[tuple]:
    rows = await conn.execute(
        text(
            "SELECT member_id::text, home_store_id, tier_id, discount_bps, points_multiplier_permille,"
            " registered_time, update_time FROM member_directory WHERE tenant_id = :t ORDER BY member_id"
        ),
        {"t": tenant},
    )
    return [tuple(r) for r in rows]


async def test_a_batch_of_registrations_ends_as_one_upsert_each_in_stream_order(wallet: Wallet):
    """The consumer's batch (``apply_registrations``, one statement) leaves exactly the rows the
    per-event upserts leave: a member registered twice in the batch keeps the first copy's row with
    the last copy's tier; a member whose tier changed already is not taken back."""
    one_by_one, batched = _tenant(), _tenant()
    twice, changed, single = (str(uuid.uuid4()) for _ in range(3))
    async with wallet.engine.begin() as conn:
        t0 = (await conn.execute(text("SELECT now()"))).scalar_one()
        batch = [
            MemberDirectory.registration(twice, "s1", "silver", 300, 1000, t0),
            MemberDirectory.registration(changed, "s1", "regular", 0, 1000, t0),
            MemberDirectory.registration(twice, "s2", "gold", 1000, 1500, t0 + _S),
            MemberDirectory.registration(single, "s3", "silver", 300, 1000, t0 + 2 * _S),
        ]
        for tenant in (one_by_one, batched):
            d = MemberDirectory(conn, tenant)
            await d.apply_registered(changed, "s1", "regular", 0, 1000, t0 - _MIN)
            await d.apply_tier_changed(changed, "gold", 1000, 1500, changed_time=t0 - _S)
        for r in batch:
            await MemberDirectory(conn, one_by_one).apply_registered(
                r.member_id,
                r.values["home_store_id"],
                r.values["tier_id"],
                r.values["discount_bps"],
                r.values["points_multiplier_permille"],
                r.registered_time,
            )
        await MemberDirectory(conn, batched).apply_registrations(batch)

        expected = await _directory_rows(conn, one_by_one)
        assert await _directory_rows(conn, batched) == expected
        by_member = {row[0]: row for row in expected}
        assert by_member[twice][1:] == ("s1", "gold", 1000, 1500, t0, t0)
        assert by_member[changed][2] == "gold"
