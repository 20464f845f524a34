"""Points count toward a tier (tier.proto `Tier.qualifying_points`): the points a member earned at
checkouts over the ladder's window, net of refunds' clawbacks, reach a tier as spend does — at
once on a checkout, and when a new ladder is re-evaluated. Real PostgreSQL and NATS; the
checkouts arrive as the wallet's events."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import tier_pb2
from peony.wallet.v1 import events_pb2 as wallet_events

from kit.messaging import new_envelope
from tests.integration.members.test_spend_and_referrals import _register, _tenant, rid, yuan

# The wallet-events feed of test_tier_reevaluation (a module-scoped fixture), used here as is.
from tests.integration.members.test_tier_reevaluation import feed as feed
from tests.integration.members.test_tier_reevaluation import job_done, members_scalar

pytestmark = pytest.mark.integration


def points_ladder(silver_points: int) -> tier_pb2.TierLadder:
    """Silver at ¥2,000 of spend OR ``silver_points`` points earned; gold on spend only."""
    return tier_pb2.TierLadder(
        name="tierLadder",
        tiers=[
            tier_pb2.Tier(tier_id="regular", display_name="Regular", rank=0),
            tier_pb2.Tier(
                tier_id="silver",
                display_name="Silver",
                rank=1,
                qualifying_spend_minor=yuan(2_000),
                qualifying_points=silver_points,
            ),
            tier_pb2.Tier(tier_id="gold", display_name="Gold", rank=2, qualifying_spend_minor=yuan(8_000)),
        ],
        currency_code="CNY",
        qualification_window_days=365,
    )


async def set_ladder(members, tenant: str, ladder: tier_pb2.TierLadder) -> None:
    await members.stub.UpdateTierLadder(
        pb.UpdateTierLadderRequest(
            tier_ladder=ladder,
            update_mask=field_mask_pb2.FieldMask(paths=["tiers"]),
            request_id=rid(),
        ),
        metadata=members.auth(tenant),
    )


def checkout_with_points(tenant: str, member, spend_minor: int, points: int):
    checkout_id = str(uuid.uuid4())
    event = wallet_events.CheckoutCompleted(
        checkout=f"checkouts/{checkout_id}",
        member=member.name,
        store="stores/s1",
        total_minor=spend_minor,
        qualifying_spend_minor=spend_minor,
        points_earned=points,
        currency_code="CNY",
    )
    event.create_time.GetCurrentTime()
    return new_envelope(event, tenant=tenant, aggregate_type="checkout", aggregate_id=checkout_id)


def refund_points(tenant: str, member, of, points: int):
    checkout_name = f"checkouts/{of.aggregate_id}"
    event = wallet_events.CheckoutRefunded(
        checkout=checkout_name,
        refund=f"{checkout_name}/refunds/{uuid.uuid4()}",
        member=member.name,
        amount_minor=yuan(10),
        qualifying_spend_minor=yuan(10),
        points_clawed_back=points,
        full=False,
        store="stores/s1",
        currency_code="CNY",
    )
    return new_envelope(event, tenant=tenant, aggregate_type="checkout", aggregate_id=of.aggregate_id)


async def tier_of(members, tenant: str, member) -> str:
    """The member's tier as stored. Not GetMember: the consumer under test runs in this process,
    so the server's read cache learns of an upgrade only when its entry expires (a stale
    "regular" failed this under load in the full suite)."""
    return await members_scalar(
        members,
        "SELECT tier_id FROM members WHERE tenant_id = :t AND member_id = :m",
        t=tenant,
        m=member.name.split("/")[1],
    )


async def test_points_earned_upgrade_when_the_tier_counts_points(members, feed):
    tenant = _tenant()
    store = await members.create_store(tenant)
    await set_ladder(members, tenant, points_ladder(silver_points=1_000))
    member = await _register(members, tenant, store)

    # ¥600 of spend is far from silver's ¥2,000, but 600 + 500 points earned pass its 1,000.
    first = checkout_with_points(tenant, member, yuan(300), 600)
    await feed.publish(first)
    assert await tier_of(members, tenant, member) == "regular"
    await feed.publish(checkout_with_points(tenant, member, yuan(300), 500))
    assert await tier_of(members, tenant, member) == "silver"
    moves = [
        (e.from_tier_id, e.to_tier_id, e.reason_code)
        for e in await feed.events(tenant, members_events.TierChanged)
    ]
    # reached by points, not by spend
    assert moves == [("regular", "silver", tier_pb2.TIER_CHANGE_REASON_UPGRADE_POINTS)]
    listed = await members.stub.ListTierChanges(
        pb.ListTierChangesRequest(parent=member.name), metadata=members.auth(tenant)
    )
    assert [c.reason_code for c in listed.tier_changes] == [tier_pb2.TIER_CHANGE_REASON_UPGRADE_POINTS]


async def test_clawed_back_points_do_not_count(members, feed):
    tenant = _tenant()
    store = await members.create_store(tenant)
    await set_ladder(members, tenant, points_ladder(silver_points=1_000))
    member = await _register(members, tenant, store)
    first = checkout_with_points(tenant, member, yuan(300), 800)
    await feed.publish(first)
    await feed.publish(refund_points(tenant, member, first, 500))  # 300 left
    await feed.publish(checkout_with_points(tenant, member, yuan(100), 600))  # 900 < 1,000
    assert await tier_of(members, tenant, member) == "regular"


async def test_a_ladder_that_starts_counting_points_moves_members_up(members, feed):
    tenant = _tenant()
    store = await members.create_store(tenant)
    member = await _register(members, tenant, store)
    await feed.publish(checkout_with_points(tenant, member, yuan(500), 1_500))
    assert await tier_of(members, tenant, member) == "regular"  # the default ladder: spend only
    await set_ladder(members, tenant, points_ladder(silver_points=1_200))
    version = int(
        await feed.scalar("SELECT ladder_version FROM tenant_settings WHERE tenant_id = :t", t=tenant)
    )
    assert await job_done(feed, tenant, version) == (1, 1)
    assert await tier_of(members, tenant, member) == "silver"


async def test_the_entry_tier_cannot_require_points(members):
    tenant = _tenant()
    ladder = points_ladder(silver_points=1_000)
    ladder.tiers[0].qualifying_points = 10
    with pytest.raises(Exception) as raised:
        await set_ladder(members, tenant, ladder)
    assert raised.value.code().name == "INVALID_ARGUMENT"  # type: ignore[attr-defined]
