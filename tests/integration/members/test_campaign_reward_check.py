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
from peony.members.v1 import campaign_pb2, member_pb2, referral_pb2, segment_pb2, store_pb2
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
from tests.support.stack import private_nats
from tests.support.wallet import md, reason_of, running_wallet

pytestmark = pytest.mark.integration
TENANT = f"crc-{uuid.uuid4().hex[:8]}"


async def _members(infra, wallet_addr: str, nats_url: str):
    url = to_async_url(await infra.amigrated_database("members", "members_crc"))
    config = load_config(
        "members",
        {
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": nats_url,
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
async def world(infra, tmp_path_factory) -> AsyncIterator:
    """NATS of its own: on the session's server the members' engagement durable would start with
    every wallet event the earlier tests published (``private_nats``), and the test that waits for
    it to drain would wait that backlog out."""
    wallet_port = free_port()
    with private_nats(tmp_path_factory.mktemp("crc_nats")) as nats_url:
        async with running_wallet(
            infra, "wallet_crc", PEONY_WALLET_GRPC_PORT=str(wallet_port), PEONY_NATS_URL=nats_url
        ) as wallet:
            runner, channel, engine = await _members(infra, f"127.0.0.1:{wallet_port}", nats_url)
            try:
                yield wallet, pb_grpc.MembersServiceStub(channel), engine, nats_url
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
    wallet, members, engine, _nats_url = world
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
    nobody_listens = f"127.0.0.1:{free_port()}"
    runner, channel, engine = await _members(infra, nobody_listens, infra.nats_url)
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


async def test_refusals_show_in_progress_and_redemptions_in_the_windowed_results(world):
    """The wallet's events as it publishes them (ProgrammeRewardSettled, VoucherRedeemed,
    PackageSessionConsumed) at times the test chooses; the expected figures are those events'."""
    wallet, members, engine, nats_url = world
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

    nc, js = await connect(nats_url, "members-campaign-reward-tests")
    await ensure_stream(js, "wallet")
    campaign_id = campaign.name.split("/")[1]
    try:

        async def publish(event, at: datetime, *, times: int = 1) -> None:
            """``times`` > 1: the same envelope (event id) delivered again, as after a relay crash
            (another Nats-Msg-Id, so JetStream's de-duplication does not hide it)."""
            envelope = new_envelope(
                event, tenant=tenant, aggregate_type="wallet", aggregate_id=str(uuid.uuid4()), occurred_at=at
            )
            subject = "peony.wallet." + envelope.event_type.rsplit(".", 1)[-1]
            for i in range(times):
                await js.publish(
                    subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": f"{envelope.event_id}-{i}"}
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
            wallet_events.VoucherRedeemed(member=a, voucher=f"{a}/vouchers/{v1}", checkout="checkouts/c1"),
            t0 + timedelta(days=2),
        )
        await publish(settled(a, voucher=f"{a}/vouchers/{v1}", package=f"{a}/packages/{p1}"), t0)
        await publish(
            settled(b, package=f"{b}/packages/{p2}", refused_reason="VOUCHER_TEMPLATE_INACTIVE"), t0
        )
        await publish(
            wallet_events.PackageSessionConsumed(
                member=a,
                package=f"{a}/packages/{p1}",
                service="services/facial",
                sessions=2,
                checkout="checkouts/c2",
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

        # Refunds, 50 days in (after both windows): checkout c1 gives a's voucher back, c2 one of
        # its two sessions; each event delivered twice. The counts go back down exactly once, in
        # the windows the uses fell in (a restore is dated like the use it undoes).
        await publish(
            wallet_events.VoucherRestored(
                member=a,
                voucher=f"{a}/vouchers/{v1}",
                checkout="checkouts/c1",
                refund="checkouts/c1/refunds/r1",
            ),
            t0 + timedelta(days=50),
            times=2,
        )
        await publish(
            wallet_events.PackageSessionsRestored(
                member=a,
                package=f"{a}/packages/{p1}",
                service="services/facial",
                sessions=1,
                sessions_remaining=2,
                checkout="checkouts/c2",
            ),
            t0 + timedelta(days=50),
            times=2,
        )
        for _ in range(600):  # the second deliveries handled (dropped) too, before counting
            info = await js.consumer_info("PEONY_WALLET", ENGAGEMENT_DURABLE)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.1)
        r = await results(30)
        assert (r.vouchers_redeemed, r.free_sessions_used) == (0, 1)
        r = await results(45)
        assert (r.vouchers_redeemed, r.free_sessions_used) == (0, 2)
        async with engine.connect() as conn:
            restores = (
                await conn.execute(
                    text(
                        "SELECT kind, sessions FROM campaign_reward_uses"
                        " WHERE tenant_id = :t AND sessions < 0"
                    ),
                    {"t": tenant},
                )
            ).all()
        assert sorted(restores) == [("package", -1), ("voucher", -1)]  # once each despite redelivery
    finally:
        await nc.close()


async def test_the_tenants_ladder_sets_the_birthday_points_and_voucher_checked_with_the_wallet(world):
    wallet, members, engine, _nats_url = world
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


async def test_programme_settings_per_tenant_drive_the_anniversary_and_lapse_rewards(world):
    """UpdateProgrammeSettings: bounded, permission-gated, its voucher templates checked with the
    wallet (a refusal writes nothing), idempotent; the anniversary and lapse jobs then grant the
    tenant's rewards, while a tenant without settings keeps the deployment's defaults."""
    from services.members.service_layer.lapse import LapseSettings, run_lapses
    from services.members.service_layer.membership_anniversary import AnniversarySettings, run_anniversaries

    wallet, members, engine, _nats_url = world
    tenant, plain = f"prg-{uuid.uuid4().hex[:8]}", f"prd-{uuid.uuid4().hex[:8]}"
    admin = md(tenant, ("hq_admin",))
    for template_id in ("anniv", "comeback", "gone"):
        await wallet.stub.CreateVoucherTemplate(
            wpb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="¥30 off",
                    kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                    amount_off_minor=3000,
                    valid_days=30,
                ),
                voucher_template_id=template_id,
                request_id=str(uuid.uuid4()),
            ),
            metadata=admin,
        )
    await wallet.stub.DeactivateVoucherTemplate(
        wpb.DeactivateVoucherTemplateRequest(name="voucherTemplates/gone", request_id=str(uuid.uuid4())),
        metadata=admin,
    )

    async def settings_rows() -> int:
        async with engine.connect() as conn:
            return await conn.scalar(
                text("SELECT count(*) FROM programme_settings WHERE tenant_id = :t"), {"t": tenant}
            )

    defaults = (
        await members.GetProgrammeSettings(
            pb.GetProgrammeSettingsRequest(name="programmeSettings"), metadata=admin
        )
    ).programme_settings
    assert (
        defaults.anniversary_points,
        defaults.anniversary_voucher_template,
        defaults.lapse_voucher_template,
    ) == (
        100,
        "",
        "",
    )
    assert list(defaults.lapse_days) == [60, 90]
    assert not defaults.HasField("update_time")

    def update(paths, **fields) -> pb.UpdateProgrammeSettingsRequest:
        return pb.UpdateProgrammeSettingsRequest(
            programme_settings=referral_pb2.ProgrammeSettings(name="programmeSettings", **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            request_id=str(uuid.uuid4()),
        )

    refusals = [
        (update(["anniversary_points"], anniversary_points=-1), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (update(["anniversary_points"], anniversary_points=100_001), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (update(["display_name"]), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (update([]), grpc.StatusCode.INVALID_ARGUMENT, ""),
        (
            update(["lapse_voucher_template"], lapse_voucher_template="voucherTemplates/UPPER"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            update(["lapse_voucher_template"], lapse_voucher_template="voucherTemplates/a/b"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            update(["lapse_voucher_template"], lapse_voucher_template="anniv"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            update(["lapse_voucher_template"], lapse_voucher_template="voucherTemplates/" + "x" * 300),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            update(["anniversary_voucher_template"], anniversary_voucher_template="voucherTemplates/nope"),
            grpc.StatusCode.NOT_FOUND,
            "VOUCHER_TEMPLATE_NOT_FOUND",
        ),
        (
            update(["anniversary_voucher_template"], anniversary_voucher_template="voucherTemplates/gone"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "VOUCHER_TEMPLATE_INACTIVE",
        ),
    ]
    for days in ([], [0], [3651], [30, 30], [1, 2, 3, 4, 5, 6], [-5]):
        refusals.append((update(["lapse_days"], lapse_days=days), grpc.StatusCode.INVALID_ARGUMENT, ""))
    bad_name = update(["anniversary_points"], anniversary_points=5)
    bad_name.programme_settings.name = "referralSettings"
    refusals.append((bad_name, grpc.StatusCode.INVALID_ARGUMENT, ""))
    for request, code, reason in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.UpdateProgrammeSettings(request, metadata=admin)
        assert err.value.code() == code, request
        if reason:
            assert reason_of(err.value) == reason
    for roles in (("marketing",), ("store_manager",), ("front_desk",)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.UpdateProgrammeSettings(
                update(["anniversary_points"], anniversary_points=5),
                metadata=md(tenant, roles, stores=["s1"]),
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.GetProgrammeSettings(
            pb.GetProgrammeSettingsRequest(name="campaignSettings"), metadata=admin
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await settings_rows() == 0  # every refusal wrote nothing

    request = update(
        ["anniversary_points", "anniversary_voucher_template"],
        anniversary_points=0,
        anniversary_voucher_template="voucherTemplates/anniv",
    )
    saved = (await members.UpdateProgrammeSettings(request, metadata=admin)).programme_settings
    assert (saved.anniversary_points, saved.anniversary_voucher_template, saved.lapse_voucher_template) == (
        0,
        "voucherTemplates/anniv",
        "",
    )
    assert saved.HasField("update_time")
    replayed = (await members.UpdateProgrammeSettings(request, metadata=admin)).programme_settings
    assert replayed == saved
    # an empty mask updates the fields that are set; the others keep their values
    empty_mask = pb.UpdateProgrammeSettingsRequest(
        programme_settings=referral_pb2.ProgrammeSettings(lapse_voucher_template="voucherTemplates/comeback"),
        request_id=str(uuid.uuid4()),
    )
    saved = (await members.UpdateProgrammeSettings(empty_mask, metadata=admin)).programme_settings
    assert (saved.anniversary_points, saved.anniversary_voucher_template, saved.lapse_voucher_template) == (
        0,
        "voucherTemplates/anniv",
        "voucherTemplates/comeback",
    )
    got = await members.GetProgrammeSettings(
        pb.GetProgrammeSettingsRequest(name="programmeSettings"), metadata=admin
    )
    assert got.programme_settings == saved
    assert list(saved.lapse_days) == [60, 90]  # the first update copied the deployment's thresholds
    # the tenant's own lapse thresholds, kept ascending
    saved = (
        await members.UpdateProgrammeSettings(update(["lapse_days"], lapse_days=[800, 30]), metadata=admin)
    ).programme_settings
    assert list(saved.lapse_days) == [30, 800]
    assert saved.lapse_voucher_template == "voucherTemplates/comeback"
    assert await settings_rows() == 1

    # one member registered two years ago in each tenant; the jobs run with the deployment's
    # defaults (100 points, no vouchers): the tenant with settings gets its own rewards
    member_of = {}
    for t in (tenant, plain):
        await members.CreateStore(
            pb.CreateStoreRequest(
                store_id="s1",
                store=store_pb2.Store(display_name="S1", time_zone="Asia/Shanghai"),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(t),
        )
        resp = await members.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="老会员", phone=f"1390{uuid.uuid4().int % 10**7:07d}", home_store="stores/s1"
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(t),
        )
        member_of[t] = resp.member.name
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE members SET create_time = :at WHERE tenant_id = :t AND member_id = :m"),
                {"at": datetime(2025, 6, 10, 2, 0, tzinfo=UTC), "t": t, "m": resp.member.name.split("/")[1]},
            )
    config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": "postgresql+asyncpg://unused/x"})
    uows = UnitOfWorkFactory(
        MembersUnitOfWork, session_factory(engine), service="members", cipher=PiiCipher(config.pii_master_key)
    )
    now = datetime(2027, 6, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai on the anniversary
    await run_anniversaries(engine, uows, now, AnniversarySettings())
    await run_lapses(engine, uows, now, LapseSettings())

    async def events(t: str, kind):
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq"),
                    {"t": t, "e": kind.DESCRIPTOR.full_name},
                )
            ).all()
        return [unpack(EventEnvelope.FromString(r.payload), kind) for r in rows]

    rewards = {
        t: [
            (e.member, e.reward.points, e.reward.voucher_template)
            for e in await events(t, members_events.MembershipAnniversaryDue)
        ]
        for t in (tenant, plain)
    }
    assert rewards == {
        tenant: [(member_of[tenant], 0, "voucherTemplates/anniv")],
        plain: [(member_of[plain], 100, "")],
    }
    lapsed = {
        t: [
            (e.member, e.days, e.reward.voucher_template)
            for e in await events(t, members_events.MemberLapsed)
        ]
        for t in (tenant, plain)
    }
    # two years without a visit: past the tenant's 30 (not its 800), past the deployment's 90
    assert lapsed == {
        tenant: [(member_of[tenant], 30, "voucherTemplates/comeback")],
        plain: [(member_of[plain], 90, "")],
    }
    # the 流失预警 list warns against each tenant's first threshold
    for t, first in ((tenant, 30), (plain, 60)):
        risks = await members.ListLapseRisks(pb.ListLapseRisksRequest(store="stores/s1"), metadata=md(t))
        assert risks.lapse_days == first
