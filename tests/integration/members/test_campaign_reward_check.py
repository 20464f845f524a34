"""CreateCampaign checks a reward voucher template with the real wallet over gRPC (members calls
``GetVoucherTemplate`` as itself): unknown → NOT_FOUND, deactivated → FAILED_PRECONDITION, the
wallet unreachable → UNAVAILABLE; every refusal writes nothing. Also the wallet's
``GetVoucherTemplate`` itself under hostile input, and the wallet's reward events projected into a
campaign's progress (refusals) and results (redemptions within the window)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2
from peony.members.v1 import campaign_pb2, member_pb2, segment_pb2, store_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from peony.wallet.v1 import events_pb2 as wallet_events
from peony.wallet.v1 import vouchers_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.config import load_config, to_async_url
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.messaging import EventEnvelope, connect, ensure_stream, new_envelope, unpack
from kit.uow import UnitOfWorkFactory
from services.members.entrypoints.app import build
from services.members.entrypoints.consumers import ENGAGEMENT_DURABLE
from services.members.service_layer.birthday import run_birthdays
from services.members.service_layer.campaigns import run_campaigns
from services.members.service_layer.unit_of_work import MembersUnitOfWork
from tests.support.wallet import md, reason_of, running_wallet

pytestmark = pytest.mark.integration
TENANT = f"crc-{uuid.uuid4().hex[:8]}"


async def _members(infra, wallet_addr: str):
    url = to_async_url(await infra.amigrated_database("members", "members_crc"))
    config = load_config(
        "members",
        {
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_MEMBERS_GRPC_PORT": "0",
            "PEONY_WALLET_ADDR": wallet_addr,
            "PEONY_MEMBERS_WALLET_DEADLINE_SECONDS": "2",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    runner = await build(config)
    port = await runner.start()
    return runner, grpc.aio.insecure_channel(f"127.0.0.1:{port}"), create_async_engine(url)


@pytest_asyncio.fixture(scope="module")
async def world(infra) -> AsyncIterator:
    wallet_port = free_port()
    async with running_wallet(infra, "wallet_crc", PEONY_WALLET_GRPC_PORT=str(wallet_port)) as wallet:
        runner, channel, engine = await _members(infra, f"127.0.0.1:{wallet_port}")
        try:
            yield wallet, pb_grpc.MembersServiceStub(channel), engine
        finally:
            await channel.close()
            await engine.dispose()
            await runner.stop()


def _campaign(template: str) -> pb.CreateCampaignRequest:
    return pb.CreateCampaignRequest(
        campaign=campaign_pb2.Campaign(
            display_name="gift",
            segment="segments/crc",
            message_body="{{ member.display_name }}, a gift",
            reward_voucher_template=template,
        ),
        campaign_id=f"c-{uuid.uuid4().hex[:8]}",
        request_id=str(uuid.uuid4()),
    )


async def test_the_reward_template_is_checked_with_the_wallet_and_a_refusal_writes_nothing(world):
    wallet, members, engine = world
    admin = md(TENANT, ("hq_admin", "marketing"))
    await members.CreateSegment(
        pb.CreateSegmentRequest(
            segment=segment_pb2.Segment(display_name="all", filter=segment_pb2.SegmentFilter()),
            segment_id="crc",
            request_id=str(uuid.uuid4()),
        ),
        metadata=admin,
    )
    for template_id in ("live", "retired"):
        await wallet.stub.CreateVoucherTemplate(
            wpb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="¥20 off",
                    kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                    amount_off_minor=2000,
                    valid_days=30,
                ),
                voucher_template_id=template_id,
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )
    await wallet.stub.DeactivateVoucherTemplate(
        wpb.DeactivateVoucherTemplateRequest(name="voucherTemplates/retired", request_id=str(uuid.uuid4())),
        metadata=admin,
    )

    for template, code, reason in (
        ("voucherTemplates/nope", grpc.StatusCode.NOT_FOUND, "VOUCHER_TEMPLATE_NOT_FOUND"),
        ("voucherTemplates/retired", grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_TEMPLATE_INACTIVE"),
        ("voucherTemplates/UPPER", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ("voucherTemplates/a/b", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.CreateCampaign(_campaign(template), metadata=admin)
        assert (err.value.code(), reason_of(err.value)) == (code, reason), template
    # another tenant's template is unknown here
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.CreateCampaign(_campaign("voucherTemplates/live"), metadata=md("other", ("marketing",)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM campaigns"))).scalar_one() == 0

    made = await members.CreateCampaign(_campaign("voucherTemplates/live"), metadata=admin)
    assert made.campaign.reward_voucher_template == "voucherTemplates/live"

    # the wallet's GetVoucherTemplate under hostile input
    got = await wallet.stub.GetVoucherTemplate(
        wpb.GetVoucherTemplateRequest(name="voucherTemplates/retired"), metadata=admin
    )
    assert got.voucher_template.active is False
    for name, code in (
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("voucherTemplates/", grpc.StatusCode.INVALID_ARGUMENT),
        ("templates/live", grpc.StatusCode.INVALID_ARGUMENT),
        ("voucherTemplates/" + "x" * 500, grpc.StatusCode.INVALID_ARGUMENT),
        ("voucherTemplates/nope", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await wallet.stub.GetVoucherTemplate(wpb.GetVoucherTemplateRequest(name=name), metadata=admin)
        assert err.value.code() == code, name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await wallet.stub.GetVoucherTemplate(wpb.GetVoucherTemplateRequest(name="voucherTemplates/live"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_wallet_that_cannot_be_reached_is_unavailable_and_nothing_is_written(infra):
    runner, channel, engine = await _members(infra, f"127.0.0.1:{free_port()}")  # nobody listens
    try:
        members = pb_grpc.MembersServiceStub(channel)
        admin = md(TENANT, ("marketing",))
        await members.CreateSegment(
            pb.CreateSegmentRequest(
                segment=segment_pb2.Segment(display_name="all", filter=segment_pb2.SegmentFilter()),
                segment_id="crc",
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.CreateCampaign(_campaign("voucherTemplates/live"), metadata=admin)
        assert (err.value.code(), reason_of(err.value)) == (grpc.StatusCode.UNAVAILABLE, "WALLET_UNAVAILABLE")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM campaigns"))).scalar_one() == 0
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


async def test_refusals_show_in_progress_and_redemptions_in_the_windowed_results(world, infra):
    """The wallet's events as it publishes them (ProgrammeRewardSettled, VoucherRedeemed,
    PackageSessionConsumed) at times the test chooses; the expected figures are those events'."""
    wallet, members, engine = world
    tenant = f"crr-{uuid.uuid4().hex[:8]}"
    admin = md(tenant, ("hq_admin", "marketing"))
    await wallet.stub.CreateVoucherTemplate(
        wpb.CreateVoucherTemplateRequest(
            voucher_template=vouchers_pb2.VoucherTemplate(
                display_name="¥20 off",
                kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                amount_off_minor=2000,
                valid_days=30,
            ),
            voucher_template_id="gift",
            request_id=str(uuid.uuid4()),
        ),
        metadata=admin,
    )
    await members.CreateStore(
        pb.CreateStoreRequest(
            store_id="s1",
            store=store_pb2.Store(display_name="S1", time_zone="Asia/Shanghai"),
            request_id=str(uuid.uuid4()),
        ),
        metadata=admin,
    )
    names = []
    for i in range(2):
        resp = await members.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name=f"m{i}",
                    phone=f"1377654{i:04d}",
                    home_store="stores/s1",
                    consent=member_pb2.Consent(marketing_sms=True),
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )
        names.append(resp.member.name)
    a, b = names
    await members.CreateSegment(
        pb.CreateSegmentRequest(
            segment=segment_pb2.Segment(
                display_name="s1", filter=segment_pb2.SegmentFilter(home_stores=["stores/s1"])
            ),
            segment_id="crc",
            request_id=str(uuid.uuid4()),
        ),
        metadata=admin,
    )
    t0 = datetime.now(UTC) + timedelta(days=1)
    request = _campaign("voucherTemplates/gift")
    request.campaign.start_time.FromDatetime(t0)
    request.campaign.reward_free_service = "services/facial"
    request.campaign.reward_free_sessions = 3
    campaign = (await members.CreateCampaign(request, metadata=admin)).campaign
    config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": "postgresql+asyncpg://x/y"})
    cipher = PiiCipher(config.pii_master_key)
    uows = UnitOfWorkFactory(MembersUnitOfWork, session_factory(engine), service="members", cipher=cipher)
    await run_campaigns(engine, uows, cipher, t0)

    nc, js = await connect(infra.nats_url, "members-campaign-reward-tests")
    await ensure_stream(js, "wallet")
    campaign_id = campaign.name.split("/")[1]
    try:

        async def publish(event, at: datetime) -> None:
            envelope = new_envelope(
                event, tenant=tenant, aggregate_type="wallet", aggregate_id=str(uuid.uuid4()), occurred_at=at
            )
            subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
            await js.publish(
                subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id}
            )
            for _ in range(600):
                async with engine.connect() as conn:
                    done = (
                        await conn.execute(
                            text("SELECT count(*) FROM inbox WHERE event_id = :e AND consumer = :c"),
                            {"e": uuid.UUID(envelope.event_id), "c": ENGAGEMENT_DURABLE},
                        )
                    ).scalar_one()
                if done:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"{envelope.event_type} not handled")

        def settled(member: str, **kw) -> wallet_events.ProgrammeRewardSettled:
            return wallet_events.ProgrammeRewardSettled(
                member=member, programme="campaign", period=campaign_id, **kw
            )

        v1, p1, p2, other = (str(uuid.uuid4()) for _ in range(4))
        # the use may arrive before the grant's settlement: the join is at query time
        await publish(
            wallet_events.VoucherRedeemed(member=a, voucher=f"{a}/vouchers/{v1}"), t0 + timedelta(days=2)
        )
        await publish(settled(a, voucher=f"{a}/vouchers/{v1}", package=f"{a}/packages/{p1}"), t0)
        await publish(
            settled(b, package=f"{b}/packages/{p2}", refused_reason="VOUCHER_TEMPLATE_INACTIVE"), t0
        )
        await publish(
            wallet_events.PackageSessionConsumed(
                member=a, package=f"{a}/packages/{p1}", service="services/facial", sessions=2
            ),
            t0 + timedelta(days=3),
        )
        await publish(
            wallet_events.PackageSessionConsumed(
                member=b, package=f"{b}/packages/{p2}", service="services/facial", sessions=1
            ),
            t0 + timedelta(days=40),
        )
        await publish(
            wallet_events.VoucherRedeemed(member=b, voucher=f"{b}/vouchers/{other}"), t0 + timedelta(days=1)
        )

        got = (await members.GetCampaign(pb.GetCampaignRequest(name=campaign.name), metadata=admin)).campaign
        assert (got.sent_count, got.rewards_refused_count) == (2, 1)

        async def results(window: int) -> campaign_pb2.CampaignResults:
            req = pb.GetCampaignResultsRequest(name=campaign.name, window_days=window)
            return (await members.GetCampaignResults(req, metadata=admin)).results

        r = await results(30)
        assert (r.vouchers_redeemed, r.free_sessions_used) == (1, 2)
        r = await results(45)
        assert (r.vouchers_redeemed, r.free_sessions_used) == (1, 3)
    finally:
        await nc.close()


