"""The birthday benefit on real PostgreSQL and NATS JetStream: members' BirthdayBenefitDue → a
ledger-exact points grant, exactly once per member and year (redelivered copies and the same fact
republished under a new event id are dropped), plus BirthdayRewardGranted in the outbox."""

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
    BIRTHDAY_SUBJECT,
    PROGRAMME_DURABLE,
    programme_consumer,
)
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet.test_vouchers import TENANT, migrated, new_member, outbox_count

pytestmark = pytest.mark.integration


async def test_birthday_points_are_granted_once_per_member_and_year(infra):
    url = await migrated(infra, "wallet_birthday")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-birthday-tests")
    await ensure_stream(js, "members")
    consumer = programme_consumer(engine, js, backoff=(0.2, 0.5), fetch_timeout=1.0)
    await consumer.start()
    try:
        member = await new_member(engine)

        def due(year: int, points: int = 300):
            event = members_events.BirthdayBenefitDue(
                member=f"members/{member}", year=year, tier_id="gold", points=points, store="stores/s1"
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member)

        first, again, next_year = due(2027), due(2027, points=999), due(2028)
        for env, msg_id in (
            (first, first.event_id),
            (first, f"copy-{uuid.uuid4()}"),  # a redelivered copy: the inbox drops it
            (again, again.event_id),  # the same year again under a new id: the grant key drops it
            (next_year, next_year.event_id),
        ):
            await js.publish(BIRTHDAY_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": msg_id})

        deadline = time.monotonic() + 60
        while True:
            async with engine.connect() as conn:
                handled = (
                    await conn.execute(
                        text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)"),
                        {
                            "c": PROGRAMME_DURABLE,
                            "ids": [uuid.UUID(e.event_id) for e in (first, again, next_year)],
                        },
                    )
                ).scalar_one()
            if handled == 3:
                break
            assert time.monotonic() < deadline, "birthday events not handled"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let the copy be delivered (and skipped) too

        available = await uows.run(TENANT, lambda uow: rw.points_available(uow, member), read_only=True)
        assert available == 600  # 300 for 2027 and 300 for 2028, nothing for the repeats
        assert await outbox_count(engine, "peony.wallet.v1.BirthdayRewardGranted", member) == 2
        assert await outbox_count(engine, "peony.wallet.v1.PointsEarned", member) == 2
        async with engine.connect() as conn:
            grants = (
                await conn.execute(
                    text(
                        "SELECT g.period, g.points, p.source FROM programme_grants g"
                        " JOIN point_lots p ON p.tenant_id = g.tenant_id AND p.member_id = g.member_id"
                        "  AND p.transaction_id::text = g.transaction_id"
                        " WHERE g.tenant_id = :t AND g.member_id = :m ORDER BY g.period"
                    ),
                    {"t": TENANT, "m": member},
                )
            ).all()
        assert [tuple(g) for g in grants] == [("2027", 300, "birthday"), ("2028", 300, "birthday")]
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()
