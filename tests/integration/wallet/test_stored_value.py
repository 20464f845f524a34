"""Stored value, holds, PIN and points through the wallet's service layer on real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import principal_from_claims
from kit.config import to_async_url
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.errors import FailedPrecondition, InvalidArgument, NotFound
from kit.uow import UnitOfWorkFactory
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
TENANT = "sv-chain"
STAFF = principal_from_claims(
    {
        "tenant": TENANT,
        "sub": "user:desk",
        "roles": ["store_manager"],
        "exp": time.time() + 3600,
        "stores": ["s1"],
    }
)


@pytest.fixture(scope="module")
async def wallet(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_sv"))
    engine = create_async_engine(url, pool_size=10)
    uows = UnitOfWorkFactory(
        WalletUnitOfWork, session_factory(engine), service="wallet", cipher=PiiCipher(b"k" * 32)
    )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO top_up_plans (tenant_id, plan_id, display_name, pay_minor, bonus_minor,"
                " bonus_release, release_months)"
                " VALUES (:t, 'p1000', 'pay 1000 get 200', 100000, 20000, 'immediate', 1),"
                " (:t, 'p1000m', 'pay 1000 get 200 monthly', 100000, 20000, 'monthly', 12)"
            ),
            {"t": TENANT},
        )
    yield engine, uows
    await engine.dispose()


async def new_member(engine) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
            ),
            {"t": TENANT, "m": member_id},
        )
        await seed_stores(conn, TENANT)
    return member_id


async def run(uows, fn):
    return await uows.run(TENANT, fn)


async def snap(uows, member_id):
    return await uows.run(TENANT, lambda uow: sv.snapshot(uow, member_id), read_only=True)


async def test_top_up_with_immediate_and_monthly_plans(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await run(
        uows,
        lambda uow: sv.top_up(
            uow,
            STAFF,
            member_id=m,
            store_id="s1",
            amount=100000,
            currency="CNY",
            tender="wechat_pay",
            plan_id="p1000",
        ),
    )
    s = await snap(uows, m)
    assert (s.principal, s.bonus, s.locked_bonus) == (100000, 20000, 0)

    m2 = await new_member(engine)
    result = await run(
        uows,
        lambda uow: sv.top_up(
            uow,
            STAFF,
            member_id=m2,
            store_id="s1",
            amount=100000,
            currency="CNY",
            tender="cash",
            plan_id="p1000m",
        ),
    )
    assert (result.bonus_now, result.bonus_scheduled) == (1666, 18334)
    s2 = await snap(uows, m2)
    assert (s2.bonus, s2.locked_bonus) == (1666, 18334)

    async def release_one(uow):
        row = (await uow.releases.pending_for_member(m2, for_update=True))[0]
        return await sv.release_due_bonus(uow, row)

    await run(uows, release_one)
    s2 = await snap(uows, m2)
    assert (s2.bonus, s2.locked_bonus) == (3332, 16668)


async def test_holds_capture_and_void_exactly(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await run(
        uows,
        lambda uow: sv.top_up(
            uow,
            STAFF,
            member_id=m,
            store_id="s1",
            amount=100000,
            currency="CNY",
            tender="cash",
            plan_id="p1000",
        ),
    )
    hold, _ = await run(
        uows,
        lambda uow: sv.authorize_hold(
            uow, STAFF, member_id=m, store_id="s1", amount=30000, reference="appointments/a1", ttl_minutes=60
        ),
    )
    assert (hold.principal_minor, hold.bonus_minor) == (25000, 5000)  # proportional to 1000 : 200
    s = await snap(uows, m)
    assert (s.principal, s.bonus, s.held) == (75000, 15000, 30000)
    await run(uows, lambda uow: sv.void_hold(uow, STAFF, hold.hold_id))
    s = await snap(uows, m)
    assert (s.principal, s.bonus, s.held) == (100000, 20000, 0)
    with pytest.raises(FailedPrecondition) as err:
        await run(uows, lambda uow: sv.capture_hold(uow, STAFF, hold.hold_id))
    assert err.value.reason == "HOLD_NOT_AUTHORIZED"

    hold2, _ = await run(
        uows,
        lambda uow: sv.authorize_hold(
            uow, STAFF, member_id=m, store_id="s1", amount=12000, reference="appointments/a2", ttl_minutes=60
        ),
    )
    await run(uows, lambda uow: sv.capture_hold(uow, STAFF, hold2.hold_id))
    s = await snap(uows, m)
    assert (s.principal + s.bonus, s.held) == (120000 - 12000, 0)
    with pytest.raises(FailedPrecondition) as err:
        await run(
            uows,
            lambda uow: sv.authorize_hold(
                uow, STAFF, member_id=m, store_id="s1", amount=10**8, reference="x", ttl_minutes=60
            ),
        )
    assert err.value.reason == "INSUFFICIENT_BALANCE"


async def test_refund_returns_principal_only_and_voids_every_bonus(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await run(
        uows,
        lambda uow: sv.top_up(
            uow,
            STAFF,
            member_id=m,
            store_id="s1",
            amount=100000,
            currency="CNY",
            tender="alipay",
            plan_id="p1000m",
        ),
    )
    result = await run(
        uows, lambda uow: sv.refund_stored_value(uow, STAFF, member_id=m, store_id="s1", tender="alipay")
    )
    assert (result.principal_refunded, result.bonus_voided, result.scheduled_bonus_voided) == (
        100000,
        1666,
        18334,
    )
    s = await snap(uows, m)
    assert (s.principal, s.bonus, s.locked_bonus) == (0, 0, 0)
    with pytest.raises(FailedPrecondition) as err:
        await run(
            uows, lambda uow: sv.refund_stored_value(uow, STAFF, member_id=m, store_id="s1", tender="cash")
        )
    assert err.value.reason == "NOTHING_TO_REFUND"


async def test_wrong_pins_lock_payment_and_the_counter_survives_the_refusal(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await run(uows, lambda uow: sv.set_pin(uow, STAFF, m, "864209"))
    with pytest.raises(InvalidArgument):
        await run(uows, lambda uow: sv.set_pin(uow, STAFF, m, "111111"))
    for attempt in range(5):
        assert await run(uows, lambda uow: sv.verify_pin(uow, m, "000000")) is False, attempt
    with pytest.raises(FailedPrecondition) as err:
        await run(uows, lambda uow: sv.verify_pin(uow, m, "864209"))  # even the right PIN, while locked
    assert err.value.reason == "PIN_LOCKED"
    s = await snap(uows, m)
    assert s.pin_set and s.pin_locked_until is not None


async def test_points_lots_are_consumed_soonest_first_and_expire(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await run(
        uows, lambda uow: pts.grant_points(uow, STAFF, member_id=m, points=300, source="activity", reason="x")
    )
    _posted, lot = await run(
        uows,
        lambda uow: pts.grant_points(
            uow, STAFF, member_id=m, points=100, source="birthday", reason="birthday gift"
        ),
    )
    async with engine.begin() as conn:  # make the birthday lot the soonest to expire
        await conn.execute(
            text("UPDATE point_lots SET expire_time = now() + interval '3 days' WHERE lot_id = :l"),
            {"l": lot["lot_id"]},
        )
    await run(uows, lambda uow: pts.deduct_points(uow, STAFF, member_id=m, points=150, reason="correction"))
    async with engine.connect() as conn:
        rows = dict(
            (
                await conn.execute(
                    text("SELECT source, remaining FROM point_lots WHERE member_id = :m"), {"m": m}
                )
            ).all()
        )
    assert rows == {"birthday": 0, "activity": 250}
    with pytest.raises(FailedPrecondition) as err:
        await run(uows, lambda uow: pts.deduct_points(uow, STAFF, member_id=m, points=251, reason="too many"))
    assert err.value.reason == "INSUFFICIENT_POINTS"
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE point_lots SET expire_time = now() - interval '1 second' WHERE member_id = :m"),
            {"m": m},
        )
    expired = await run(uows, lambda uow: pts.expire_lots(uow, m, datetime.now(UTC) + timedelta(seconds=1)))
    assert expired is not None
    s = await snap(uows, m)
    assert s.points_available == 0


async def test_bad_input_is_refused_and_writes_nothing(wallet):
    engine, uows = wallet
    m = await new_member(engine)

    async def count():
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM postings"))).scalar_one()

    before = await count()
    cases = [
        (dict(member_id=m, amount=0, currency="CNY", tender="cash", plan_id=""), InvalidArgument),
        (dict(member_id=m, amount=10**13, currency="CNY", tender="cash", plan_id=""), InvalidArgument),
        (dict(member_id=m, amount=100, currency="USD", tender="cash", plan_id=""), InvalidArgument),
        (dict(member_id=m, amount=100, currency="CNY", tender="stored_value", plan_id=""), InvalidArgument),
        (dict(member_id=str(uuid.uuid4()), amount=100, currency="CNY", tender="cash", plan_id=""), NotFound),
        (dict(member_id=m, amount=100, currency="CNY", tender="cash", plan_id="p1000"), InvalidArgument),
        (dict(member_id=m, amount=100, currency="CNY", tender="cash", plan_id="nope"), NotFound),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            await run(uows, lambda uow, kw=kwargs: sv.top_up(uow, STAFF, store_id="s1", **kw))
    assert await count() == before
