"""CreateCampaign checks a reward voucher template with the real wallet over gRPC (members calls
``GetVoucherTemplate`` as itself): unknown → NOT_FOUND, deactivated → FAILED_PRECONDITION, the
wallet unreachable → UNAVAILABLE; every refusal writes nothing. Also the wallet's
``GetVoucherTemplate`` itself under hostile input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from peony.members.v1 import campaign_pb2, segment_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from peony.wallet.v1 import vouchers_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.config import load_config, to_async_url
from services.members.entrypoints.app import build
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
    async with wallet.engine.begin() as conn:  # the wallet has no deactivation RPC yet
        await conn.execute(
            text(
                "UPDATE voucher_templates SET active = false WHERE tenant_id = :t AND template_id = 'retired'"
            ),
            {"t": TENANT},
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
