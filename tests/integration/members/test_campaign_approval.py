"""Campaign approval (院长/HQ 审批), holdout groups, and the 流失预警 list — on real PostgreSQL and
NATS through the public gRPC API.

Time is the test's for sending (``run_campaigns(now)`` a day ahead of the wall clock, as in
test_campaigns); the lapse list is read at the wall clock, with last visits the test's own
checkouts days back.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from peony.members.v1 import campaign_pb2, member_pb2
from peony.members.v1 import members_service_pb2 as pb

from tests.integration.members.test_campaigns import Marketing, js  # noqa: F401 (fixture)
from tests.integration.members.test_segments import World, _reason

pytestmark = pytest.mark.integration


def rid() -> str:
    return str(uuid.uuid4())


async def refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value


async def test_a_campaign_over_the_threshold_waits_for_someone_else_to_approve_it(members):
    mk = Marketing(members)
    boss = members.auth(mk.tenant, roles=["hq_admin"], subject="user:boss")
    other_hq = members.auth(mk.tenant, roles=["hq_admin"], subject="user:hq2")
    store = await members.create_store(mk.tenant)
    for _ in range(5):
        await mk.register(store, consent=True)
    segment = await mk.segment(store)  # 5 members x 1 SMS part x 5 fen: a dry-run cost of 25

    # the defaults; bad settings are refused and change nothing; marketing may not change them
    got = await members.stub.GetCampaignSettings(
        pb.GetCampaignSettingsRequest(name="campaignSettings"), metadata=mk.md
    )
    assert got.campaign_settings.approval_threshold_minor == 50_000
    assert not got.campaign_settings.HasField("update_time")

    def settings(threshold: int, name: str = "campaignSettings") -> pb.UpdateCampaignSettingsRequest:
        return pb.UpdateCampaignSettingsRequest(
            campaign_settings=campaign_pb2.CampaignSettings(name=name, approval_threshold_minor=threshold),
            request_id=rid(),
        )

    for bad in (settings(-1), settings(100_000_001), settings(100, name="settings")):
        await refused(
            members.stub.UpdateCampaignSettings(bad, metadata=boss), grpc.StatusCode.INVALID_ARGUMENT
        )
    err = await refused(
        members.stub.UpdateCampaignSettings(settings(0), metadata=mk.md), grpc.StatusCode.PERMISSION_DENIED
    )
    assert _reason(err) == "MISSING_PERMISSION"
    got = await members.stub.GetCampaignSettings(
        pb.GetCampaignSettingsRequest(name="campaignSettings"), metadata=mk.md
    )
    assert got.campaign_settings.approval_threshold_minor == 50_000

    # at the threshold: scheduled, and it runs
    await members.stub.UpdateCampaignSettings(settings(25), metadata=boss)
    t0 = datetime.now(UTC) + timedelta(days=1)
    under = await mk.create(segment, t0)
    assert (under.state, under.estimated_sms_cost_minor, under.creator) == (
        campaign_pb2.CAMPAIGN_STATE_SCHEDULED,
        25,
        "user:test",
    )

    # over it: the dry run says so and writes nothing; the campaign waits and sends nothing
    await members.stub.UpdateCampaignSettings(settings(24), metadata=boss)
    rows = await mk.campaign_rows()
    preview = await mk.create(segment, t0, validate_only=True)
    assert preview.state == campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL
    assert await mk.campaign_rows() == rows
    over = (
        await members.stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(
                    display_name="big spring",
                    segment=segment,
                    message_body="春季护理季",
                    start_time=under.start_time,
                ),
                request_id=rid(),
            ),
            metadata=boss,
        )
    ).campaign
    assert (over.state, over.creator) == (campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL, "user:boss")
    await mk.run(t0)
    await mk.run(t0 + timedelta(minutes=5))
    assert len(await mk.sent(under.name)) == 5
    assert await mk.sent(over.name) == []
    assert (await mk.get(over.name)).state == campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL
    # it cannot be paused or resumed while it waits
    await refused(
        members.stub.PauseCampaign(pb.PauseCampaignRequest(name=over.name, request_id=rid()), metadata=mk.md),
        grpc.StatusCode.FAILED_PRECONDITION,
    )

    # not by marketing (no permission), not by its creator, not in another tenant
    approve = pb.ApproveCampaignRequest(name=over.name, request_id=rid())
    err = await refused(
        members.stub.ApproveCampaign(approve, metadata=mk.md), grpc.StatusCode.PERMISSION_DENIED
    )
    assert _reason(err) == "MISSING_PERMISSION"
    err = await refused(
        members.stub.ApproveCampaign(
            pb.ApproveCampaignRequest(name=over.name, request_id=rid()), metadata=boss
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert _reason(err) == "SELF_APPROVAL"
    await refused(
        members.stub.ApproveCampaign(
            pb.ApproveCampaignRequest(name=over.name, request_id=rid()),
            metadata=members.auth("another-tenant"),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    for bad in ("nope", "campaigns/"):
        await refused(
            members.stub.ApproveCampaign(
                pb.ApproveCampaignRequest(name=bad, request_id=rid()), metadata=other_hq
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    waiting = await mk.get(over.name)
    assert (waiting.state, waiting.reviewer) == (campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL, "")

    # another HQ admin approves it (a retry replays the answer); it is then sent
    request = pb.ApproveCampaignRequest(name=over.name, request_id=rid())
    for _ in range(2):
        approved = (await members.stub.ApproveCampaign(request, metadata=other_hq)).campaign
        assert (approved.state, approved.reviewer) == (campaign_pb2.CAMPAIGN_STATE_SCHEDULED, "user:hq2")
        assert approved.HasField("review_time")
    await refused(
        members.stub.ApproveCampaign(
            pb.ApproveCampaignRequest(name=over.name, request_id=rid()), metadata=other_hq
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await mk.run(t0 + timedelta(minutes=6))
    assert sorted(await mk.sent(over.name)) == sorted(await mk.sent(under.name))

    # a rejected campaign is never sent, and nothing brings it back
    third = await mk.create(segment, t0)
    assert third.state == campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL
    for bad_reason in ("", "   ", "x" * 501):
        await refused(
            members.stub.RejectCampaign(
                pb.RejectCampaignRequest(name=third.name, reason=bad_reason, request_id=rid()),
                metadata=other_hq,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    rejected = (
        await members.stub.RejectCampaign(
            pb.RejectCampaignRequest(name=third.name, reason="too costly for March", request_id=rid()),
            metadata=boss,
        )
    ).campaign
    assert (rejected.state, rejected.rejection_reason, rejected.reviewer) == (
        campaign_pb2.CAMPAIGN_STATE_REJECTED,
        "too costly for March",
        "user:boss",
    )
    for call in (
        members.stub.ApproveCampaign(
            pb.ApproveCampaignRequest(name=third.name, request_id=rid()), metadata=other_hq
        ),
        members.stub.ResumeCampaign(
            pb.ResumeCampaignRequest(name=third.name, request_id=rid()), metadata=mk.md
        ),
        members.stub.CancelCampaign(
            pb.CancelCampaignRequest(name=third.name, request_id=rid()), metadata=mk.md
        ),
    ):
        await refused(call, grpc.StatusCode.FAILED_PRECONDITION)
    await mk.run(t0 + timedelta(minutes=10))
    assert await mk.sent(third.name) == []
    assert (await mk.get(third.name)).state == campaign_pb2.CAMPAIGN_STATE_REJECTED

    # a waiting campaign can be cancelled by its creator's team instead
    fourth = await mk.create(segment, t0)
    cancelled = await members.stub.CancelCampaign(
        pb.CancelCampaignRequest(name=fourth.name, request_id=rid()), metadata=mk.md
    )
    assert cancelled.campaign.state == campaign_pb2.CAMPAIGN_STATE_CANCELLED


def holdout_of(campaign: str, members: list[str], percent: int) -> set[str]:
    """The documented derivation: the recipients whose md5("{campaign id}:{member id}") sorts first."""
    campaign_id = campaign.split("/")[1]
    ids = sorted(m.split("/")[1] for m in members)
    ranked = sorted(ids, key=lambda m: hashlib.md5(f"{campaign_id}:{m}".encode()).hexdigest())  # noqa: S324 (not security)
    return {f"members/{m}" for m in ranked[: len(ids) * percent // 100]}


async def test_a_holdout_is_never_sent_and_is_measured_like_the_recipients(members, js):  # noqa: F811
    mk = Marketing(members)
    world = World(members, js)
    world.tenant = mk.tenant
    store = await members.create_store(mk.tenant)
    everyone = [await mk.register(store, consent=True) for _ in range(10)]
    segment = await mk.segment(store)
    t0 = datetime.now(UTC) + timedelta(days=1)
    for bad in (-1, 51):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await mk.create(segment, t0, holdout_percent=bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "holdout_percent" in err.value.details()
    campaign = await mk.create(segment, t0, throttle=100, holdout_percent=35)
    assert campaign.holdout_percent == 35
    await mk.run(t0)
    held = holdout_of(campaign.name, everyone, 35)
    assert len(held) == 3
    got = await mk.get(campaign.name)
    assert (got.state, got.targeted_count, got.holdout_count, got.sent_count) == (
        campaign_pb2.CAMPAIGN_STATE_COMPLETED,
        10,
        3,
        7,
    )
    sent = await mk.sent(campaign.name)
    assert sorted(sent) == sorted(set(everyone) - held)  # the holdout got no message (and no reward)

    def member(name: str) -> member_pb2.Member:
        return member_pb2.Member(name=name)

    h1, h2, _ = sorted(held)
    s1 = sorted(sent)[0]
    await world.checkout(member(h1), store, 4_000, t0 + timedelta(days=1))
    await world.checkout(member(h1), store, 2_500, t0 + timedelta(days=3))
    await world.checkout(member(h2), store, 9_000, t0 + timedelta(days=40))  # outside 30 days
    await world.checkout(member(h2), store, 1_000, t0 - timedelta(hours=2))  # before the start
    await world.checkout(member(s1), store, 10_000, t0 + timedelta(days=2))

    r = (
        await members.stub.GetCampaignResults(
            pb.GetCampaignResultsRequest(name=campaign.name), metadata=mk.md
        )
    ).results
    assert (r.recipients_sent, r.rewards_granted, r.members_visited, r.visits, r.spend_minor) == (
        7,
        7,
        1,
        1,
        10_000,
    )
    assert (r.holdout_members, r.holdout_members_visited, r.holdout_visits, r.holdout_spend_minor) == (
        3,
        1,
        2,
        6_500,
    )
    r = (
        await members.stub.GetCampaignResults(
            pb.GetCampaignResultsRequest(name=campaign.name, window_days=45), metadata=mk.md
        )
    ).results
    assert (r.holdout_members_visited, r.holdout_visits, r.holdout_spend_minor) == (2, 3, 15_500)


async def test_store_managers_see_their_members_about_to_lapse(members, js):  # noqa: F811
    world = World(members, js)
    a, b = await members.create_store(world.tenant), await members.create_store(world.tenant)
    now = datetime.now(UTC)
    m50, m55, m40, m61, never = [await world.register(a) for _ in range(5)]
    elsewhere = await world.register(b)
    for m, days in ((m50, 50), (m55, 55), (m40, 40), (m61, 61)):
        await world.checkout(m, a, 1_000, now - timedelta(days=days))
    await world.checkout(elsewhere, b, 1_000, now - timedelta(days=50))
    manager_a = members.auth(world.tenant, roles=["store_manager"], stores=[a])
    manager_b = members.auth(world.tenant, roles=["store_manager"], stores=[b])

    def ask(store: str = a, **kw) -> pb.ListLapseRisksRequest:
        return pb.ListLapseRisksRequest(store=store, **kw)

    got = await members.stub.ListLapseRisks(ask(), metadata=manager_a)
    assert got.lapse_days == 60
    assert [r.member.name for r in got.lapse_risks] == [m55.name, m50.name]  # longest absence first
    assert [(r.days_since_last_visit, r.days_until_lapse) for r in got.lapse_risks] == [(55, 5), (50, 10)]
    first = got.lapse_risks[0]
    assert first.member.pii_masked and first.member.phone != m55.phone and "*" in first.member.phone
    visited = first.last_visit_time.ToDatetime(tzinfo=UTC)
    assert abs(visited - (now - timedelta(days=55))) < timedelta(seconds=1)
    assert never.name not in [r.member.name for r in got.lapse_risks]

    # a narrower warning window; paging keeps the order
    narrow = await members.stub.ListLapseRisks(ask(warning_days=7), metadata=manager_a)
    assert [r.member.name for r in narrow.lapse_risks] == [m55.name]
    page1 = await members.stub.ListLapseRisks(ask(page_size=1), metadata=manager_a)
    page2 = await members.stub.ListLapseRisks(
        ask(page_size=1, page_token=page1.next_page_token), metadata=manager_a
    )
    assert [r.member.name for r in [*page1.lapse_risks, *page2.lapse_risks]] == [m55.name, m50.name]
    # the other store's manager sees only theirs, and may not ask about this one
    mine = await members.stub.ListLapseRisks(ask(b), metadata=manager_b)
    assert [r.member.name for r in mine.lapse_risks] == [elsewhere.name]
    err = await refused(
        members.stub.ListLapseRisks(ask(), metadata=manager_b), grpc.StatusCode.PERMISSION_DENIED
    )
    assert _reason(err) == "STORE_OUT_OF_SCOPE"
    # a member's own token, another tenant, bad input
    member_md = members.auth(world.tenant, roles=["member"], subject=m50.name)
    await refused(members.stub.ListLapseRisks(ask(), metadata=member_md), grpc.StatusCode.PERMISSION_DENIED)
    assert (await members.stub.ListLapseRisks(ask(), metadata=members.auth(world.tenant))).lapse_risks
    await refused(
        members.stub.ListLapseRisks(ask(), metadata=members.auth("another-tenant")), grpc.StatusCode.NOT_FOUND
    )
    for bad in (ask(warning_days=60), ask(warning_days=-1), ask("nope"), ask(page_size=-1)):
        await refused(members.stub.ListLapseRisks(bad, metadata=manager_a), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(
        members.stub.ListLapseRisks(ask("stores/nope"), metadata=members.auth(world.tenant)),
        grpc.StatusCode.NOT_FOUND,
    )
