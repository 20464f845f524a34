"""A campaign's reward on real PostgreSQL and NATS JetStream: members' CampaignMessageDue → a
points grant once per (campaign, member) — a redelivered copy and the same recipient republished
under a new event id are dropped; another campaign is another grant; 0 points grants nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from peony.members.v1 import events_pb2 as members_events
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.db import session_factory
from kit.messaging import connect, ensure_stream, new_envelope
from kit.uow import UnitOfWorkFactory
from services.wallet.entrypoints.programme_consumer import (
    CAMPAIGN_SUBJECT,
    PROGRAMME_DURABLE,
    programme_consumer,
)
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet.test_vouchers import TENANT, migrated, new_member, outbox_count

pytestmark = pytest.mark.integration


async def test_campaign_points_are_granted_once_per_campaign_and_member(infra):
    url = await migrated(infra, "wallet_campaign")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-campaign-tests")
    await ensure_stream(js, "members")
    consumer = programme_consumer(engine, js, backoff=(0.2, 0.5), fetch_timeout=1.0)
    await consumer.start()
    try:
        member = await new_member(engine)

        def due(campaign: str, points: int = 50):
            event = members_events.CampaignMessageDue(
                campaign=f"campaigns/{campaign}",
                member=f"members/{member}",
                body="hi {{ member.display_name }}",
                points=points,
                campaign_name="spring",
                store="stores/s1",
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member)

        first, again, other, nothing = due("spring"), due("spring", 999), due("summer", 70), due("tea", 0)
        for env, msg_id in (
            (first, first.event_id),
            (first, f"copy-{uuid.uuid4()}"),  # redelivered copy: the inbox drops it
            (again, again.event_id),  # same campaign and member, new id: the grant key drops it
            (other, other.event_id),
            (nothing, nothing.event_id),
        ):
            await js.publish(CAMPAIGN_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": msg_id})

        ids = [uuid.UUID(e.event_id) for e in (first, again, other, nothing)]
        deadline = time.monotonic() + 60
        while True:
            async with engine.connect() as conn:
                handled = (
                    await conn.execute(
                        text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)"),
                        {"c": PROGRAMME_DURABLE, "ids": ids},
                    )
                ).scalar_one()
            if handled == 4:
                break
            assert time.monotonic() < deadline, "campaign events not handled"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let the copy be delivered (and skipped) too

        available = await uows.run(TENANT, lambda uow: rw.points_available(uow, member), read_only=True)
        assert available == 120  # 50 (spring) + 70 (summer)
        assert await outbox_count(engine, "peony.wallet.v1.PointsEarned", member) == 2
        async with engine.connect() as conn:
            grants = (
                await conn.execute(
                    text(
                        "SELECT period, points FROM programme_grants"
                        " WHERE tenant_id = :t AND member_id = :m AND programme = 'campaign' ORDER BY period"
                    ),
                    {"t": TENANT, "m": member},
                )
            ).all()
        assert [tuple(g) for g in grants] == [("spring", 50), ("summer", 70)]
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()
