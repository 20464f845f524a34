"""Issue 16 in the kit, against real grpc.aio servers on real ports: the server interceptor hands
the caller's deadline to the handler (`kit.deadline`) and refuses a call that arrives too late to
do anything; `call_with_retries` passes the remaining deadline downstream (booking → wallet
through the booking's `WalletClient`), stops retrying when its retry budget is spent, and waits
out a `RetryInfo` delay before retrying a RESOURCE_EXHAUSTED — or fails fast when it does not fit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from peony.wallet.v1 import wallet_service_pb2, wallet_service_pb2_grpc

from kit import deadline
from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config
from kit.errors import grpc_trailers
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.retry import RetryBudget
from kit.service_auth import DOWNSTREAM_MARGIN_S, ServiceCredentials, call_with_retries
from services.booking.adapters.wallet_client import WalletClient, WalletError
from tests.support.metrics import global_metric_reader, metric_points

pytestmark = pytest.mark.integration

# gRPC sends a deadline as a grpc-timeout header in whole units, rounded up, and the far side adds
# its own scheduling: the deadline seen downstream can be a few ms longer than the one passed on
# (without the margin it would be ~1.0 s, so the checks below still tell the two apart).
GRPC_TIMEOUT_SLACK_S = 0.02

NOTIFY = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name
WALLET = wallet_service_pb2.DESCRIPTOR.services_by_name["WalletService"].full_name
MD = (("authorization", f"Bearer {mint_dev_token(tenant='t', subject='s', roles=['hq_admin'])}"),)


# ------------------------------------------------------------------------------------------------
# a scripted server: answers each attempt as told and records when it came and its deadline
# ------------------------------------------------------------------------------------------------

OK = "ok"


def overloaded_trailers(delay_s: float | None) -> tuple[tuple[str, bytes], ...]:
    details = []
    if delay_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(delay_s * 1000))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(packed)
    return grpc_trailers(status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="busy", details=details))


@dataclass
class Scripted:
    answers: list  # OK or (code, trailers); the last one repeats
    attempts: list[tuple[float, float | None]] = field(default_factory=list)  # (when, time_remaining)

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.attempts.append((time.monotonic(), context.time_remaining()))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == OK:
            return b"ok"
        code, trailers = answer
        await context.abort(code, "scripted", trailing_metadata=trailers)


@asynccontextmanager
async def scripted_server(script: Scripted) -> AsyncIterator[grpc.aio.UnaryUnaryMultiCallable]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Scripted", {"Call": grpc.unary_unary_rpc_method_handler(script.call)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel.unary_unary("/test.Scripted/Call")
    finally:
        await channel.close()
        await server.stop(0)


async def call(rpc, budget: RetryBudget, *, deadline_s: float = 5.0, attempts: int = 3):
    return await call_with_retries(
        rpc,
        b"",
        metadata=(),
        deadline_s=deadline_s,
        attempts=attempts,
        backoff_s=0.001,
        retryable=lambda exc: exc.code() == grpc.StatusCode.UNAVAILABLE,
        budget=budget,
    )


async def test_retries_stop_once_the_retry_budget_is_spent():
    script = Scripted([(grpc.StatusCode.UNAVAILABLE, ())])
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    async with scripted_server(script) as rpc:
        for _ in range(6):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(rpc, budget)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # 3 attempts allowed per call would be 18. The bucket (10 tokens, retries only above 5) pays
    # for 2 retries of the first call, 1 of the second, none after: 3 + 2 + 1 + 1 + 1 + 1.
    assert len(script.attempts) == 9
    # 1 token is left; successes give back token_ratio each: 55 of them (6.5 tokens) pay for one
    # retry again (a failure takes one, and a retry needs more than half the bucket left).
    script.answers = [OK]
    async with scripted_server(script) as rpc:
        for _ in range(55):
            await call(rpc, budget)
    script.answers = [(grpc.StatusCode.UNAVAILABLE, ()), OK]
    script.attempts.clear()
    async with scripted_server(script) as rpc:
        assert await call(rpc, budget) == b"ok"
    assert len(script.attempts) == 2


async def test_resource_exhausted_is_retried_after_the_servers_retry_delay_not_before():
    script = Scripted([(grpc.StatusCode.RESOURCE_EXHAUSTED, overloaded_trailers(0.3)), OK])
    async with scripted_server(script) as rpc:
        assert await call(rpc, RetryBudget()) == b"ok"
    (first, _), (second, _) = script.attempts
    assert second - first >= 0.3


async def test_resource_exhausted_fails_fast_when_the_delay_does_not_fit_or_is_not_given():
    for trailers, deadline_s in ((overloaded_trailers(2.0), 1.0), (overloaded_trailers(None), 5.0)):
        script = Scripted([(grpc.StatusCode.RESOURCE_EXHAUSTED, trailers), OK])
        async with scripted_server(script) as rpc:
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(rpc, RetryBudget(), deadline_s=deadline_s)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() - started < 0.5
        assert len(script.attempts) == 1


async def test_a_downstream_call_gets_the_rest_of_the_inbound_deadline_and_none_when_it_is_gone():
    script = Scripted([OK])
    async with scripted_server(script) as rpc:
        token = deadline.set_deadline(1.0)
        try:
            await call(rpc, RetryBudget(), deadline_s=30.0)
        finally:
            deadline.reset(token)
        (_, downstream_left), *_ = script.attempts
        assert downstream_left is not None
        assert downstream_left <= 1.0 - DOWNSTREAM_MARGIN_S + GRPC_TIMEOUT_SLACK_S

        token = deadline.set_deadline(DOWNSTREAM_MARGIN_S / 2)  # less than the margin: no time
        try:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(rpc, RetryBudget(), deadline_s=30.0)
        finally:
            deadline.reset(token)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert len(script.attempts) == 1  # nothing was sent


# ------------------------------------------------------------------------------------------------
# through the kit's server: booking-like front → WalletClient → wallet-like server
# ------------------------------------------------------------------------------------------------


class RecordingWallet(wallet_service_pb2_grpc.WalletServiceServicer):
    def __init__(self) -> None:
        self.seen: list[tuple[float | None, float | None]] = []  # (context.time_remaining(), kit's)

    async def GetHold(self, request, context):
        self.seen.append((context.time_remaining(), deadline.remaining()))
        return wallet_service_pb2.GetHoldResponse()


class Front(notify_service_pb2_grpc.NotifyServiceServicer):
    """Stands in for booking serving a request that needs the wallet (any kit service would do)."""

    def __init__(self, wallet: WalletClient) -> None:
        self.wallet = wallet
        self.handled = 0

    async def GetMessage(self, request, context):
        self.handled += 1
        try:
            await self.wallet.get_hold("t", "holds/x")
        except WalletError as exc:
            raise RuntimeError(str(exc)) from exc
        return notify_service_pb2.GetMessageResponse()


@asynccontextmanager
async def kit_server(service: str, full_name: str, add, servicer, **env: str) -> AsyncIterator[int]:
    config = load_config(
        service,
        {
            "PEONY_DATABASE_URL": "postgresql://unused/",
            f"PEONY_{service.upper()}_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "1",
            **env,
        },
    )
    runner = GrpcServiceRunner(
        config, [ServiceRegistration(full_name, add, servicer)], TokenVerifier(config.auth)
    )
    port = await runner.start()
    try:
        yield port
    finally:
        await runner.stop()


async def test_booking_to_wallet_carries_the_inbound_remaining_deadline():
    wallet = RecordingWallet()
    config = load_config("booking", {"PEONY_DATABASE_URL": "postgresql://unused/"})
    async with kit_server(
        "wallet", WALLET, wallet_service_pb2_grpc.add_WalletServiceServicer_to_server, wallet
    ) as wallet_port:
        client = WalletClient(
            f"127.0.0.1:{wallet_port}", ServiceCredentials.from_config(config, {}), deadline_s=5.0
        )
        front = Front(client)
        async with (
            kit_server(
                "notify", NOTIFY, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, front
            ) as port,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            stub = notify_service_pb2_grpc.NotifyServiceStub(channel)
            await stub.GetMessage(
                notify_service_pb2.GetMessageRequest(name="messages/x"), metadata=MD, timeout=1.0
            )
            # Without an inbound deadline the client's own (5 s) applies.
            await stub.GetMessage(notify_service_pb2.GetMessageRequest(name="messages/x"), metadata=MD)
        await client.close()
    (bounded, bounded_kit), (own, own_kit) = wallet.seen
    # The wallet saw the front's remaining second minus the margin, not booking's 5 s...
    assert bounded is not None and 0.5 < bounded <= 1.0 - DOWNSTREAM_MARGIN_S + GRPC_TIMEOUT_SLACK_S
    # ...and its own handler knows it through kit.deadline too.
    assert bounded_kit is not None and abs(bounded_kit - bounded) < 0.1
    assert own is not None and 4.0 < own <= 5.05 and own_kit is not None  # server clock: wall time


async def test_a_call_that_arrives_with_less_than_the_minimum_left_does_no_work():
    wallet = RecordingWallet()
    async with (
        kit_server(
            "wallet",
            WALLET,
            wallet_service_pb2_grpc.add_WalletServiceServicer_to_server,
            wallet,
            PEONY_MIN_DEADLINE_MS="500",
        ) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = wallet_service_pb2_grpc.WalletServiceStub(channel)
        await stub.GetHold(wallet_service_pb2.GetHoldRequest(name="holds/x"), metadata=MD, timeout=5)
        assert len(wallet.seen) == 1
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetHold(wallet_service_pb2.GetHoldRequest(name="holds/x"), metadata=MD, timeout=0.4)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server answered at once (not the client giving up at 0.4 s)...
        assert time.monotonic() - started < 0.3
        assert "before the call started" in (err.value.details() or "")
    assert len(wallet.seen) == 1  # ...and the handler never ran


class HeldWallet(wallet_service_pb2_grpc.WalletServiceServicer):
    """GetHold waits until the test releases it: an RPC that stays in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def GetHold(self, request, context):
        self.entered.set()
        await self.release.wait()
        return wallet_service_pb2.GetHoldResponse()


