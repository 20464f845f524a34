"""A members process SIGKILLed while its anniversary programme is running, then restarted: every
member due gets exactly one ``MembershipAnniversaryDue`` (what notify's greeting and the wallet's
grant consume), and the real wallet grants each of them exactly once.

The members service runs as a process of its own on a database of its own, its anniversary job
every 0.2 s, one member per transaction (``PEONY_MEMBERS_ANNIVERSARY_BATCH_SIZE=1``) and due at
00:00 store-local, so the run over 300 members takes hundreds of commits and the kill lands
mid-run (checked: some members claimed, some not yet). The members are registered through the
API and then, all in one statement, moved to a registration two years ago today (nobody waits
years), which is what makes them due at the job's next tick.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from peony.members.v1 import member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.auth import mint_dev_token
from kit.config import to_async_url
from tests.support.services import members_process
from tests.support.wallet import running_wallet

pytestmark = pytest.mark.integration

TENANT = "anniversary-kill"
MEMBERS = 300


def md():
    token = mint_dev_token(tenant=TENANT, subject="user:t", roles=["hq_admin"])
    return (("authorization", f"Bearer {token}"),)


async def test_sigkill_mid_run_grants_and_messages_each_member_once(infra, tmp_path):
    url = to_async_url(await infra.amigrated_database("members", "members_anniversary_kill"))
    engine = create_async_engine(url)
    port = free_port()
    members = members_process(
        url,
        infra.nats_url,
        port,
        tmp_path / "members.log",
        PEONY_MEMBERS_ANNIVERSARY_TIME="00:00",
        PEONY_MEMBERS_ANNIVERSARY_INTERVAL_SECONDS="0.2",
        PEONY_MEMBERS_ANNIVERSARY_BATCH_SIZE="1",
    )
    await asyncio.to_thread(members.start)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.MembersServiceStub(channel)

    async def count(sql: str) -> int:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), {"t": TENANT})).scalar_one()

    claimed = "SELECT count(*) FROM programme_runs WHERE tenant_id = :t AND programme = 'anniversary'"
    async with running_wallet(infra, "wallet_anniversary_kill") as wallet:
        try:
            await stub.CreateStore(
                pb.CreateStoreRequest(
                    store_id="s1",
                    store=store_pb2.Store(display_name="S1", time_zone="UTC"),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md(),
            )

            async def register(i: int) -> None:
                await stub.RegisterMember(
                    pb.RegisterMemberRequest(
                        member=member_pb2.Member(
                            display_name="老会员", phone=f"137{i + 6_200_000:08d}", home_store="stores/s1"
                        ),
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=md(),
                )

            for start in range(0, MEMBERS, 20):
                await asyncio.gather(*(register(i) for i in range(start, min(start + 20, MEMBERS))))
            assert await count(claimed) == 0  # registered this year: nobody is due yet

            today = datetime.now(UTC)
            two_years_ago = today.replace(year=today.year - 2, hour=0, minute=30, second=0, microsecond=0)
            async with engine.begin() as conn:  # all due at once, at the job's next tick
                await conn.execute(
                    text("UPDATE members SET create_time = :at WHERE tenant_id = :t"),
                    {"at": two_years_ago, "t": TENANT},
                )
            deadline = time.monotonic() + 60
            while await count(claimed) < 10:  # a few transactions in
                assert time.monotonic() < deadline, members.log_tail()
                await asyncio.sleep(0.01)
            members.signal(signal.SIGKILL)
            await asyncio.to_thread(members.wait, 10)
            before = await count(claimed)
            assert 0 < before < MEMBERS, before

            await asyncio.to_thread(members.start)
            deadline = time.monotonic() + 120
            while await count(claimed) < MEMBERS:
                assert time.monotonic() < deadline, members.log_tail()
                await asyncio.sleep(0.2)
            # every event published (the relay resumes after the kill) and granted by the wallet
            deadline = time.monotonic() + 180
            grants = (
                "SELECT count(*) FROM programme_grants WHERE tenant_id = :t AND programme = 'anniversary'"
            )
            while True:
                async with wallet.engine.connect() as conn:
                    granted = (await conn.execute(text(grants), {"t": TENANT})).scalar_one()
                if granted >= MEMBERS:
                    break
                assert time.monotonic() < deadline, (granted, members.log_tail())
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # a few more ticks of the restarted job: they must add nothing
        finally:
            members.stop()
            await channel.close()

        try:
            assert await count(claimed) == MEMBERS
            once = await count(
                "SELECT count(*) FROM (SELECT aggregate_id FROM outbox WHERE tenant_id = :t"
                " AND event_type = 'peony.members.v1.MembershipAnniversaryDue'"
                " GROUP BY aggregate_id HAVING count(*) = 1) once"
            )
            total = await count(
                "SELECT count(*) FROM outbox WHERE tenant_id = :t"
                " AND event_type = 'peony.members.v1.MembershipAnniversaryDue'"
            )
            assert (once, total) == (MEMBERS, MEMBERS)
            async with wallet.engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(*), count(DISTINCT member_id), sum(points),"
                            " count(DISTINCT transaction_id) FROM programme_grants"
                            " WHERE tenant_id = :t AND programme = 'anniversary'"
                        ),
                        {"t": TENANT},
                    )
                ).one()
                points_postings = (
                    await conn.execute(
                        text(
                            "SELECT count(DISTINCT p.transaction_id) FROM postings p JOIN programme_grants g"
                            " ON g.tenant_id = p.tenant_id AND g.transaction_id = p.transaction_id::text"
                            " WHERE g.tenant_id = :t AND g.programme = 'anniversary'"
                        ),
                        {"t": TENANT},
                    )
                ).scalar_one()
            assert tuple(row) == (MEMBERS, MEMBERS, MEMBERS * 100, MEMBERS)
            assert points_postings == MEMBERS  # one points transaction per member, no more
        finally:
            await engine.dispose()
