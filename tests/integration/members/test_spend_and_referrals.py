"""Qualifying spend from wallet checkouts: tier upgrades and referral rewards, on real PostgreSQL/NATS.

The members service runs in-process (the ``members`` fixture) and the wallet-events consumer runs
in-process on the same database. Wallet events are published straight to the wallet stream, as the
wallet's relay would. The durable is one per NATS server, so every test uses a tenant of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import member_pb2, tier_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.messaging import EventConsumer, EventEnvelope, connect, ensure_stream, new_envelope, unpack
from services.members.entrypoints.consumers import WALLET_DURABLE, wallet_events_consumer
from services.members.service_layer.spend import SpendBook

pytestmark = pytest.mark.integration

_phones = iter(range(10_000_000))


def new_phone() -> str:
    return f"137{next(_phones) + 55_000_000:08d}"


def rid() -> str:
    return str(uuid.uuid4())


def yuan(amount: int) -> int:
    return amount * 100


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Wallet:
    """Publishes wallet events and waits until the members consumer has handled them."""

    nc: NATS
    js: JetStreamContext
    consumer: EventConsumer
    members: object

    async def publish(self, envelope: EventEnvelope, *, msg_id: str | None = None, wait: bool = True) -> None:
        subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
        await self.js.publish(
            subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id or envelope.event_id}
        )
        if wait:
            await self.handled(envelope.event_id)

    async def handled(self, event_id: str) -> None:
        async def done() -> bool:
            return await self.scalar(
                "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e",
                c=WALLET_DURABLE,
                e=uuid.UUID(event_id),
            )

        await eventually(done, what=f"event {event_id} handled")

    async def scalar(self, sql: str, **params):
        async with self.members.db.connect() as conn:  # type: ignore[attr-defined]
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params) -> list:
        async with self.members.db.connect() as conn:  # type: ignore[attr-defined]
            return list((await conn.execute(text(sql), params)).all())

    async def events(self, tenant: str, message_type) -> list:
        """The members outbox's events of ``message_type`` for ``tenant``, unpacked, in order."""
        rows = await self.rows(
            "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :et ORDER BY seq",
            t=tenant,
            et=message_type.DESCRIPTOR.full_name,
        )
        return [unpack(EventEnvelope.FromString(r.payload), message_type) for r in rows]

    async def tier(self, tenant: str, member: member_pb2.Member) -> str:
        return await self.scalar(
            "SELECT tier_id FROM members WHERE tenant_id = :t AND member_id = :m",
            t=tenant,
            m=member.name.split("/")[1],
        )


@pytest_asyncio.fixture(scope="module")
async def wallet(members) -> AsyncIterator[Wallet]:
    nc, js = await connect(members.nats_url, "members-spend-tests")
    await ensure_stream(js, "wallet")
    consumer = wallet_events_consumer(members.db, js, fetch_timeout=1.0, backoff=(0.2, 0.5))
    await consumer.start()
    try:
        yield Wallet(nc, js, consumer, members)
    finally:
        await consumer.stop()
        await nc.close()


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def _register(members, tenant: str, store: str, referral_code: str = "") -> member_pb2.Member:
    resp = await members.stub.RegisterMember(
        pb.RegisterMemberRequest(
            member=member_pb2.Member(display_name="林小姐", phone=new_phone(), home_store=store),
            referral_code=referral_code,
            request_id=rid(),
        ),
        metadata=members.auth(tenant),
    )
    return resp.member


def checkout(
    tenant: str, member: member_pb2.Member | None, spend_minor: int, *, checkout_id: str | None = None
) -> EventEnvelope:
    checkout_id = checkout_id or str(uuid.uuid4())
    event = wallet_events.CheckoutCompleted(
        checkout=f"checkouts/{checkout_id}",
        member=member.name if member else "",
        store="stores/s1",
        total_minor=spend_minor,
        qualifying_spend_minor=spend_minor,
        currency_code="CNY",
    )
    event.create_time.GetCurrentTime()
    return new_envelope(event, tenant=tenant, aggregate_type="checkout", aggregate_id=checkout_id)


