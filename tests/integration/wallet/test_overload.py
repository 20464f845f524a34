"""Issue 16 on the wallet, over real gRPC, PostgreSQL and NATS: a TopUp that cannot finish before
its deadline writes nothing and leaves the pool clean; past the admission bound a call is refused
at once with RESOURCE_EXHAUSTED, RetryInfo and ErrorInfo, writes nothing, and health stays SERVING.

A TopUp is made slow deterministically: another connection holds EXCLUSIVE locks on the tables it
writes (reads still pass), so the call blocks on its first write until the locks go.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from peony.wallet.v1 import ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stack import Infra
from tests.support.wallet import add_member, count_rows, md, reason_of, rid, running_wallet

pytestmark = pytest.mark.integration
TENANT = "overload"
WRITTEN = ("ledger_transactions", "postings", "idempotency_keys", "outbox")


def top_up(member: str, request_id: str | None = None) -> pb.TopUpRequest:
    return pb.TopUpRequest(
        member=member,
        amount_minor=5_000,
        currency_code="CNY",
        tender=ledger_pb2.TENDER_CASH,
        store="stores/s1",
        request_id=request_id or rid(),
    )


@asynccontextmanager
async def writes_blocked(engine: AsyncEngine) -> AsyncIterator[None]:
    """Holds EXCLUSIVE locks on every table a TopUp writes until the block ends."""
    async with engine.connect() as conn:
        await conn.execute(text("BEGIN"))
        await conn.execute(
            text(
                "LOCK TABLE accounts, ledger_transactions, postings, stored_value_lots,"
                " stored_value_lot_movements, idempotency_keys, outbox IN EXCLUSIVE MODE"
            )
        )
        try:
            yield
        finally:
            await conn.execute(text("ROLLBACK"))


async def wallet_backends(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    """(state, wait_event_type) of the wallet server's own connections (application_name)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT state, wait_event_type, left(query, 120) FROM pg_stat_activity"
                " WHERE application_name = 'peony-wallet' AND datname = current_database()"
                " AND backend_type = 'client backend' AND query NOT ILIKE '%LISTEN%'"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def eventually(predicate, timeout_s: float = 5.0) -> bool:
    stop = time.monotonic() + timeout_s
    while time.monotonic() < stop:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return await predicate()


async def test_a_top_up_that_cannot_finish_before_its_deadline_writes_nothing(infra: Infra):
    async with running_wallet(infra, "wallet_overload_deadline") as w:
        member = await add_member(w.engine, TENANT)
        before = await count_rows(w.engine, TENANT, WRITTEN)
        request_id = rid()
        async with writes_blocked(w.engine):
            started = time.perf_counter()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await w.stub.TopUp(top_up(member, request_id), metadata=md(TENANT), timeout=0.8)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.perf_counter() - started < 3.0

            # The server cancelled the blocked statement at the deadline (asyncpg's cancel request)
            # while the locks are still held: none of its connections is still waiting on a lock.
            async def nothing_waits() -> bool:
                return all(b[1] != "Lock" for b in await wallet_backends(w.engine))

            # asyncpg's cancel request goes over a new connection: on a loaded machine it has taken
            # more than 5 s (still far inside the 30 s statement_timeout this must not rely on).
            assert await eventually(nothing_waits, timeout_s=15.0), await wallet_backends(w.engine)
        # The locks are gone; had the statement not been cancelled and rolled back, it would
        # commit now.
        await asyncio.sleep(0.5)
        assert await count_rows(w.engine, TENANT, WRITTEN) == before
        # No connection was returned to the pool with its transaction open...
        assert all(b[0] != "idle in transaction" for b in await wallet_backends(w.engine))
        # ...and the pool serves the same request (same request_id: nothing was recorded) at once.
        done = await w.stub.TopUp(top_up(member, request_id), metadata=md(TENANT), timeout=10)
        assert done.transaction.request_id == request_id
        after = await count_rows(w.engine, TENANT, WRITTEN)
        assert after["ledger_transactions"] == before["ledger_transactions"] + 1


async def test_past_the_admission_bound_a_call_is_refused_at_once_and_writes_nothing(infra: Infra):
    async with running_wallet(infra, "wallet_overload_admission", PEONY_MAX_INFLIGHT_RPCS="1") as w:
        member = await add_member(w.engine, TENANT)
        # Warm the method's path (handler lookup, first token verification) before timing.
        await w.stub.TopUp(top_up(member), metadata=md(TENANT), timeout=10)
        before = await count_rows(w.engine, TENANT, WRITTEN)
        async with writes_blocked(w.engine):
            held = asyncio.ensure_future(w.stub.TopUp(top_up(member), metadata=md(TENANT), timeout=20))

            async def holding() -> bool:  # the first call is in the server, blocked on a lock
                return any(b[1] == "Lock" for b in await wallet_backends(w.engine))

            assert await eventually(holding)
            started = time.perf_counter()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await w.stub.TopUp(top_up(member), metadata=md(TENANT), timeout=10)
            elapsed = time.perf_counter() - started
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert elapsed < 0.05, f"refused in {elapsed * 1000:.1f} ms"
            assert reason_of(err.value) == "OVERLOADED"
            raw = dict(err.value.trailing_metadata())["grpc-status-details-bin"]
            delays = []
            for detail in status_pb2.Status.FromString(raw).details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    delays.append(info.retry_delay.ToTimedelta().total_seconds())
            assert len(delays) == 1 and 0.1 <= delays[0] <= 0.5
            # Health and reflection are exempt from the bound.
            health = await health_pb2_grpc.HealthStub(w.channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            assert not held.done()
        await held  # the held call completes once the locks go
        after = await count_rows(w.engine, TENANT, WRITTEN)
        # Only the held call wrote: the refused one left nothing.
        assert after["ledger_transactions"] == before["ledger_transactions"] + 1
        # The slot was given back: the next call is served.
        await w.stub.TopUp(top_up(member), metadata=md(TENANT), timeout=10)
