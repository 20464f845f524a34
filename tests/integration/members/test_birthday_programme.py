"""The birthday programme on real PostgreSQL: store-local 09:00, 29 February, exactly once a year.

Time is the test's: ``run_birthdays(now)`` is called with chosen instants (no sleeps). Members
are registered through the public API; what the programme did is read from the members outbox
(``BirthdayBenefitDue``), which is what the wallet and notify consume. Other tests' tenants share
the database, so only this test's tenant's events are counted.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

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
from services.members.service_layer.birthday import BirthdaySettings, backfill_birthday_indexes, run_birthdays
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
        self.cipher = PiiCipher(config.pii_master_key)
        self.uows = UnitOfWorkFactory(
            MembersUnitOfWork, session_factory(members.db), service="members", cipher=self.cipher
        )

    async def register(self, store: str, birthday: str) -> str:
        resp = await self.members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(
                    display_name="寿星",
                    phone=f"135{next(_phones) + 42_000_000:08d}",
                    home_store=store,
                    birthday=birthday,
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=self.members.auth(self.tenant),
        )
        return resp.member.name

    async def run(self, now: datetime, settings: BirthdaySettings = BirthdaySettings()) -> None:
        await run_birthdays(self.members.db, self.uows, self.cipher, now, settings)

    async def due(self) -> list[tuple[str, int, int]]:
        async with self.members.db.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq"),
                    {"t": self.tenant, "e": members_events.BirthdayBenefitDue.DESCRIPTOR.full_name},
                )
            ).all()
        events = [
            unpack(EventEnvelope.FromString(r.payload), members_events.BirthdayBenefitDue) for r in rows
        ]
        return [(e.member, e.year, e.points) for e in events]


async def test_birthdays_fire_at_0900_store_local_once_a_year_with_the_leap_day_rule(members):
    p = Programme(members)
    shanghai = await members.create_store(p.tenant, tz="Asia/Shanghai")
    new_york = await members.create_store(p.tenant, tz="America/New_York")
    sh = await p.register(shanghai, "1990-03-01")
    ny = await p.register(new_york, "1991-03-01")
    leap = await p.register(shanghai, "1992-02-29")
    await p.register(shanghai, "1990-03-02")  # never due on these days

    await p.run(utc(2027, 2, 28, 0, 59))  # 08:59 in Shanghai
    assert await p.due() == []
    await p.run(utc(2027, 2, 28, 1, 0))  # 09:00 on 28 Feb 2027 (no 29th this year)
    assert await p.due() == [(leap, 2027, 100)]
    await p.run(utc(2027, 3, 1, 1, 0))  # 09:00 on 1 March in Shanghai, 20:00 on 28 Feb in New York
    assert await p.due() == [(leap, 2027, 100), (sh, 2027, 100)]
    await p.run(utc(2027, 3, 1, 13, 59))  # 08:59 in New York
    assert len(await p.due()) == 2
    await p.run(utc(2027, 3, 1, 14, 0))  # 09:00 in New York
    await p.run(utc(2027, 3, 1, 20, 0))  # and again later that day: nothing new
    assert await p.due() == [(leap, 2027, 100), (sh, 2027, 100), (ny, 2027, 100)]

    # 2028 has a 29 February: the leap-day member is due on it, not on the 28th.
    await p.run(utc(2028, 2, 28, 1, 0))
    assert len(await p.due()) == 3
    await p.run(utc(2028, 2, 29, 1, 0))
    assert (await p.due())[-1] == (leap, 2028, 100)

    # Two replicas running the same instant: one event.
    await asyncio.gather(p.run(utc(2028, 3, 1, 2, 0)), p.run(utc(2028, 3, 1, 2, 0)))
    assert [d for d in await p.due() if d[1] == 2028] == [(leap, 2028, 100), (sh, 2028, 100)]


async def test_birthday_days_ahead_and_the_tier_benefit(members):
    p = Programme(members)
    store = await members.create_store(p.tenant)
    gold = await p.register(store, "1980-06-10")
    await members.stub.SetMemberTier(
        pb.SetMemberTierRequest(name=gold, tier_id="gold", reason="test", request_id=str(uuid.uuid4())),
        metadata=members.auth(p.tenant),
    )
    three_ahead = BirthdaySettings.from_env(
        {"PEONY_MEMBERS_BIRTHDAY_DAYS_AHEAD": "3", "PEONY_MEMBERS_BIRTHDAY_TIME": "10:30"}
    )
    await p.run(utc(2027, 6, 7, 2, 29), three_ahead)  # 10:29 on 7 June
    assert await p.due() == []
    await p.run(utc(2027, 6, 7, 2, 30), three_ahead)
    assert await p.due() == [(gold, 2027, 300)]
    await p.run(utc(2027, 6, 10, 2, 30))  # the default settings on the day itself: already done this year
    assert await p.due() == [(gold, 2027, 300)]
    with pytest.raises(ValueError):
        BirthdaySettings.from_env({"PEONY_MEMBERS_BIRTHDAY_TIME": "9am"})
    with pytest.raises(ValueError):
        BirthdaySettings.from_env({"PEONY_MEMBERS_BIRTHDAY_DAYS_AHEAD": "-1"})


async def test_members_saved_before_the_month_day_index_are_backfilled(members):
    p = Programme(members)
    store = await members.create_store(p.tenant)
    old = await p.register(store, "1970-09-15")
    member_id = old.split("/")[1]
    async with members.db.begin() as conn:  # as migration 0007 left a row saved before it
        await conn.execute(
            text("UPDATE members SET birthday_md_bidx = NULL WHERE tenant_id = :t AND member_id = :m"),
            {"t": p.tenant, "m": member_id},
        )
    await p.run(utc(2027, 9, 15, 1, 0))
    assert await p.due() == []  # not found without its index
    while await backfill_birthday_indexes(members.db, p.cipher):
        pass
    await p.run(utc(2027, 9, 15, 1, 0))
    assert await p.due() == [(old, 2027, 100)]
