"""The membership anniversary programme on real PostgreSQL: store-local 09:00, the 29 February
rule, exactly once per member and year, replicas racing.

Time is the test's: ``run_anniversaries(now)`` is called with chosen instants (no sleeps), and
the members registered through the public API have their registration instant moved into the
past (``members.create_time``: the API stamps the wall clock, and no one can wait years). What
the programme did is read from the members outbox (``MembershipAnniversaryDue``), which notify
(greeting) and the wallet (reward, tests/integration/wallet/test_programme_reward_kinds.py)
consume.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.config import load_config
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.messaging import EventEnvelope, unpack
from kit.uow import UnitOfWorkFactory
from services.members.service_layer.membership_anniversary import (
    AnniversarySettings,
    anniversary_days,
    run_anniversaries,
)
from services.members.service_layer.unit_of_work import MembersUnitOfWork

pytestmark = pytest.mark.integration

_phones = iter(range(10_000_000))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Programme:
    def __init__(self, members):
        self.members = members
        self.tenant = f"t-{uuid.uuid4().hex[:10]}"
        config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": members.database_url})
        self.uows = UnitOfWorkFactory(
            MembersUnitOfWork,
            session_factory(members.db),
            service="members",
            cipher=PiiCipher(config.pii_master_key),
        )

    async def register(self, store: str, registered_at: datetime) -> str:
        resp = await self.members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="老会员", phone=f"135{next(_phones) + 61_000_000:08d}", home_store=store
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=self.members.auth(self.tenant),
        )
        async with self.members.db.begin() as conn:
            await conn.execute(
                text("UPDATE members SET create_time = :at WHERE tenant_id = :t AND member_id = :m"),
                {"at": registered_at, "t": self.tenant, "m": resp.member.name.split("/")[1]},
            )
        return resp.member.name

    async def run(self, now: datetime, settings: AnniversarySettings = AnniversarySettings()) -> None:
        await run_anniversaries(self.members.db, self.uows, now, settings)

    async def due(self) -> list[tuple[str, int, int, int]]:
        async with self.members.db.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq"),
                    {"t": self.tenant, "e": members_events.MembershipAnniversaryDue.DESCRIPTOR.full_name},
                )
            ).all()
        events = [
            unpack(EventEnvelope.FromString(r.payload), members_events.MembershipAnniversaryDue) for r in rows
        ]
        return [(e.member, e.year, e.years, e.reward.points) for e in events]


async def test_anniversaries_fire_at_0900_store_local_once_a_year_with_the_leap_day_rule(members):
    p = Programme(members)
    shanghai = await members.create_store(p.tenant, tz="Asia/Shanghai")
    new_york = await members.create_store(p.tenant, tz="America/New_York")
    sh = await p.register(shanghai, utc(2025, 3, 1, 2, 0))  # 10:00 on 1 March in Shanghai
    ny = await p.register(new_york, utc(2025, 3, 1, 15, 0))  # 10:00 on 1 March in New York
    leap = await p.register(shanghai, utc(2024, 2, 29, 4, 0))  # 12:00 on 29 February in Shanghai
    # 23:30 on 28 February in Shanghai (15:30 UTC): its anniversary is the 28th, not 1 March
    late = await p.register(shanghai, utc(2025, 2, 28, 15, 30))
    await p.register(shanghai, utc(2027, 3, 1, 0, 30))  # registered this year: no anniversary yet

    await p.run(utc(2027, 2, 28, 0, 59))  # 08:59 in Shanghai
    assert await p.due() == []
    await p.run(utc(2027, 2, 28, 1, 0))  # 09:00 on 28 Feb 2027 (no 29th this year)
    assert sorted(await p.due()) == sorted([(leap, 2027, 3, 100), (late, 2027, 2, 100)])
    await p.run(utc(2027, 3, 1, 1, 0))  # 09:00 on 1 March in Shanghai, 20:00 on 28 Feb in New York
    assert (await p.due())[2:] == [(sh, 2027, 2, 100)]
    await p.run(utc(2027, 3, 1, 13, 59))  # 08:59 in New York
    assert len(await p.due()) == 3
    await p.run(utc(2027, 3, 1, 14, 0))  # 09:00 in New York
    await p.run(utc(2027, 3, 1, 20, 0))  # and again later that day: nothing new
    assert (await p.due())[3:] == [(ny, 2027, 2, 100)]

    # 2028 has a 29 February: the leap-day member is due on it, not on the 28th.
    await p.run(utc(2028, 2, 28, 1, 0))
    assert (await p.due())[4:] == [(late, 2028, 3, 100)]
    # Two replicas running the same instant: one event each.
    await asyncio.gather(p.run(utc(2028, 2, 29, 1, 0)), p.run(utc(2028, 2, 29, 1, 0)))
    assert (await p.due())[5:] == [(leap, 2028, 4, 100)]


async def test_the_configured_reward_and_time(members):
    p = Programme(members)
    store = await members.create_store(p.tenant)
    member = await p.register(store, utc(2026, 6, 10, 2, 0))
    settings = AnniversarySettings.from_env(
        {
            "PEONY_MEMBERS_ANNIVERSARY_TIME": "10:30",
            "PEONY_MEMBERS_ANNIVERSARY_POINTS": "0",
            "PEONY_MEMBERS_ANNIVERSARY_VOUCHER_TEMPLATE": "anniv-50",
        }
    )
    await p.run(utc(2027, 6, 10, 2, 29), settings)  # 10:29 in Shanghai
    assert await p.due() == []
    await p.run(utc(2027, 6, 10, 2, 30), settings)
    assert await p.due() == [(member, 2027, 1, 0)]
    async with members.db.connect() as conn:
        payload = (
            await conn.execute(
                text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e"),
                {"t": p.tenant, "e": members_events.MembershipAnniversaryDue.DESCRIPTOR.full_name},
            )
        ).scalar_one()
    event = unpack(EventEnvelope.FromString(payload), members_events.MembershipAnniversaryDue)
    assert event.reward.voucher_template == "voucherTemplates/anniv-50"
    for bad in (
        {"PEONY_MEMBERS_ANNIVERSARY_TIME": "9am"},
        {"PEONY_MEMBERS_ANNIVERSARY_POINTS": "-1"},
        {"PEONY_MEMBERS_ANNIVERSARY_POINTS": "100001"},
        {"PEONY_MEMBERS_ANNIVERSARY_VOUCHER_TEMPLATE": "a/b"},
    ):
        with pytest.raises(ValueError):
            AnniversarySettings.from_env(bad)


def test_the_leap_day_rule():
    assert anniversary_days(date(2027, 2, 28), 2024) == [date(2024, 2, 28), date(2024, 2, 29)]
    assert anniversary_days(date(2027, 2, 28), 2025) == [date(2025, 2, 28)]
    assert anniversary_days(date(2028, 2, 28), 2024) == [date(2024, 2, 28)]
    assert anniversary_days(date(2028, 2, 29), 2024) == [date(2024, 2, 29)]
    assert anniversary_days(date(2028, 2, 29), 2025) == []
