"""UpdateTierLadder re-evaluates every member of the tenant against the new ladder
(members_service.proto), by a durable job in bounded batches, each change once with its
``TierChanged`` through the outbox. Real PostgreSQL and NATS; spend arrives as wallet events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import member_pb2, tier_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.config import load_config
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.messaging import connect, ensure_stream
from kit.uow import UnitOfWorkFactory
from services.members.entrypoints.consumers import wallet_events_consumer
from services.members.service_layer.tier_reevaluation import run_job
from services.members.service_layer.unit_of_work import MembersUnitOfWork
from tests.integration.members.test_spend_and_referrals import (
    Wallet,
    _register,
    _tenant,
    checkout,
    eventually,
    rid,
    yuan,
)

pytestmark = pytest.mark.integration


def ladder(
    silver: int = 2_000,
    *,
    gold: int | None = 8_000,
    policy: int = tier_pb2.DOWNGRADE_POLICY_NEVER,
    grace_days: int = 30,
) -> tier_pb2.TierLadder:
    """The default ladder's lower rungs with thresholds in yuan; ``gold=None`` drops gold."""
    tiers = [
        tier_pb2.Tier(tier_id="regular", display_name="Regular", rank=0),
        tier_pb2.Tier(tier_id="silver", display_name="Silver", rank=1, qualifying_spend_minor=yuan(silver)),
    ]
    if gold is not None:
        tiers.append(
            tier_pb2.Tier(tier_id="gold", display_name="Gold", rank=2, qualifying_spend_minor=yuan(gold))
        )
    tiers.append(
        tier_pb2.Tier(
            tier_id="platinum", display_name="Platinum", rank=3, qualifying_spend_minor=yuan(100_000)
        )
    )
    return tier_pb2.TierLadder(
        name="tierLadder",
        tiers=tiers,
        currency_code="CNY",
        qualification_window_days=365,
        downgrade_policy=policy,  # type: ignore[arg-type]
        downgrade_grace_days=grace_days,
    )


async def update_ladder(members, tenant: str, new: tier_pb2.TierLadder) -> int:
    resp = await members.stub.UpdateTierLadder(
        pb.UpdateTierLadderRequest(
            tier_ladder=new,
            update_mask=field_mask_pb2.FieldMask(
                paths=["tiers", "qualification_window_days", "downgrade_policy", "downgrade_grace_days"]
            ),
            request_id=rid(),
        ),
        metadata=members.auth(tenant),
    )
    version = await members_scalar(
        members, "SELECT ladder_version FROM tenant_settings WHERE tenant_id = :t", t=tenant
    )
    assert resp.tier_ladder.name == "tierLadder"
    return int(version)


async def members_scalar(members, sql: str, **params):
    async with members.db.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def job_done(feed: Wallet, tenant: str, version: int) -> tuple[int, int]:
    """Waits for the job of ``version`` to finish; (evaluated, changed)."""

    async def done() -> bool:
        state = await feed.scalar(
            "SELECT state FROM tier_reevaluations WHERE tenant_id = :t AND ladder_version = :v",
            t=tenant,
            v=version,
        )
        return state == "done"

    await eventually(done, what=f"re-evaluation of ladder v{version} finished")
    row = (
        await feed.rows(
            "SELECT evaluated, changed FROM tier_reevaluations WHERE tenant_id = :t AND ladder_version = :v",
            t=tenant,
            v=version,
        )
    )[0]
    return int(row.evaluated), int(row.changed)


async def spent(members, feed: Wallet, tenant: str, store: str, amount_yuan: int) -> member_pb2.Member:
    member = await _register(members, tenant, store)
    if amount_yuan:
        await feed.publish(checkout(tenant, member, yuan(amount_yuan)))
    return member


async def changes(feed: Wallet, tenant: str) -> list[tuple[str, str, str, str]]:
    return [
        (e.member, e.from_tier_id, e.to_tier_id, e.reason)
        for e in await feed.events(tenant, members_events.TierChanged)
    ]


async def listed_reason_codes(members, tenant: str, member) -> list[int]:
    """The reason codes of a member's tier history, as ListTierChanges shows them."""
    resp = await members.stub.ListTierChanges(
        pb.ListTierChangesRequest(parent=member.name), metadata=members.auth(tenant)
    )
    return [c.reason_code for c in resp.tier_changes]


