"""Programme and campaign rewards beyond points, on real PostgreSQL and NATS JetStream: a campaign
reward of a voucher and free sessions is granted once per (campaign, member) through the one
programme-grant path; a voucher template deactivated after the campaign started is refused,
recorded (grant row + ``ProgrammeRewardSettled``) and not retried, while the rest of the reward
is still granted; the anniversary reward is granted once per member and year."""

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
    ANNIVERSARY_SUBJECT,
    CAMPAIGN_SUBJECT,
    PROGRAMME_DURABLE,
    programme_consumer,
)
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer import vouchers as vs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet.test_vouchers import STAFF, TENANT, migrated, new_member, outbox_count, template

pytestmark = pytest.mark.integration


async def _wait_handled(engine, ids: list[str], within: float = 60.0) -> None:
    wanted = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            handled = (
                await conn.execute(
                    text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)"),
                    {"c": PROGRAMME_DURABLE, "ids": wanted},
                )
            ).scalar_one()
        if handled == len(wanted):
            return
        assert time.monotonic() < deadline, "programme events not handled"
        await asyncio.sleep(0.1)


async def _rows(engine, sql: str, **params):
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


async def test_voucher_and_free_session_rewards_once_and_a_deactivated_template_is_refused(infra):
    url = await migrated(infra, "wallet_reward_kinds")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-reward-kinds-tests")
    await ensure_stream(js, "members")
    consumer = programme_consumer(engine, js, backoff=(0.2, 0.5), fetch_timeout=1.0)
    await consumer.start()
    try:
        member, other = await new_member(engine), await new_member(engine)
        good = await template(uows)
        doomed = await template(uows)

        def due(campaign: str, who: str, *, voucher: str, sessions: int = 0, points: int = 0):
            reward = members_events.ProgrammeReward(
                points=points,
                voucher_template=f"voucherTemplates/{voucher}" if voucher else "",
                free_service="services/facial" if sessions else "",
                free_sessions=sessions,
                free_sessions_valid_days=30 if sessions else 0,
            )
            event = members_events.CampaignMessageDue(
                campaign=f"campaigns/{campaign}",
                member=f"members/{who}",
                body="hi",
                points=points,
                campaign_name=campaign,
                store="stores/s1",
                reward=reward,
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=who)

        spring = due("spring", member, voucher=good, sessions=2, points=10)
        again = due("spring", member, voucher=good, sessions=5, points=999)  # same key, new event id
        for env, msg_id in (
            (spring, spring.event_id),
            (spring, f"copy-{uuid.uuid4()}"),
            (again, again.event_id),
        ):
            await js.publish(CAMPAIGN_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": msg_id})
        await _wait_handled(engine, [spring.event_id, again.event_id])

        vouchers = await _rows(
            engine,
            "SELECT template_id FROM vouchers WHERE tenant_id = :t AND member_id = :m",
            t=TENANT,
            m=member,
        )
        assert vouchers == [(good,)]
        cards = await _rows(
            engine,
            "SELECT i.service, i.sessions_total, i.sessions_remaining, p.price_minor FROM member_packages p"
            " JOIN member_package_items i USING (tenant_id, package_id)"
            " WHERE p.tenant_id = :t AND p.member_id = :m",
            t=TENANT,
            m=member,
        )
        assert cards == [("services/facial", 2, 2, 0)]
        available = await uows.run(TENANT, lambda uow: rw.points_available(uow, member), read_only=True)
        assert available == 10
        # the free sessions are a balanced ledger transaction (sessions issued → the card)
        unbalanced = await _rows(
            engine,
            "SELECT transaction_id FROM postings WHERE tenant_id = :t"
            " GROUP BY transaction_id, unit HAVING sum(amount) <> 0",
            t=TENANT,
        )
        assert unbalanced == []
        assert await outbox_count(engine, "peony.wallet.v1.ProgrammeRewardSettled", member) == 1

        # the template is deactivated after the campaign started: refused, recorded, not retried
        # (DeactivateVoucherTemplate's service function; the RPC is tested in test_vouchers.py)
        await uows.run(TENANT, lambda uow: vs.deactivate_template(uow, STAFF, doomed))
        late = due("summer", other, voucher=doomed, sessions=1)
        await js.publish(CAMPAIGN_SUBJECT, late.SerializeToString(), headers={"Nats-Msg-Id": late.event_id})
        await _wait_handled(engine, [late.event_id])
        grant = await _rows(
            engine,
            "SELECT voucher_id, package_id IS NOT NULL, refused_reason FROM programme_grants"
            " WHERE tenant_id = :t AND member_id = :m AND programme = 'campaign' AND period = 'summer'",
            t=TENANT,
            m=other,
        )
        assert grant == [(None, True, "VOUCHER_TEMPLATE_INACTIVE")]
        assert await outbox_count(engine, "peony.wallet.v1.ProgrammeRewardSettled", other) == 1
        assert (
            await _rows(
                engine, "SELECT 1 FROM vouchers WHERE tenant_id = :t AND member_id = :m", t=TENANT, m=other
            )
            == []
        )

        # the anniversary reward: once per member and year
        def anniversary(year: int):
            event = members_events.MembershipAnniversaryDue(
                member=f"members/{member}",
                year=year,
                years=1,
                store="stores/s1",
                reward=members_events.ProgrammeReward(points=88),
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member)

        y1, y1_again = anniversary(2027), anniversary(2027)
        for env in (y1, y1_again):
            await js.publish(
                ANNIVERSARY_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": env.event_id}
            )
        await _wait_handled(engine, [y1.event_id, y1_again.event_id])
        available = await uows.run(TENANT, lambda uow: rw.points_available(uow, member), read_only=True)
        assert available == 10 + 88
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()


async def test_lapse_and_birthday_vouchers_once_per_episode_and_year(infra):
    url = await migrated(infra, "wallet_reward_lapse")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-reward-lapse-tests")
    await ensure_stream(js, "members")
    consumer = programme_consumer(engine, js, backoff=(0.2, 0.5), fetch_timeout=1.0)
    await consumer.start()
    try:
        member = await new_member(engine)
        comeback, gift = await template(uows), await template(uows)

        def lapsed(episode: str, *, voucher: bool = True):
            event = members_events.MemberLapsed(
                member=f"members/{member}", days=60, store="stores/s1", episode=episode
            )
            if voucher:
                event.reward.voucher_template = f"voucherTemplates/{comeback}"
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member)

        def birthday(year: int):
            event = members_events.BirthdayBenefitDue(
                member=f"members/{member}",
                year=year,
                tier_id="gold",
                points=300,
                store="stores/s1",
                reward=members_events.ProgrammeReward(
                    points=300, voucher_template=f"voucherTemplates/{gift}"
                ),
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member)

        events = [
            ("peony.members.MemberLapsed", lapsed("never")),
            ("peony.members.MemberLapsed", lapsed("never")),  # the same episode again: dropped
            ("peony.members.MemberLapsed", lapsed("1700000000000000")),  # a later episode
            ("peony.members.MemberLapsed", lapsed("1800000000000000", voucher=False)),  # message only
            ("peony.members.BirthdayBenefitDue", birthday(2027)),
            ("peony.members.BirthdayBenefitDue", birthday(2027)),  # the same year: dropped
        ]
        for subject, env in events:
            await js.publish(subject, env.SerializeToString(), headers={"Nats-Msg-Id": env.event_id})
        await _wait_handled(engine, [env.event_id for _, env in events])

        vouchers = await _rows(
            engine,
            "SELECT template_id, count(*) FROM vouchers WHERE tenant_id = :t AND member_id = :m"
            " GROUP BY template_id ORDER BY template_id",
            t=TENANT,
            m=member,
        )
        assert sorted(vouchers) == sorted([(comeback, 2), (gift, 1)])
        available = await uows.run(TENANT, lambda uow: rw.points_available(uow, member), read_only=True)
        assert available == 300
        assert await outbox_count(engine, "peony.wallet.v1.BirthdayRewardGranted", member) == 1
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()
