"""Campaigns on real PostgreSQL through the public gRPC API: bad input, the dry run, the throttle,
pause / resume / cancel, suppression with reasons, and at most one message per recipient.

Time is the test's: the sending worker is ``run_campaigns(now)`` with chosen instants a day ahead
of the wall clock (the service's own worker, running on the wall clock, never sees them due).
What was sent is read from the members outbox (``CampaignMessageDue``), which notify and the
wallet consume.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from peony.members.v1 import campaign_pb2, member_pb2, segment_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.config import load_config
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.messaging import EventEnvelope, connect, ensure_stream, unpack
from kit.uow import UnitOfWorkFactory
from services.members.service_layer.campaigns import run_campaigns
from services.members.service_layer.unit_of_work import MembersUnitOfWork
from tests.integration.members.test_segments import World

pytestmark = pytest.mark.integration

_phones = iter(range(10_000_000))


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


class Marketing:
    def __init__(self, members):
        self.members = members
        self.tenant = f"t-{uuid.uuid4().hex[:10]}"
        config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": members.database_url})
        self.cipher = PiiCipher(config.pii_master_key)
        self.uows = UnitOfWorkFactory(
            MembersUnitOfWork, session_factory(members.db), service="members", cipher=self.cipher
        )
        self.md = members.auth(self.tenant, roles=["marketing"])

    async def register(self, store: str, *, consent: bool) -> str:
        resp = await self.members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="顾客",
                    phone=f"136{next(_phones) + 7_000_000:08d}",
                    home_store=store,
                    consent=member_pb2.Consent(marketing_sms=consent),
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=self.members.auth(self.tenant),
        )
        return resp.member.name

    async def segment(self, store: str) -> str:
        resp = await self.members.stub.CreateSegment(
            pb.CreateSegmentRequest(
                segment=segment_pb2.Segment(
                    display_name=f"store {store}", filter=segment_pb2.SegmentFilter(home_stores=[store])
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=self.md,
        )
        return resp.segment.name

    async def create(
        self, segment: str, start: datetime, *, throttle: int = 5, **kw
    ) -> campaign_pb2.Campaign:
        fields = dict(
            display_name=f"spring {uuid.uuid4().hex[:6]}",
            segment=segment,
            message_body="{{ member.display_name }}, 春季护理季 - 送您 {{ event.points }} 积分",
            reward_points=50,
            start_time=ts(start),
            throttle_per_minute=throttle,
        )
        fields.update(kw)
        validate_only = fields.pop("validate_only", False)
        resp = await self.members.stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(**fields),
                request_id=str(uuid.uuid4()),
                validate_only=validate_only,
            ),
            metadata=self.md,
        )
        return resp.campaign

    async def get(self, name: str) -> campaign_pb2.Campaign:
        return (
            await self.members.stub.GetCampaign(pb.GetCampaignRequest(name=name), metadata=self.md)
        ).campaign

    async def run(self, now: datetime) -> int:
        return await run_campaigns(self.members.db, self.uows, self.cipher, now)

    async def sent(self, campaign: str | None = None) -> list[str]:
        """Recipients of CampaignMessageDue in this tenant's outbox (of one campaign)."""
        async with self.members.db.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq"),
                    {"t": self.tenant, "e": members_events.CampaignMessageDue.DESCRIPTOR.full_name},
                )
            ).all()
        events = [
            unpack(EventEnvelope.FromString(r.payload), members_events.CampaignMessageDue) for r in rows
        ]
        return [e.member for e in events if campaign is None or e.campaign == campaign]

    async def campaign_rows(self) -> int:
        async with self.members.db.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT count(*) FROM campaigns WHERE tenant_id = :t"), {"t": self.tenant}
                )
            ).scalar_one()