async def reason_codes(feed: Wallet, tenant: str) -> list[int]:
    """`TierChanged.reason_code` of the tenant's tier changes, in order."""
    return [e.reason_code for e in await feed.events(tenant, members_events.TierChanged)]


@pytest_asyncio.fixture(scope="module")
async def feed(members) -> AsyncIterator[Wallet]:
    """Wallet events in, as in test_spend_and_referrals (checkouts are what tiers qualify on)."""
    nc, js = await connect(members.nats_url, "members-tier-reevaluation-tests")
    await ensure_stream(js, "wallet")
    consumer = wallet_events_consumer(members.db, js, fetch_timeout=1.0, backoff=(0.2, 0.5))
    await consumer.start()
    try:
        yield Wallet(nc, js, consumer, members)
    finally:
        await consumer.stop()
        await nc.close()


@pytest.fixture(scope="module")
def uows(members) -> Iterator[UnitOfWorkFactory[MembersUnitOfWork]]:
    config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": members.database_url})
    yield UnitOfWorkFactory(
        MembersUnitOfWork,
        session_factory(members.db),
        service="members",
        cipher=PiiCipher(config.pii_master_key),
    )


async def test_lowered_threshold_upgrades_who_now_qualifies_once(members, feed: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    near = await spent(members, feed, tenant, store, 1_500)
    none = await spent(members, feed, tenant, store, 0)
    gold = await spent(members, feed, tenant, store, 9_000)
    assert await feed.tier(tenant, gold) == "gold"
    before = await changes(feed, tenant)
    # Read once so the members read cache holds the old tier.
    got = await members.stub.GetMember(pb.GetMemberRequest(name=near.name), metadata=members.auth(tenant))
    assert got.member.tier.tier_id == "regular"

    version = await update_ladder(members, tenant, ladder(silver=1_000))
    assert await job_done(feed, tenant, version) == (3, 1)

    assert await feed.tier(tenant, near) == "silver"
    assert await feed.tier(tenant, none) == "regular"
    assert await feed.tier(tenant, gold) == "gold"
    after = await changes(feed, tenant)
    assert after[len(before) :] == [
        (near.name, "regular", "silver", f"tier ladder v{version}: qualifies for silver")
    ]
    assert (await reason_codes(feed, tenant))[len(before) :] == [tier_pb2.TIER_CHANGE_REASON_LADDER_CHANGE]
    history = await feed.rows(
        "SELECT from_tier_id, to_tier_id, actor, staff_override FROM tier_changes"
        " WHERE tenant_id = :t AND member_id = :m",
        t=tenant,
        m=near.name.split("/")[1],
    )
    assert [tuple(r) for r in history] == [("regular", "silver", "system", False)]
    assert await listed_reason_codes(members, tenant, near) == [tier_pb2.TIER_CHANGE_REASON_LADDER_CHANGE]

    async def reads_silver() -> bool:
        got = await members.stub.GetMember(pb.GetMemberRequest(name=near.name), metadata=members.auth(tenant))
        return got.member.tier.tier_id == "silver" and got.member.tier.display_name == "Silver"

    await eventually(reads_silver, what="GetMember shows the new tier")


async def test_members_on_a_removed_tier_move_to_the_tier_they_qualify_for(members, feed: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    gold = await spent(members, feed, tenant, store, 9_000)
    silver = await spent(members, feed, tenant, store, 3_000)
    assert (await feed.tier(tenant, gold), await feed.tier(tenant, silver)) == ("gold", "silver")
    before = len(await changes(feed, tenant))

    # Gold is gone (NEVER downgrade does not keep a member on a tier that no longer exists).
    version = await update_ladder(members, tenant, ladder(gold=None))
    assert await job_done(feed, tenant, version) == (2, 1)
    assert await feed.tier(tenant, gold) == "silver"
    assert await feed.tier(tenant, silver) == "silver"
    assert (await changes(feed, tenant))[before:] == [
        (gold.name, "gold", "silver", f"tier ladder v{version}: tier 'gold' is no longer on the ladder")
    ]


async def test_raised_thresholds_downgrade_only_per_policy_anniversary_and_grace(members, feed: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    old_silver = await spent(members, feed, tenant, store, 2_500)  # silver for over a year
    new_silver = await spent(members, feed, tenant, store, 2_500)  # silver since today
    staff_set = await spent(members, feed, tenant, store, 2_500)
    await members.stub.SetMemberTier(
        pb.SetMemberTierRequest(name=staff_set.name, tier_id="gold", reason="VIP by HQ", request_id=rid()),
        metadata=members.auth(tenant),
    )
    async with members.db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE members SET tier_since = now() - interval '400 days'"
                " WHERE tenant_id = :t AND member_id IN (:a, :b)"
            ),
            {"t": tenant, "a": old_silver.name.split("/")[1], "b": staff_set.name.split("/")[1]},
        )
    before = len(await changes(feed, tenant))

    # NEVER: nobody goes down, however high the bar.
    v1 = await update_ladder(members, tenant, ladder(silver=5_000, gold=50_000))
    assert await job_done(feed, tenant, v1) == (3, 0)

    # AUTOMATIC: down once the tier's anniversary plus the grace period (30 days) has passed —
    # 400 days held, yes; held since today, not yet; a tier staff set by hand, never.
    v2 = await update_ladder(
        members, tenant, ladder(silver=5_000, gold=50_000, policy=tier_pb2.DOWNGRADE_POLICY_AUTOMATIC)
    )
    assert await job_done(feed, tenant, v2) == (3, 1)
    assert await feed.tier(tenant, old_silver) == "regular"
    assert await feed.tier(tenant, new_silver) == "silver"
    assert await feed.tier(tenant, staff_set) == "gold"
    assert (await changes(feed, tenant))[before:] == [
        (old_silver.name, "silver", "regular", f"tier ladder v{v2}: no longer qualifies for silver")
    ]
    assert (await reason_codes(feed, tenant))[before:] == [tier_pb2.TIER_CHANGE_REASON_LADDER_CHANGE]


async def test_batches_cover_every_member_and_a_rerun_changes_nothing(members, feed: Wallet, uows):
    tenant = _tenant()
    store = await members.create_store(tenant)
    people = [await spent(members, feed, tenant, store, amount) for amount in (1_200, 0, 1_500, 300, 1_100)]
    before = len(await changes(feed, tenant))

    version = await update_ladder(members, tenant, ladder(silver=1_000))
    # Drive the job in batches of 2 (the service's own worker may take some batches too: the
    # job row is claimed with SKIP LOCKED, so no batch runs twice).
    await run_job(uows, tenant, version, batch_size=2)
    assert await job_done(feed, tenant, version) == (5, 3)
    upgraded = {
        p.name for p, amount in zip(people, (1_200, 0, 1_500, 300, 1_100), strict=True) if amount >= 1_000
    }
    new = (await changes(feed, tenant))[before:]
    assert sorted(c[0] for c in new) == sorted(upgraded)  # one TierChanged per upgraded member

    # A crash that lost the job's progress: the re-run re-evaluates everyone and moves no one twice.
    async with members.db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE tier_reevaluations SET state = 'pending', after_member_id = NULL, evaluated = 0,"
                " changed = 0 WHERE tenant_id = :t AND ladder_version = :v"
            ),
            {"t": tenant, "v": version},
        )
    await run_job(uows, tenant, version, batch_size=2)
    assert await job_done(feed, tenant, version) == (5, 0)
    assert len(await changes(feed, tenant)) == before + 3


async def test_a_newer_ladder_supersedes_an_unfinished_job(members, feed: Wallet):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await spent(members, feed, tenant, store, 1_500)
    v1 = await update_ladder(members, tenant, ladder(silver=1_000))
    v2 = await update_ladder(members, tenant, ladder(silver=1_400))
    # v1's job either finished before v2 arrived (and moved the member) or was superseded.
    assert await job_done(feed, tenant, v2) in ((1, 1), (1, 0))
    states = await feed.rows(
        "SELECT ladder_version, state FROM tier_reevaluations WHERE tenant_id = :t ORDER BY ladder_version",
        t=tenant,
    )
    assert states[-1] == (v2, "done")
    assert states[0][0] == v1 and states[0][1] in ("done", "superseded")
    assert await feed.tier(tenant, member) == "silver"
    assert len([c for c in await changes(feed, tenant) if c[0] == member.name]) == 1