def refund(tenant: str, member: member_pb2.Member, of: EventEnvelope, spend_minor: int, full=False):
    checkout_name = unpack(of, wallet_events.CheckoutCompleted).checkout
    event = wallet_events.CheckoutRefunded(
        checkout=checkout_name,
        refund=f"{checkout_name}/refunds/{uuid.uuid4()}",
        member=member.name,
        amount_minor=spend_minor,
        qualifying_spend_minor=spend_minor,
        full=full,
        store="stores/s1",
        currency_code="CNY",
    )
    return new_envelope(event, tenant=tenant, aggregate_type="checkout", aggregate_id=of.aggregate_id)


async def test_spend_accumulates_and_upgrades_to_silver_once(members, wallet: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await _register(members, tenant, store)
    # Read it once so the members read cache holds the regular tier.
    got = await members.stub.GetMember(pb.GetMemberRequest(name=member.name), metadata=members.auth(tenant))
    assert got.member.tier.tier_id == "regular"

    await wallet.publish(checkout(tenant, member, yuan(800)))
    await wallet.publish(checkout(tenant, member, yuan(700)))
    assert await wallet.tier(tenant, member) == "regular"
    assert await wallet.events(tenant, members_events.TierChanged) == []

    await wallet.publish(checkout(tenant, member, yuan(500)))  # ¥2,000 in the window
    assert await wallet.tier(tenant, member) == "silver"
    await wallet.publish(checkout(tenant, member, yuan(100)))

    changed = await wallet.events(tenant, members_events.TierChanged)
    assert len(changed) == 1
    assert (changed[0].member, changed[0].from_tier_id, changed[0].to_tier_id) == (
        member.name,
        "regular",
        "silver",
    )
    assert changed[0].reason == "qualifying spend" and not changed[0].staff_override
    assert changed[0].reason_code == tier_pb2.TIER_CHANGE_REASON_UPGRADE_SPEND
    listed = await members.stub.ListTierChanges(
        pb.ListTierChangesRequest(parent=member.name), metadata=members.auth(tenant)
    )
    assert [c.reason_code for c in listed.tier_changes] == [tier_pb2.TIER_CHANGE_REASON_UPGRADE_SPEND]
    assert changed[0].benefits.discount_bps == 1000 and changed[0].benefits.booking_window_days == 14
    changes = await wallet.rows(
        "SELECT from_tier_id, to_tier_id, reason, actor, staff_override FROM tier_changes"
        " WHERE tenant_id = :t",
        t=tenant,
    )
    assert [tuple(r) for r in changes] == [("regular", "silver", "qualifying spend", "system", False)]

    # The members service evicts its read cache from its own stream's TierChanged.
    async def reads_silver() -> bool:
        got = await members.stub.GetMember(
            pb.GetMemberRequest(name=member.name), metadata=members.auth(tenant)
        )
        return got.member.tier.tier_id == "silver"

    await eventually(reads_silver, what="GetMember shows the upgrade")


async def test_duplicate_checkout_events_have_one_effect(members, wallet: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await _register(members, tenant, store)
    env = checkout(tenant, member, yuan(2_000))
    await wallet.publish(env)
    # The same event again (stream dedupe defeated) and the same checkout under a new event id.
    await wallet.publish(env, msg_id=f"copy-{uuid.uuid4()}", wait=False)
    again = checkout(tenant, member, yuan(2_000), checkout_id=env.aggregate_id)
    await wallet.publish(again)
    await asyncio.sleep(0.5)  # let the copy be handled too (it must change nothing)

    assert await wallet.scalar("SELECT count(*) FROM member_spend WHERE tenant_id = :t", t=tenant) == 1
    assert await wallet.scalar(
        "SELECT sum(qualifying_spend_minor) FROM member_spend WHERE tenant_id = :t", t=tenant
    ) == yuan(2_000)
    assert len(await wallet.events(tenant, members_events.TierChanged)) == 1
    assert await wallet.tier(tenant, member) == "silver"


async def test_refund_reduces_qualifying_spend(members, wallet: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await _register(members, tenant, store)
    first = checkout(tenant, member, yuan(1_500))
    await wallet.publish(first)
    undo = refund(tenant, member, first, yuan(600))
    await wallet.publish(undo)
    await wallet.publish(undo, msg_id=f"copy-{uuid.uuid4()}")  # a redelivered refund counts once
    await wallet.publish(checkout(tenant, member, yuan(1_000)))  # ¥1,900 net: without the refund ¥2,500
    assert await wallet.tier(tenant, member) == "regular"
    assert await wallet.scalar(
        "SELECT sum(qualifying_spend_minor) FROM member_spend WHERE tenant_id = :t", t=tenant
    ) == yuan(1_900)

    await wallet.publish(checkout(tenant, member, yuan(100)))  # ¥2,000 net
    assert await wallet.tier(tenant, member) == "silver"
    # A refund never downgrades here (that is the anniversary job's decision).
    await wallet.publish(refund(tenant, member, first, yuan(900), full=True))
    assert await wallet.tier(tenant, member) == "silver"
    assert len(await wallet.events(tenant, members_events.TierChanged)) == 1
    # Window totals: ¥1,500 - 600 + 1,000 + 100 - 900; the fully refunded checkout is no visit.
    async with AsyncSession(members.db) as session:
        totals = await SpendBook(session, tenant).window_totals(member.name.split("/")[1], 365)
    assert totals == (yuan(1_100), 2, 0)


async def test_referral_reward_is_emitted_exactly_once_when_the_referee_crosses_500(members, wallet: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    referrer = await _register(members, tenant, store)
    referee = await _register(members, tenant, store, referral_code=referrer.referral_code)
    assert referee.referrer == referrer.name

    await wallet.publish(checkout(tenant, referee, yuan(300)))
    assert await wallet.events(tenant, members_events.ReferralRewardEarned) == []
    crossing = checkout(tenant, referee, yuan(250))  # ¥550: first reaches ¥500
    await wallet.publish(crossing)
    await wallet.publish(crossing, msg_id=f"copy-{uuid.uuid4()}")  # redelivered
    await wallet.publish(checkout(tenant, referee, yuan(250), checkout_id=crossing.aggregate_id))
    # Dropping below the threshold and crossing it again does not earn a second reward.
    await wallet.publish(refund(tenant, referee, crossing, yuan(250)))
    await wallet.publish(checkout(tenant, referee, yuan(400)))

    rewards = await wallet.events(tenant, members_events.ReferralRewardEarned)
    assert len(rewards) == 1
    assert (rewards[0].referrer, rewards[0].referee) == (referrer.name, referee.name)
    assert rewards[0].qualifying_spend_minor == yuan(550) and rewards[0].currency_code == "CNY"
    assert await wallet.scalar("SELECT count(*) FROM referral_rewards WHERE tenant_id = :t", t=tenant) == 1
    envelopes = await wallet.rows(
        "SELECT aggregate_type, aggregate_id FROM outbox WHERE tenant_id = :t AND event_type = :et",
        t=tenant,
        et=members_events.ReferralRewardEarned.DESCRIPTOR.full_name,
    )
    assert [tuple(r) for r in envelopes] == [("member", referee.name.split("/")[1])]


async def test_the_referral_threshold_is_a_tenant_setting(members, wallet: Wallet):
    tenant = _tenant()
    async with members.db.begin() as conn:
        await conn.execute(
            text("INSERT INTO referral_settings (tenant_id, referral_threshold_minor) VALUES (:t, :v)"),
            {"t": tenant, "v": yuan(100)},
        )
    store = await members.create_store(tenant)
    referrer = await _register(members, tenant, store)
    referee = await _register(members, tenant, store, referral_code=referrer.referral_code)
    await wallet.publish(checkout(tenant, referee, yuan(120)))
    rewards = await wallet.events(tenant, members_events.ReferralRewardEarned)
    assert [r.qualifying_spend_minor for r in rewards] == [yuan(120)]


async def test_members_without_a_referrer_walk_ins_and_unknown_members_emit_nothing(members, wallet: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await _register(members, tenant, store)
    await wallet.publish(checkout(tenant, member, yuan(600)))
    await wallet.publish(checkout(tenant, None, yuan(900)))  # a walk-in
    stranger = member_pb2.Member(name=f"members/{uuid.uuid4()}")
    await wallet.publish(checkout(tenant, stranger, yuan(900)))  # not a member of this tenant

    assert await wallet.events(tenant, members_events.ReferralRewardEarned) == []
    assert await wallet.scalar("SELECT count(*) FROM referral_rewards WHERE tenant_id = :t", t=tenant) == 0
    assert await wallet.scalar("SELECT count(*) FROM member_spend WHERE tenant_id = :t", t=tenant) == 1
    assert await wallet.tier(tenant, member) == "regular"
