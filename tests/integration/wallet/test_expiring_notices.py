"""The "points expiring soon" job (issue 9, example 11) over real PostgreSQL: with more lots than
one batch, lots not due yet never starve due ones; every due lot is noticed exactly once,
soonest-expiring first, by each tenant's own `expiring_notice_days`."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.db import session_factory
from kit.uow import UnitOfWorkFactory
from services.wallet.entrypoints.jobs import BATCH, WalletJobs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

pytestmark = pytest.mark.integration
DEFAULT_TENANT = "expiring-a"  # default setting: 30 days' notice
LONG_NOTICE_TENANT = "expiring-b"  # 90 days' notice


@pytest.fixture(scope="module")
async def engine(infra):
    # No server running: nothing but this test runs the jobs.
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_expiring"))
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def add_lots(engine, tenant: str, expire_times: list[datetime]) -> dict[str, datetime]:
    """One lot per member (so the outbox's aggregate id tells which lot an event is about)."""
    rows = [
        {"t": tenant, "lot": str(uuid.uuid4()), "m": str(uuid.uuid4()), "exp": at, "tx": str(uuid.uuid4())}
        for at in expire_times
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO point_lots (tenant_id, lot_id, member_id, source, original, remaining,"
                " earned_time, expire_time, transaction_id)"
                " VALUES (:t, :lot, :m, 'purchase', 100, 100, now(), :exp, :tx)"
            ),
            rows,
        )
    return {r["m"]: r["exp"] for r in rows}


async def test_every_due_lot_is_noticed_once_soonest_first_past_one_batch(engine):
    now = datetime.now(UTC)
    days = [timedelta(days=d) for d in range(1, 366)]
    rnd = random.Random(9)
    # Lots not due yet are written first, so they come first in the table: more than two
    # batches of them.
    not_due = await add_lots(
        engine, DEFAULT_TENANT, [now + rnd.choice(days[40:]) for _ in range(2 * BATCH + 50)]
    )
    due_times = [now + timedelta(days=1 + i % 29, minutes=i) for i in range(BATCH + 50)]
    rnd.shuffle(due_times)
    due = await add_lots(engine, DEFAULT_TENANT, due_times)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO wallet_settings (tenant_id, settings) VALUES (:t, CAST(:s AS jsonb))"),
            {"t": LONG_NOTICE_TENANT, "s": '{"expiring_notice_days": 90}'},
        )
    due |= await add_lots(engine, LONG_NOTICE_TENANT, [now + timedelta(days=60, minutes=i) for i in range(5)])
    not_due |= await add_lots(engine, LONG_NOTICE_TENANT, [now + timedelta(days=120)] * 5)

    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    jobs = WalletJobs(engine, uows)
    assert await jobs.notify_expiring(now) == len(due) == BATCH + 55

    async with engine.connect() as conn:
        noticed = [
            r.aggregate_id
            for r in await conn.execute(
                text("SELECT aggregate_id FROM outbox WHERE event_type LIKE '%PointsExpiring' ORDER BY seq")
            )
        ]
        flagged = {
            str(r.member_id)
            for r in await conn.execute(text("SELECT member_id FROM point_lots WHERE expiring_notified"))
        }
    assert sorted(noticed) == sorted(due) and flagged == set(due)  # all due, once; none early
    assert [due[m] for m in noticed] == sorted(due.values())  # soonest-expiring first

    assert await jobs.notify_expiring(now) == 0  # nothing is noticed twice
    # Lots coming into their window later are noticed then (tenant B's 120-day lots are not yet).
    later = now + timedelta(days=20)
    assert await jobs.notify_expiring(later) == sum(
        1 for at in not_due.values() if at <= later + timedelta(days=30)
    )