def wallet_gauge(reader, name: str) -> list:
    return [p.value for p in metric_points(reader, name, **{"peony.service": "wallet"})]


async def test_a_burst_past_the_bound_is_refused_by_the_kit_at_once_and_counted():
    reader = global_metric_reader()
    held = HeldWallet()
    add = wallet_service_pb2_grpc.add_WalletServiceServicer_to_server
    async with (
        kit_server("wallet", WALLET, add, held, PEONY_MAX_INFLIGHT_RPCS="1") as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = wallet_service_pb2_grpc.WalletServiceStub(channel)
        request = wallet_service_pb2.GetHoldRequest(name="holds/x")
        shed_before = sum(
            p.value for p in metric_points(reader, "peony.rpc.server.shed", **{"rpc.method": "GetHold"})
        )
        first = asyncio.ensure_future(stub.GetHold(request, metadata=MD, timeout=30))
        await asyncio.wait_for(held.entered.wait(), 10)
        assert [
            p.value
            for p in metric_points(reader, "peony.rpc.server.in_flight", **{"peony.service": "wallet"})
        ] == [1]
        assert [
            p.value
            for p in metric_points(reader, "peony.rpc.server.max_in_flight", **{"peony.service": "wallet"})
        ] == [1]

        async def refused() -> tuple[grpc.StatusCode, float]:
            started = time.perf_counter()
            try:
                await stub.GetHold(request, metadata=MD, timeout=30)
            except grpc.aio.AioRpcError as exc:
                return exc.code(), time.perf_counter() - started
            return grpc.StatusCode.OK, time.perf_counter() - started

        # Two hundred calls at once on one connection: every one is answered by the kit's bound
        # (not queued by HTTP/2 stream limits or gRPC's own, not CANCELLED).
        answers = await asyncio.gather(*(refused() for _ in range(200)))
        assert {code for code, _ in answers} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert max(elapsed for _, elapsed in answers) < 2.0  # all of them on this loaded machine
        shed_after = sum(
            p.value for p in metric_points(reader, "peony.rpc.server.shed", **{"rpc.method": "GetHold"})
        )
        assert shed_after - shed_before == 200
        held.release.set()
        await first
        assert [
            p.value
            for p in metric_points(reader, "peony.rpc.server.in_flight", **{"peony.service": "wallet"})
        ] == [0]