async def test_the_tenants_ladder_sets_the_birthday_points_and_voucher_checked_with_the_wallet(world):
    wallet, members, engine = world
    tenant = f"bdl-{uuid.uuid4().hex[:8]}"
    admin = md(tenant, ("hq_admin",))
    for template_id in ("bday-gold", "bday-old"):
        await wallet.stub.CreateVoucherTemplate(
            wpb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="生日礼券",
                    kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                    amount_off_minor=5000,
                    valid_days=30,
                ),
                voucher_template_id=template_id,
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )
    await wallet.stub.DeactivateVoucherTemplate(
        wpb.DeactivateVoucherTemplateRequest(name="voucherTemplates/bday-old", request_id=str(uuid.uuid4())),
        metadata=admin,
    )
    ladder = (await members.GetTierLadder(pb.GetTierLadderRequest(), metadata=admin)).tier_ladder
    gold = next(i for i, t in enumerate(ladder.tiers) if t.tier_id == "gold")

    async def update(points: int | None, template: str):
        changed = type(ladder)()
        changed.CopyFrom(ladder)
        benefits = changed.tiers[gold].benefits
        if points is not None:
            benefits.birthday_points = points
        benefits.birthday_voucher_template = template
        return await members.UpdateTierLadder(
            pb.UpdateTierLadderRequest(
                tier_ladder=changed,
                update_mask=field_mask_pb2.FieldMask(paths=["tiers"]),
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )

    for points, template, code in (
        (None, "voucherTemplates/nope", grpc.StatusCode.NOT_FOUND),
        (None, "voucherTemplates/bday-old", grpc.StatusCode.FAILED_PRECONDITION),
        (None, "templates/bday-gold", grpc.StatusCode.INVALID_ARGUMENT),
        (100_001, "", grpc.StatusCode.INVALID_ARGUMENT),
        (-1, "", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await update(points, template)
        assert err.value.code() == code, (points, template)
    unchanged = (await members.GetTierLadder(pb.GetTierLadderRequest(), metadata=admin)).tier_ladder
    assert unchanged == ladder  # nothing written
    with pytest.raises(grpc.aio.AioRpcError) as err:  # authorization before the wallet is asked
        await members.UpdateTierLadder(
            pb.UpdateTierLadderRequest(
                tier_ladder=ladder,
                update_mask=field_mask_pb2.FieldMask(paths=["tiers"]),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(tenant, ("front_desk",)),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    updated = await update(555, "voucherTemplates/bday-gold")
    got = updated.tier_ladder.tiers[gold].benefits
    assert (got.birthday_points, got.birthday_voucher_template) == (555, "voucherTemplates/bday-gold")

    await members.CreateStore(
        pb.CreateStoreRequest(
            store_id="s1",
            store=store_pb2.Store(display_name="S1", time_zone="Asia/Shanghai"),
            request_id=str(uuid.uuid4()),
        ),
        metadata=admin,
    )
    names = {}
    for tier_id, phone in (("gold", "13900001111"), ("regular", "13900002222")):
        member = (
            await members.RegisterMember(
                pb.RegisterMemberRequest(
                    member=member_pb2.Member(
                        display_name="寿星", phone=phone, home_store="stores/s1", birthday="1990-05-20"
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=admin,
            )
        ).member
        if tier_id != "regular":
            await members.SetMemberTier(
                pb.SetMemberTierRequest(
                    name=member.name, tier_id=tier_id, reason="test", request_id=str(uuid.uuid4())
                ),
                metadata=admin,
            )
        names[tier_id] = member.name
    config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": "postgresql+asyncpg://x/y"})
    cipher = PiiCipher(config.pii_master_key)
    uows = UnitOfWorkFactory(MembersUnitOfWork, session_factory(engine), service="members", cipher=cipher)
    await run_birthdays(engine, uows, cipher, datetime(2027, 5, 20, 1, 0, tzinfo=UTC))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT payload FROM outbox"
                    " WHERE tenant_id = :t AND event_type = 'peony.members.v1.BirthdayBenefitDue'"
                ),
                {"t": tenant},
            )
        ).all()
    due = {
        e.member: e
        for e in (
            unpack(EventEnvelope.FromString(r.payload), members_events.BirthdayBenefitDue) for r in rows
        )
    }
    assert (due[names["gold"]].points, due[names["gold"]].reward.voucher_template) == (
        555,
        "voucherTemplates/bday-gold",
    )
    assert due[names["regular"]].points == 100 and not due[names["regular"]].HasField("reward")
