"""The birthday and lapse programmes' vouchers on real PostgreSQL: the tiers configured in
``PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES`` get a voucher with their birthday points, and with
``PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE`` the re-engagement message carries one, keyed by its
episode (the wallet grants each once: tests/integration/wallet/test_programme_reward_kinds.py).
Time is the test's (``run_birthdays(now)``, ``run_lapses(now)``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.messaging import EventEnvelope, unpack
from services.members.service_layer.birthday import BirthdaySettings, run_birthdays
from services.members.service_layer.lapse import LapseSettings, run_lapses
from tests.integration.members.test_birthday_programme import Programme, utc

pytestmark = pytest.mark.integration


async def _events(p: Programme, event_type) -> list:
    async with p.members.db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT payload FROM outbox WHERE tenant_id = :t AND event_type = :e ORDER BY seq"),
                {"t": p.tenant, "e": event_type.DESCRIPTOR.full_name},
            )
        ).all()
    return [unpack(EventEnvelope.FromString(r.payload), event_type) for r in rows]


async def test_birthday_voucher_by_tier_and_the_lapse_voucher_with_its_episode(members):
    p = Programme(members)
    store = await members.create_store(p.tenant)
    gold = await p.register(store, "1985-07-04")
    regular = await p.register(store, "1986-07-04")
    await members.stub.SetMemberTier(
        pb.SetMemberTierRequest(name=gold, tier_id="gold", reason="test", request_id=str(uuid.uuid4())),
        metadata=members.auth(p.tenant),
    )
    settings = BirthdaySettings.from_env({"PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES": "gold=bday-gold"})
    await run_birthdays(members.db, p.uows, p.cipher, utc(2027, 7, 4, 1, 0), settings)
    by_member = {e.member: e for e in await _events(p, members_events.BirthdayBenefitDue)}
    assert by_member[gold].points == 300
    assert (by_member[gold].reward.points, by_member[gold].reward.voucher_template) == (
        300,
        "voucherTemplates/bday-gold",
    )
    assert by_member[regular].points == 100 and not by_member[regular].HasField("reward")
    for bad in ("gold", "gold=a/b", "Gold=x", "gold=x,"):
        with pytest.raises(ValueError):
            BirthdaySettings.from_env({"PEONY_MEMBERS_BIRTHDAY_VOUCHER_TEMPLATES": bad})

    lapse = LapseSettings.from_env(
        {"PEONY_MEMBERS_LAPSE_DAYS": "60", "PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE": "comeback"}
    )
    await run_lapses(members.db, p.uows, datetime.now(UTC) + timedelta(days=61), lapse)
    lapsed = [e for e in await _events(p, members_events.MemberLapsed)]
    assert sorted(e.member for e in lapsed) == sorted([gold, regular])
    assert {(e.episode, e.reward.voucher_template) for e in lapsed} == {
        ("never", "voucherTemplates/comeback")
    }
    with pytest.raises(ValueError):
        LapseSettings.from_env({"PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE": "no/slash"})
