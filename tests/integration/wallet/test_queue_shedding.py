"""Issue 16, queueing-time shedding (kit.grpc_server.AdmissionControl, CoDel) over real gRPC,
PostgreSQL and NATS, on the wallet: while a queue stands, a call that waited before its handler
longer than twice the target is refused at once with RESOURCE_EXHAUSTED, ErrorInfo OVERLOADED and
RetryInfo, and writes nothing; a call that did not wait, or whose wait is unknown, is served.

How long a call waited is the caller's timeout (the ``peony-timeout-ms`` header) less the deadline
gRPC core computed when the call arrived. A caller that declares a timeout 300 ms longer than the
one it set is, to the server, a call that waited 300 ms in gRPC's queue -- which is how these tests
make calls "wait" deterministically. The interval is long (3 s) so that the calls judged in it
are not split across intervals on a slow machine.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit.deadline import BUDGET_HEADER, budget_metadata
from kit.grpc_server import QUEUE_MIN_CALLS
from tests.support.stack import Infra
from tests.support.wallet import add_member, count_rows, md, reason_of, rid, running_wallet

pytestmark = pytest.mark.integration
TENANT = "queue_shed"
WRITTEN = ("ledger_transactions", "postings", "idempotency_keys", "outbox")
TIMEOUT_S = 10.0
INTERVAL_MS = 3000
SHED_ENV = {"PEONY_SHED_QUEUE_TARGET_MS": "20", "PEONY_SHED_QUEUE_INTERVAL_MS": str(INTERVAL_MS)}


def top_up(member: str, request_id: str) -> pb.TopUpRequest:
    return pb.TopUpRequest(
        member=member,
        amount_minor=1_000,
        currency_code="CNY",
        tender=ledger_pb2.TENDER_CASH,
        store="stores/s1",
        request_id=request_id,
    )


def waited(seconds: float) -> tuple[str, str]:
    """The budget header of a call that, to the server, queued ``seconds`` before its handler."""
    return (BUDGET_HEADER, str(int((TIMEOUT_S + seconds) * 1000)))


def retry_delays(err: grpc.aio.AioRpcError) -> list[float]:
    raw = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    delays = []
    for detail in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            delays.append(info.retry_delay.ToTimedelta().total_seconds())
    return delays


async def test_while_a_queue_stands_a_call_that_queued_too_long_is_refused_and_writes_nothing(
    infra: Infra,
):
    async with running_wallet(infra, "wallet_queue_shedding", **SHED_ENV) as w:
        member = await add_member(w.engine, TENANT)
        auth = md(TENANT)

        async def call(*extra: tuple[str, str], request_id: str | None = None) -> pb.TopUpResponse:
            request = top_up(member, request_id or rid())
            return await w.stub.TopUp(request, metadata=(*auth, *extra), timeout=TIMEOUT_S)

        # One interval in which every call waited 300 ms: a standing queue (not a burst). They are
        # served: CoDel judges an interval only once it is over.
        started = asyncio.get_running_loop().time()
        for _ in range(QUEUE_MIN_CALLS):  # enough calls to be a queue, not a lone slow call
            await call(waited(0.3))
        # into the next interval (not past it: after an idle interval nothing is queued)
        await asyncio.sleep(max(0.0, started + INTERVAL_MS / 1000 + 0.2 - asyncio.get_running_loop().time()))
        # The next interval's first call is served (it starts the interval's minimum)...
        await call(waited(0.3))
        before = await count_rows(w.engine, TENANT, WRITTEN)
        # ...and from then on, a call that waited 300 ms is refused at once, with a RetryInfo.
        refused_id = rid()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(waited(0.3), request_id=refused_id)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason_of(err.value) == "OVERLOADED"
        delays = retry_delays(err.value)
        assert len(delays) == 1 and 0.1 <= delays[0] <= 0.5
        # A call that did not wait, and one whose wait the server cannot know, are served.
        await call(budget_metadata(TIMEOUT_S))
        await call()
        after = await count_rows(w.engine, TENANT, WRITTEN)
        # Only the two served calls wrote; the refused one left nothing.
        assert after["ledger_transactions"] == before["ledger_transactions"] + 2
        assert after["idempotency_keys"] == before["idempotency_keys"] + 2
        # Nothing was recorded under the refused request_id: sent again without the wait, it is
        # served as a new request (a replay would return the stored response of a first attempt).
        done = await call(request_id=refused_id)
        assert done.transaction.request_id == refused_id
        final = await count_rows(w.engine, TENANT, WRITTEN)
        assert final["ledger_transactions"] == after["ledger_transactions"] + 1


async def test_calls_that_queued_are_served_when_queueing_time_shedding_is_off(infra: Infra):
    env = {**SHED_ENV, "PEONY_SHED_QUEUE_TARGET_MS": "0"}
    async with running_wallet(infra, "wallet_queue_shedding_off", **env) as w:
        member = await add_member(w.engine, TENANT)
        started = asyncio.get_running_loop().time()
        for _ in range(QUEUE_MIN_CALLS):
            await w.stub.TopUp(top_up(member, rid()), metadata=(*md(TENANT), waited(0.3)), timeout=TIMEOUT_S)
        await asyncio.sleep(max(0.0, started + INTERVAL_MS / 1000 + 0.2 - asyncio.get_running_loop().time()))
        for _ in range(3):
            await w.stub.TopUp(top_up(member, rid()), metadata=(*md(TENANT), waited(0.3)), timeout=TIMEOUT_S)