async def test_bad_campaigns_are_refused_and_write_nothing(members):
    mk = Marketing(members)
    store = await members.create_store(mk.tenant)
    segment = await mk.segment(store)
    later = datetime.now(UTC) + timedelta(hours=1)
    cases = [
        ({"segment": "segments/nope"}, grpc.StatusCode.NOT_FOUND, "SEGMENT_NOT_FOUND"),
        ({"segment": "nope"}, grpc.StatusCode.INVALID_ARGUMENT, "campaign.segment"),
        (
            {"start_time": ts(datetime.now(UTC) - timedelta(hours=1))},
            grpc.StatusCode.INVALID_ARGUMENT,
            "past",
        ),
        ({"throttle_per_minute": 10_001}, grpc.StatusCode.INVALID_ARGUMENT, "throttle_per_minute"),
        ({"throttle_per_minute": -1}, grpc.StatusCode.INVALID_ARGUMENT, "throttle_per_minute"),
        ({"reward_points": -5}, grpc.StatusCode.INVALID_ARGUMENT, "reward_points"),
        ({"reward_points": 10**9}, grpc.StatusCode.INVALID_ARGUMENT, "reward_points"),
        ({"message_body": "{{ member.phone }} hi"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown variables"),
        ({"message_body": "{% for x in y %}{% endfor %}"}, grpc.StatusCode.INVALID_ARGUMENT, "placeholders"),
        ({"message_body": "x" * 501}, grpc.StatusCode.INVALID_ARGUMENT, "message_body"),
        ({"message_body": "  "}, grpc.StatusCode.INVALID_ARGUMENT, "message_body"),
        ({"display_name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "display_name"),
    ]
    for change, code, needle in cases:
        fields = {"segment": segment, **change}
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await mk.create(fields.pop("segment"), later, **fields)
        assert err.value.code() == code, change
        assert needle in (err.value.details() or "") + str(err.value.trailing_metadata()), change
    # the wrong role, a foreign tenant's campaign
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(display_name="x", segment=segment, message_body="hi"),
                request_id=str(uuid.uuid4()),
            ),
            metadata=members.auth(mk.tenant, roles=["front_desk"], stores=[store.split("/")[1]]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await mk.campaign_rows() == 0
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mk.get("campaigns/nope")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_campaign_sends_within_the_throttle_pauses_resumes_and_sends_each_member_once(members):
    mk = Marketing(members)
    store = await members.create_store(mk.tenant)
    consenting = [await mk.register(store, consent=True) for _ in range(11)]
    silent = [await mk.register(store, consent=False) for _ in range(2)]
    segment = await mk.segment(store)
    t0 = datetime.now(UTC) + timedelta(days=1)

    # dry run: counted, priced (13 members, 1 SMS part each, 5 fen a part), nothing written
    preview = await mk.create(segment, t0, validate_only=True)
    assert (preview.estimated_member_count, preview.estimated_sms_cost_minor) == (13, 65)
    assert await mk.campaign_rows() == 0

    campaign = await mk.create(segment, t0)
    assert campaign.state == campaign_pb2.CAMPAIGN_STATE_SCHEDULED
    await mk.run(t0 - timedelta(seconds=1))  # not yet
    assert await mk.sent() == []

    # starts: 13 targeted; 5 handled in the first minute
    await mk.run(t0)
    late = await mk.register(store, consent=True)  # joins the segment after the start: not a recipient
    got = await mk.get(campaign.name)
    assert (got.state, got.targeted_count) == (campaign_pb2.CAMPAIGN_STATE_RUNNING, 13)
    first = len(await mk.sent())
    assert got.sent_count + got.suppressed_no_consent_count == 5 and first == got.sent_count
    await mk.run(t0 + timedelta(seconds=30))  # same minute: throttled
    assert len(await mk.sent()) == first

    # erase a not-yet-sent consenting member: suppressed INACTIVE at send time
    pending = sorted(set(consenting) - set(await mk.sent()))
    erased = pending[-1]
    await members.stub.EraseMember(
        pb.EraseMemberRequest(name=erased, reason="member asked", request_id=str(uuid.uuid4())),
        metadata=members.auth(mk.tenant),
    )

    paused = await members.stub.PauseCampaign(
        pb.PauseCampaignRequest(name=campaign.name, request_id=str(uuid.uuid4())), metadata=mk.md
    )
    assert paused.campaign.state == campaign_pb2.CAMPAIGN_STATE_PAUSED
    await mk.run(t0 + timedelta(minutes=5))
    assert len(await mk.sent()) == first
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.PauseCampaign(
            pb.PauseCampaignRequest(name=campaign.name, request_id=str(uuid.uuid4())), metadata=mk.md
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    resumed = await members.stub.ResumeCampaign(
        pb.ResumeCampaignRequest(name=campaign.name, request_id=str(uuid.uuid4())), metadata=mk.md
    )
    assert resumed.campaign.state == campaign_pb2.CAMPAIGN_STATE_RUNNING

    # two replicas at once, minute after minute, until done
    for minute in range(6, 12):
        now = t0 + timedelta(minutes=minute)
        await asyncio.gather(mk.run(now), mk.run(now))
    got = await mk.get(campaign.name)
    sent = await mk.sent(campaign.name)
    assert got.state == campaign_pb2.CAMPAIGN_STATE_COMPLETED
    assert len(sent) == len(set(sent)) == 10  # each consenting member once, not the erased one
    assert set(sent) == set(consenting) - {erased}
    assert late not in sent and not set(silent) & set(sent)
    assert (got.sent_count, got.suppressed_no_consent_count, got.suppressed_inactive_count) == (10, 2, 1)
    async with members.db.connect() as conn:
        reasons = dict(
            (
                await conn.execute(
                    text(
                        "SELECT 'members/' || member_id::text, suppression_reason FROM campaign_recipients"
                        " WHERE tenant_id = :t AND status = 'suppressed'"
                    ),
                    {"t": mk.tenant},
                )
            ).all()
        )
    assert reasons == {silent[0]: "NO_CONSENT", silent[1]: "NO_CONSENT", erased: "INACTIVE"}
    async with members.db.connect() as conn:
        lifecycle = (
            await conn.execute(
                text(
                    "SELECT event_type, payload FROM outbox"
                    " WHERE tenant_id = :t AND aggregate_type = 'campaign' ORDER BY seq"
                ),
                {"t": mk.tenant},
            )
        ).all()
    assert [r.event_type for r in lifecycle] == [
        members_events.CampaignStarted.DESCRIPTOR.full_name,
        members_events.CampaignCompleted.DESCRIPTOR.full_name,
    ]
    started = unpack(EventEnvelope.FromString(lifecycle[0].payload), members_events.CampaignStarted)
    completed = unpack(EventEnvelope.FromString(lifecycle[1].payload), members_events.CampaignCompleted)
    assert (started.segment, started.targeted_count) == (segment, 13)
    assert (
        completed.sent_count,
        completed.suppressed_no_consent_count,
        completed.suppressed_inactive_count,
    ) == (
        10,
        2,
        1,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.CancelCampaign(
            pb.CancelCampaignRequest(name=campaign.name, request_id=str(uuid.uuid4())), metadata=mk.md
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_cancelled_campaign_sends_no_more(members):
    mk = Marketing(members)
    store = await members.create_store(mk.tenant)
    for _ in range(6):
        await mk.register(store, consent=True)
    segment = await mk.segment(store)
    t0 = datetime.now(UTC) + timedelta(days=1)
    campaign = await mk.create(segment, t0, throttle=2)
    await mk.run(t0)
    assert len(await mk.sent()) == 2
    rid = str(uuid.uuid4())
    for _ in range(2):  # a retried cancel replays the first answer
        cancelled = await members.stub.CancelCampaign(
            pb.CancelCampaignRequest(name=campaign.name, request_id=rid), metadata=mk.md
        )
        assert cancelled.campaign.state == campaign_pb2.CAMPAIGN_STATE_CANCELLED
    await mk.run(t0 + timedelta(minutes=5))
    assert len(await mk.sent()) == 2
    listed = await members.stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=mk.md)
    assert [c.name for c in listed.campaigns] == [campaign.name]


@pytest_asyncio.fixture(scope="module")
async def js(members) -> AsyncIterator:
    nc, js = await connect(members.nats_url, "members-campaign-tests")
    await ensure_stream(js, "wallet")
    try:
        yield js
    finally:
        await nc.close()


async def test_attribution_counts_the_recipients_checkouts_within_the_window(members, js):
    """Expected figures are the test's own checkouts (published as the wallet would)."""
    mk = Marketing(members)
    world = World(members, js)
    world.tenant = mk.tenant
    store = await members.create_store(mk.tenant)
    a, b, c = [await mk.register(store, consent=True) for _ in range(3)]
    silent = await mk.register(store, consent=False)
    segment = await mk.segment(store)
    t0 = datetime.now(UTC) + timedelta(days=1)
    campaign = await mk.create(segment, t0, throttle=100)
    await mk.run(t0)  # every recipient sent at t0 (the silent one suppressed)

    def member(name: str) -> member_pb2.Member:
        return member_pb2.Member(name=name)

    await world.checkout(member(a), store, 10_000, t0 + timedelta(days=2))  # counts
    await world.checkout(member(a), store, 5_000, t0 + timedelta(days=29))  # counts
    await world.checkout(member(b), store, 7_000, t0 + timedelta(days=31))  # after 30 days: not
    await world.checkout(member(c), store, 3_000, t0 - timedelta(hours=1))  # before the send: not
    await world.checkout(member(silent), store, 9_000, t0 + timedelta(days=1))  # not a recipient

    async def results(window: int = 0) -> campaign_pb2.CampaignResults:
        resp = await members.stub.GetCampaignResults(
            pb.GetCampaignResultsRequest(name=campaign.name, window_days=window), metadata=mk.md
        )
        return resp.results

    r = await results()
    assert (r.window_days, r.recipients_sent, r.rewards_granted) == (30, 3, 3)
    assert (r.members_visited, r.visits, r.spend_minor) == (1, 2, 15_000)
    r = await results(45)
    assert (r.members_visited, r.visits, r.spend_minor) == (2, 3, 22_000)
    for bad in (-1, 366):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await results(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.GetCampaignResults(
            pb.GetCampaignResultsRequest(name=campaign.name), metadata=members.auth("another-tenant")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_campaign_to_5000_members_sends_each_once_within_the_throttle(members):
    """The acceptance's size: 5,000 members (4,900 opted in), throttle 1,000 a minute, two replicas."""
    mk = Marketing(members)
    store = await members.create_store(mk.tenant)
    total, silent = 5_000, 100
    base = 60_000_000 + (abs(hash(mk.tenant)) % 1_000) * 10_000

    async def register(i: int) -> None:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="顾客",
                    phone=f"138{base + i:08d}",
                    home_store=store,
                    consent=member_pb2.Consent(marketing_sms=i >= silent),
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=members.auth(mk.tenant),
        )

    for start in range(0, total, 50):
        await asyncio.gather(*(register(i) for i in range(start, start + 50)))
    segment = await mk.segment(store)
    t0 = datetime.now(UTC) + timedelta(days=1)
    campaign = await mk.create(segment, t0, throttle=1_000)
    for minute in range(7):
        now = t0 + timedelta(minutes=minute)
        await asyncio.gather(mk.run(now), mk.run(now))
        got = await mk.get(campaign.name)
        handled = got.sent_count + got.suppressed_no_consent_count
        assert handled == min(total, 1_000 * (minute + 1))  # never more than the throttle a minute
    sent = await mk.sent(campaign.name)
    assert got.state == campaign_pb2.CAMPAIGN_STATE_COMPLETED
    assert (got.targeted_count, got.sent_count, got.suppressed_no_consent_count) == (
        total,
        total - silent,
        silent,
    )
    assert len(sent) == len(set(sent)) == total - silent
