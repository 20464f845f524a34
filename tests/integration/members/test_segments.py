"""Segments through the public gRPC API on real PostgreSQL and NATS JetStream.

The members service runs in-process (the ``members`` fixture, with its own consumers, including
``members-engagement-facts``); wallet events are published straight to the wallet stream, as the
wallet's relay would, and each test waits until both members consumers have handled them. Every
test uses a tenant of its own. Counts are evaluated at a fixed ``as_of_time`` where it matters.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import segment_pb2 as sg
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy import text

from kit.messaging import EventEnvelope, connect, ensure_stream, new_envelope, unpack
from services.members.entrypoints.consumers import ENGAGEMENT_DURABLE, WALLET_DURABLE
from tests.integration.members.test_spend_and_referrals import eventually

pytestmark = pytest.mark.integration

_phones = iter(range(10_000_000))


def new_phone() -> str:
    return f"136{next(_phones) + 71_000_000:08d}"


def rid() -> str:
    return str(uuid.uuid4())


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


class World:
    def __init__(self, members, js):
        self.members = members
        self.js = js
        self.tenant = f"t-{uuid.uuid4().hex[:10]}"

    def md(self, roles=None):
        return self.members.auth(self.tenant, roles=roles)

    async def sql(self, query: str, **params):
        async with self.members.db.connect() as conn:
            return (await conn.execute(text(query), params)).all()

    async def register(self, store: str, *, birthday="", tags=(), sms=False) -> member_pb2.Member:
        resp = await self.members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="顾客",
                    phone=new_phone(),
                    home_store=store,
                    birthday=birthday,
                    tags=list(tags),
                    consent=member_pb2.Consent(marketing_sms=sms),
                ),
                request_id=rid(),
            ),
            metadata=self.md(),
        )
        return resp.member

    async def publish(self, event, aggregate_id: str, *, consumers=(ENGAGEMENT_DURABLE,)) -> None:
        envelope = new_envelope(event, tenant=self.tenant, aggregate_type="wallet", aggregate_id=aggregate_id)
        subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
        await self.js.publish(
            subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id}
        )

        async def handled() -> bool:
            rows = await self.sql(
                "SELECT count(*) FROM inbox WHERE event_id = :e AND consumer = ANY(:c)",
                e=uuid.UUID(envelope.event_id),
                c=list(consumers),
            )
            return rows[0][0] == len(consumers)

        await eventually(handled, within=60, what=f"{envelope.event_type} handled")

    async def checkout(self, member: member_pb2.Member, store: str, spend_minor: int, at: datetime) -> None:
        checkout_id = str(uuid.uuid4())
        await self.publish(
            wallet_events.CheckoutCompleted(
                checkout=f"checkouts/{checkout_id}",
                member=member.name,
                store=store,
                total_minor=spend_minor,
                qualifying_spend_minor=spend_minor,
                currency_code="CNY",
                create_time=ts(at),
            ),
            checkout_id,
            consumers=(WALLET_DURABLE, ENGAGEMENT_DURABLE),
        )

    async def count(self, filter: sg.SegmentFilter | None = None, *, as_of=None, segment="") -> int:
        req = pb.CountSegmentRequest(segment=segment)
        if filter is not None:
            req.filter.CopyFrom(filter)
        if as_of is not None:
            req.as_of_time.CopyFrom(ts(as_of))
        return (await self.members.stub.CountSegment(req, metadata=self.md(["marketing"]))).member_count

    async def names(self, filter: sg.SegmentFilter, *, as_of=None, page_size=0) -> list[str]:
        out, token = [], ""
        while True:
            req = pb.ListSegmentMembersRequest(filter=filter, page_size=page_size, page_token=token)
            if as_of is not None:
                req.as_of_time.CopyFrom(ts(as_of))
            resp = await self.members.stub.ListSegmentMembers(req, metadata=self.md(["marketing"]))
            out += [m.name for m in resp.members]
            for m in resp.members:
                assert "*" in m.phone  # personal data masked in a list
            token = resp.next_page_token
            if not token:
                return out


@pytest_asyncio.fixture(scope="module")
async def js(members) -> AsyncIterator:
    nc, js = await connect(members.nats_url, "members-segment-tests")
    await ensure_stream(js, "wallet")
    try:
        yield js
    finally:
        await nc.close()


@pytest_asyncio.fixture
async def world(members, js) -> World:
    return World(members, js)


def _violations(err: grpc.aio.AioRpcError) -> list[str]:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    return [v.field for v in bad.field_violations]
    return []


def _reason(err: grpc.aio.AioRpcError) -> str:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return ""


async def test_each_criterion_selects_exactly_its_members(world: World):
    now = datetime.now(UTC)
    shanghai = await world.members.create_store(world.tenant)
    other = await world.members.create_store(world.tenant)
    vip_sms = await world.register(shanghai, tags=["vip", "facial"], sms=True)
    vip = await world.register(shanghai, tags=["vip"])
    lapsed = await world.register(other, tags=["facial"], sms=True)
    never = await world.register(other)

    # vip_sms: two visits at `other` this month, ¥900; vip: one visit 10 days ago, ¥100;
    # lapsed: one visit 100 days ago (¥5,000); never: none.
    await world.checkout(vip_sms, other, 50_000, now - timedelta(days=3))
    await world.checkout(vip_sms, other, 40_000, now - timedelta(days=1))
    await world.checkout(vip, shanghai, 10_000, now - timedelta(days=10))
    await world.checkout(lapsed, other, 500_000, now - timedelta(days=100))
    await world.publish(
        wallet_events.BalanceChanged(member=vip.name, principal_minor=30_000, bonus_minor=6_000), "b1"
    )
    await world.publish(
        wallet_events.PointsEarned(member=lapsed.name, points=700, points_available=700), "p1"
    )
    # The latest balance wins.
    await world.publish(
        wallet_events.PointsRedeemed(member=lapsed.name, points=100, points_available=600), "p2"
    )

    async def selects(f: sg.SegmentFilter, expected: list[member_pb2.Member]) -> None:
        want = sorted(m.name for m in expected)
        assert sorted(await world.names(f, as_of=now)) == want, f
        assert await world.count(f, as_of=now) == len(want), f

    await selects(sg.SegmentFilter(), [vip_sms, vip, lapsed, never])
    await selects(sg.SegmentFilter(home_stores=[shanghai]), [vip_sms, vip])
    await selects(sg.SegmentFilter(visited_stores=[other]), [vip_sms, lapsed])
    await selects(sg.SegmentFilter(tags_any=["facial"]), [vip_sms, lapsed])
    await selects(sg.SegmentFilter(tags_all=["vip", "facial"]), [vip_sms])
    await selects(sg.SegmentFilter(consented_channels=[sg.MARKETING_CHANNEL_SMS]), [vip_sms, lapsed])
    await selects(sg.SegmentFilter(no_visit_for_days=60), [lapsed])
    # `never` registered just now, so not before the cut-off 60 days ago; 0 days later it would be.
    await selects(sg.SegmentFilter(no_visit_for_days=60, include_never_visited=True), [lapsed])
    await selects(sg.SegmentFilter(visited_within_days=7), [vip_sms])
    await selects(sg.SegmentFilter(visited_within_days=30), [vip_sms, vip])
    spend_30 = sg.WindowedRange(window_days=30, range=sg.Int64Range(min=50_000))
    await selects(sg.SegmentFilter(spend=spend_30), [vip_sms])
    spend_low = sg.WindowedRange(window_days=365, range=sg.Int64Range(max=10_000))
    await selects(sg.SegmentFilter(spend=spend_low), [vip, never])  # no spend counts as 0
    # With members-table criteria too (the window then aggregates only their candidates).
    await selects(sg.SegmentFilter(home_stores=[shanghai], spend=spend_30), [vip_sms])
    await selects(sg.SegmentFilter(home_stores=[other], spend=spend_low), [never])
    await selects(sg.SegmentFilter(visited_stores=[other], spend=spend_low), [])
    await selects(
        sg.SegmentFilter(visits=sg.WindowedRange(window_days=30, range=sg.Int64Range(min=2))), [vip_sms]
    )
    await selects(sg.SegmentFilter(points_balance=sg.Int64Range(min=500)), [lapsed])
    await selects(sg.SegmentFilter(points_balance=sg.Int64Range(min=601)), [])
    await selects(sg.SegmentFilter(stored_value_balance=sg.Int64Range(min=36_000, max=36_000)), [vip])
    await selects(sg.SegmentFilter(tier_ids=["regular"], tags_any=["vip"]), [vip_sms, vip])
    await selects(sg.SegmentFilter(tier_ids=["gold"]), [])
    later = now + timedelta(days=90)  # evaluated 90 days on, everyone has lapsed 60 days
    f = sg.SegmentFilter(no_visit_for_days=60, include_never_visited=True)
    assert await world.count(f, as_of=later) == 4
    # Paging without an evaluation time: later pages keep the first page's.
    assert sorted(await world.names(sg.SegmentFilter(), page_size=3)) == sorted(
        m.name for m in (vip_sms, vip, lapsed, never)
    )
    # A token is refused with another filter.
    first = await world.members.stub.ListSegmentMembers(
        pb.ListSegmentMembersRequest(filter=sg.SegmentFilter(), page_size=1), metadata=world.md(["marketing"])
    )
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await world.members.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(
                filter=sg.SegmentFilter(tags_any=["vip"]), page_size=1, page_token=first.next_page_token
            ),
            metadata=world.md(["marketing"]),
        )
    assert other.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Paging: page size 1 walks every member once.
    assert sorted(await world.names(sg.SegmentFilter(), as_of=now, page_size=1)) == sorted(
        m.name for m in (vip_sms, vip, lapsed, never)
    )


async def test_birthday_window_and_the_29_february_rule(world: World):
    store = await world.members.create_store(world.tenant)
    leap = await world.register(store, birthday="1992-02-29")
    feb28 = await world.register(store, birthday="1990-02-28")
    mar1 = await world.register(store, birthday="1985-03-01")
    await world.register(store, birthday="1988-12-31")
    await world.register(store)  # no birthday: never in a birthday segment

    def at_shanghai(y, m, d, hour=9):
        return datetime(y, m, d, hour, tzinfo=UTC) - timedelta(hours=8)

    one_day = sg.SegmentFilter(birthday_within_days=1)
    # 2027 has no 29 February: those members celebrate on the 28th.
    assert sorted(await world.names(one_day, as_of=at_shanghai(2027, 2, 28))) == sorted(
        [leap.name, feb28.name]
    )
    # 2028 has one: on the 28th only the 28th, on the 29th only the leap-day member.
    assert await world.names(one_day, as_of=at_shanghai(2028, 2, 28)) == [feb28.name]
    assert await world.names(one_day, as_of=at_shanghai(2028, 2, 29)) == [leap.name]
    two_days = sg.SegmentFilter(birthday_within_days=2)
    assert sorted(await world.names(two_days, as_of=at_shanghai(2027, 2, 28))) == sorted(
        [leap.name, feb28.name, mar1.name]
    )
    # The day is the one in the filter's zone: 23:30 on 27 Feb in New York is 28 Feb in Shanghai.
    ny_evening = datetime(2027, 2, 28, 4, 30, tzinfo=UTC)
    assert await world.count(one_day, as_of=ny_evening) == 2
    in_ny = sg.SegmentFilter(birthday_within_days=1, time_zone="America/New_York")
    assert await world.count(in_ny, as_of=ny_evening) == 0
    # Across the year end.
    assert await world.count(sg.SegmentFilter(birthday_within_days=3), as_of=at_shanghai(2027, 12, 30)) == 1
    assert await world.count(sg.SegmentFilter(birthday_months=[2])) == 2
    assert await world.count(sg.SegmentFilter(birthday_months=[2, 3])) == 3


async def test_saved_segment_is_idempotent_unique_and_announced(world: World):
    store = await world.members.create_store(world.tenant)
    await world.register(store, tags=["vip"])
    await world.register(store)
    request = pb.CreateSegmentRequest(
        segment=sg.Segment(display_name="VIP", filter=sg.SegmentFilter(tags_any=["vip"])),
        segment_id="vip",
        request_id=rid(),
    )
    first = await world.members.stub.CreateSegment(request, metadata=world.md(["marketing"]))
    again = await world.members.stub.CreateSegment(request, metadata=world.md(["marketing"]))
    assert first == again and first.segment.name == "segments/vip"
    got = await world.members.stub.GetSegment(pb.GetSegmentRequest(name="segments/vip"), metadata=world.md())
    assert got.segment.filter.tags_any == ["vip"] and got.segment.display_name == "VIP"
    listed = await world.members.stub.ListSegments(pb.ListSegmentsRequest(), metadata=world.md())
    assert [s.name for s in listed.segments] == ["segments/vip"]
    assert await world.count(segment="segments/vip") == 1

    same_name = pb.CreateSegmentRequest(
        segment=sg.Segment(display_name="VIP", filter=sg.SegmentFilter()), segment_id="vip2", request_id=rid()
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await world.members.stub.CreateSegment(same_name, metadata=world.md())
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS and _reason(err.value) == "SEGMENT_EXISTS"

    rows = await world.sql(
        "SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e",
        t=world.tenant,
        e=members_events.SegmentSaved.DESCRIPTOR.full_name,
    )
    saved = [unpack(EventEnvelope.FromString(r.payload), members_events.SegmentSaved) for r in rows]
    assert [(s.segment, s.display_name, list(s.filter.tags_any)) for s in saved] == [
        ("segments/vip", "VIP", ["vip"])
    ]


BAD_FILTERS = [
    (sg.SegmentFilter(birthday_months=[13]), "segment.filter.birthday_months"),
    (sg.SegmentFilter(birthday_within_days=367), "segment.filter.birthday_within_days"),
    (sg.SegmentFilter(no_visit_for_days=-1), "segment.filter.no_visit_for_days"),
    (sg.SegmentFilter(include_never_visited=True), "segment.filter.include_never_visited"),
    (
        sg.SegmentFilter(spend=sg.WindowedRange(window_days=0, range=sg.Int64Range(min=1))),
        "segment.filter.spend.window_days",
    ),
    (sg.SegmentFilter(spend=sg.WindowedRange(window_days=30)), "segment.filter.spend.range"),
    (sg.SegmentFilter(points_balance=sg.Int64Range(min=5, max=1)), "segment.filter.points_balance"),
    (sg.SegmentFilter(home_stores=["shops/x"]), "segment.filter.home_stores[0]"),
    (sg.SegmentFilter(tags_any=[" "]), "segment.filter.tags_any[0]"),
    (
        sg.SegmentFilter(consented_channels=[sg.MARKETING_CHANNEL_UNSPECIFIED]),
        "segment.filter.consented_channels[0]",
    ),
    (sg.SegmentFilter(time_zone="Mars/Olympus"), "segment.filter.time_zone"),
    (
        sg.SegmentFilter(
            registered_after=ts(datetime(2026, 1, 2, tzinfo=UTC)),
            registered_before=ts(datetime(2026, 1, 1, tzinfo=UTC)),
        ),
        "segment.filter.registered_before",
    ),
]


async def test_bad_segments_are_refused_and_write_nothing(world: World):
    store = await world.members.create_store(world.tenant)

    async def refused(segment: sg.Segment, roles=None) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await world.members.stub.CreateSegment(
                pb.CreateSegmentRequest(segment=segment, request_id=rid()), metadata=world.md(roles)
            )
        return err.value

    for bad, path in BAD_FILTERS:
        err = await refused(sg.Segment(display_name="x", filter=bad))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, err.details())
        assert path in _violations(err), (path, _violations(err))
        # The same filter ad hoc is refused the same way (paths under `filter.`).
        with pytest.raises(grpc.aio.AioRpcError) as counted:
            await world.count(bad)
        assert counted.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert path.removeprefix("segment.") in _violations(counted.value)
    err = await refused(sg.Segment(display_name=" ", filter=sg.SegmentFilter()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await refused(sg.Segment(display_name="x", filter=sg.SegmentFilter(tier_ids=["emerald"])))
    assert err.code() == grpc.StatusCode.NOT_FOUND and _reason(err) == "TIER_NOT_FOUND"
    err = await refused(
        sg.Segment(display_name="x", filter=sg.SegmentFilter(visited_stores=["stores/nowhere"]))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and _reason(err) == "STORE_NOT_FOUND"
    err = await refused(
        sg.Segment(display_name="x", filter=sg.SegmentFilter(home_stores=[store])), ["front_desk"]
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as denied:  # refused before the request is even read
        await world.members.stub.CountSegment(pb.CountSegmentRequest(), metadata=world.md(["front_desk"]))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as both:
        await world.members.stub.CountSegment(
            pb.CountSegmentRequest(segment="segments/x", filter=sg.SegmentFilter()), metadata=world.md()
        )
    assert both.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await world.count(segment="segments/none")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    assert await world.sql("SELECT 1 FROM segments WHERE tenant_id = :t", t=world.tenant) == []
    assert (
        await world.sql(
            "SELECT 1 FROM outbox WHERE tenant_id = :t AND event_type LIKE '%Segment%'", t=world.tenant
        )
        == []
    )
