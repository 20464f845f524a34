"""A members process SIGKILLed while a campaign is sending, then restarted: every consenting
recipient gets exactly one CampaignMessageDue, the others are suppressed, nobody twice.

The members service runs as a process of its own (``services.members.entrypoints.app``) on a
database of its own, its campaign worker every 0.1 s with a throttle window of 0.5 s (instead of
a minute), so a 120-recipient campaign at 10 per window takes about 6 s and the kill lands
mid-send whatever the machine's speed (checked: some sent, some still pending).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import grpc
import pytest
from peony.members.v1 import campaign_pb2, member_pb2, segment_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.auth import mint_dev_token
from kit.config import to_async_url
from tests.support.services import members_process

pytestmark = pytest.mark.integration

TENANT = "campaign-kill"
CONSENTING, SILENT = 110, 10


def md(roles=("hq_admin",)):
    token = mint_dev_token(tenant=TENANT, subject="user:t", roles=list(roles))
    return (("authorization", f"Bearer {token}"),)


async def test_sigkill_mid_send_sends_every_recipient_once(infra, tmp_path):
    url = to_async_url(await infra.amigrated_database("members", "members_campaign_kill"))
    engine = create_async_engine(url)
    port = free_port()
    members = members_process(
        url,
        infra.nats_url,
        port,
        tmp_path / "members.log",
        PEONY_MEMBERS_CAMPAIGN_INTERVAL_SECONDS="0.1",
        PEONY_MEMBERS_CAMPAIGN_THROTTLE_WINDOW_SECONDS="0.5",
    )
    await asyncio.to_thread(members.start)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.MembersServiceStub(channel)

    async def count(sql: str) -> int:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), {"t": TENANT})).scalar_one()

    try:
        await stub.CreateStore(
            pb.CreateStoreRequest(
                store_id="s1",
                store=store_pb2.Store(display_name="S1", time_zone="Asia/Shanghai"),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(),
        )

        async def register(i: int) -> None:
            await stub.RegisterMember(
                pb.RegisterMemberRequest(
                    member=member_pb2.Member(
                        display_name="顾客",
                        phone=f"137{i + 5_100_000:08d}",
                        home_store="stores/s1",
                        consent=member_pb2.Consent(marketing_sms=i < CONSENTING),
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )

        for start in range(0, CONSENTING + SILENT, 20):
            await asyncio.gather(*(register(i) for i in range(start, min(start + 20, CONSENTING + SILENT))))
        segment = await stub.CreateSegment(
            pb.CreateSegmentRequest(
                segment=segment_pb2.Segment(
                    display_name="all of s1", filter=segment_pb2.SegmentFilter(home_stores=["stores/s1"])
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(),
        )
        campaign = (
            await stub.CreateCampaign(
                pb.CreateCampaignRequest(
                    campaign=campaign_pb2.Campaign(
                        display_name="kill test",
                        segment=segment.segment.name,
                        message_body="hi {{ member.display_name }}",
                        reward_points=10,
                        throttle_per_minute=10,
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )
        ).campaign

        handled = "SELECT count(*) FROM campaign_recipients WHERE tenant_id = :t AND status <> 'pending'"
        deadline = time.monotonic() + 60
        while await count(handled) < 30:  # a few windows in
            assert time.monotonic() < deadline, members.log_tail()
            await asyncio.sleep(0.05)
        members.signal(signal.SIGKILL)
        await asyncio.to_thread(members.wait, 10)
        before = await count(handled)
        assert 0 < before < CONSENTING + SILENT, before

        await asyncio.to_thread(members.start)
        deadline = time.monotonic() + 120
        while True:
            got = (await stub.GetCampaign(pb.GetCampaignRequest(name=campaign.name), metadata=md())).campaign
            if got.state == campaign_pb2.CAMPAIGN_STATE_COMPLETED:
                break
            assert time.monotonic() < deadline, members.log_tail()
            await asyncio.sleep(0.2)
    finally:
        members.stop()
        await channel.close()

    try:
        assert (got.targeted_count, got.sent_count, got.suppressed_no_consent_count) == (
            CONSENTING + SILENT,
            CONSENTING,
            SILENT,
        )
        per_member = await count(
            "SELECT count(*) FROM (SELECT aggregate_id FROM outbox WHERE tenant_id = :t"
            " AND event_type = 'peony.members.v1.CampaignMessageDue' GROUP BY aggregate_id"
            " HAVING count(*) = 1) once"
        )
        total = await count(
            "SELECT count(*) FROM outbox WHERE tenant_id = :t"
            " AND event_type = 'peony.members.v1.CampaignMessageDue'"
        )
        assert (per_member, total) == (CONSENTING, CONSENTING)
    finally:
        await engine.dispose()
