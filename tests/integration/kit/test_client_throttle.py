"""Client-side adaptive throttling (kit/throttle.py, issue 16) through the kit's client stack
(`kit.telemetry.client_interceptors`, what every service-to-service client uses) against a real
grpc.aio server on a real port, whose calls are counted at the server: a target that refuses most
calls gets most of them refused in the client, never sent; a healthy one is never throttled; the
throttle lets calls through again once the target accepts them; the retry loop neither retries a
local refusal nor spends its budget on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from kit import throttle as kit_throttle
from kit.errors import Overloaded, ResourceExhausted, grpc_trailers
from kit.grpc_client import client_target, error_reason
from kit.retry import RetryBudget, retry_info_delay
from kit.service_auth import call_with_retries
from kit.telemetry import client_interceptors
from kit.throttle import ThrottledLocally, ThrottleSettings
from tests.support.metrics import global_metric_reader, metric_points

pytestmark = pytest.mark.integration

METHOD = "/test.Throttled/Call"


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttles are per process and per target: each test starts (and leaves) with none."""
    kit_throttle.reset()
    yield
    kit_throttle.reset()


@dataclass
class Backend:
    """A real server whose answer is switched by the test: every call is counted where it lands."""

    mode: str = "ok"  # ok | overloaded | quota | every_third_overloaded
    calls: int = 0
    delay_s: float = 0.0  # a slow but healthy target

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        shed = self.mode == "overloaded" or (self.mode == "every_third_overloaded" and self.calls % 3 == 0)
        if shed:  # what kit/grpc_server.py sends when it sheds a call
            err = Overloaded("the server is overloaded; retry after the RetryInfo delay", retry_delay_s=0.2)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                err.message,
                trailing_metadata=grpc_trailers(err.to_status()),
            )
        if self.mode == "quota":  # a quota, not load: no RetryInfo
            err = ResourceExhausted("quota exceeded", reason="QUOTA")
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                err.message,
                trailing_metadata=grpc_trailers(err.to_status()),
            )
        return b"ok"


@asynccontextmanager
async def kit_client(backend: Backend, settings: ThrottleSettings) -> AsyncIterator[tuple[str, object]]:
    """The backend on a real port and a channel built as every kit client builds it."""
    kit_throttle.configure(settings)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Throttled", {"Call": grpc.unary_unary_rpc_method_handler(backend.call)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(client_target(target), interceptors=client_interceptors(target))
    try:
        yield target, channel.unary_unary(METHOD)
    finally:
        await channel.close()
        await server.stop(0)


async def outcome(rpc) -> tuple[grpc.StatusCode, grpc.aio.AioRpcError | None]:
    try:
        await rpc(b"", timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc
    return grpc.StatusCode.OK, None


def throttled_count(reader, target: str) -> int:
    return sum(p.value for p in metric_points(reader, "rpc.client.throttled", **{"server.address": target}))


async def test_a_target_that_refuses_most_calls_gets_them_refused_in_the_client_unsent():
    reader = global_metric_reader()
    backend = Backend(mode="overloaded")
    async with kit_client(backend, ThrottleSettings(k=2.0, window_s=600)) as (target, rpc):
        before = throttled_count(reader, target)
        answers = [await outcome(rpc) for _ in range(300)]

        # Every caller saw a server's refusal: RESOURCE_EXHAUSTED, reason OVERLOADED, a RetryInfo.
        assert {code for code, _ in answers} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        local = [err for _, err in answers if isinstance(err, ThrottledLocally)]
        for err in local[:5]:
            assert error_reason(err) == "OVERLOADED"
            delay = retry_info_delay(err)
            assert delay is not None and 0.1 <= delay <= 0.5
            assert err.details() == "the server is overloaded; retry after the RetryInfo delay"
        # Most of them never left the process: the server counted only the others.
        assert len(local) >= 200
        assert backend.calls == 300 - len(local)
        assert kit_throttle.throttle_for(target).refused_locally == len(local)
        assert throttled_count(reader, target) - before == len(local)


async def test_a_healthy_target_and_one_refusing_a_third_of_calls_are_never_throttled():
    for mode in ("ok", "every_third_overloaded", "quota"):
        kit_throttle.reset()
        backend = Backend(mode=mode)
        async with kit_client(backend, ThrottleSettings(k=2.0, window_s=600)) as (target, rpc):
            answers = [await outcome(rpc) for _ in range(150)]
            assert not any(isinstance(err, ThrottledLocally) for _, err in answers), mode
            assert backend.calls == 150, mode  # every call reached the server
            assert kit_throttle.throttle_for(target).refused_locally == 0, mode


async def test_a_burst_of_slow_calls_to_a_healthy_target_is_not_throttled():
    backend = Backend(mode="ok", delay_s=1.0)
    async with kit_client(backend, ThrottleSettings(k=2.0, window_s=600)) as (target, rpc):
        answers = await asyncio.gather(*(outcome(rpc) for _ in range(100)))
        assert {code for code, _ in answers} == {grpc.StatusCode.OK}
        assert backend.calls == 100
        assert kit_throttle.throttle_for(target).refused_locally == 0


async def test_calls_go_through_again_once_the_target_accepts_them():
    backend = Backend(mode="overloaded")
    async with kit_client(backend, ThrottleSettings(k=2.0, window_s=2.0)) as (target, rpc):
        answers = [await outcome(rpc) for _ in range(200)]
        assert sum(isinstance(err, ThrottledLocally) for _, err in answers) >= 100

        backend.mode = "ok"  # the target recovered
        # Calls keep coming (a few every 50 ms): the refusals leave the window and the ones that get
        # through are accepted, until a run of 30 calls all reaches the server and succeeds.
        run, limit = 0, time.monotonic() + 60
        while run < 30:
            assert time.monotonic() < limit, "the client kept refusing calls to a recovered target"
            code, _ = await outcome(rpc)
            run = run + 1 if code == grpc.StatusCode.OK else 0
            await asyncio.sleep(0.05)
        assert kit_throttle.throttle_for(target).refusal_probability() == 0.0


async def test_throttling_off_sends_every_call():
    backend = Backend(mode="overloaded")
    async with kit_client(backend, ThrottleSettings(enabled=False)) as (target, rpc):
        answers = [await outcome(rpc) for _ in range(100)]
        assert not any(isinstance(err, ThrottledLocally) for _, err in answers)
        assert backend.calls == 100
        assert kit_throttle.throttle_for(target) is None


async def test_the_retry_loop_neither_retries_a_local_refusal_nor_spends_its_budget_on_it():
    backend = Backend(mode="ok")
    async with kit_client(backend, ThrottleSettings(k=2.0, window_s=600)) as (target, rpc):
        throttle = kit_throttle.throttle_for(target)
        # The target refused the last 40 calls (as it would have); this test's dice always refuse.
        for _ in range(40):
            throttle.record(False)
        throttle._random = lambda: 0.0
        assert throttle.refusal_probability() > 0.5
        budget = RetryBudget()
        requests_before = throttle.requests
        with pytest.raises(ThrottledLocally) as refused:
            await call_with_retries(
                rpc,
                b"",
                metadata=(),
                deadline_s=5.0,
                attempts=3,
                backoff_s=0.001,
                retryable=lambda exc: exc.code() == grpc.StatusCode.UNAVAILABLE,
                budget=budget,
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert backend.calls == 0  # nothing was sent
        assert throttle.requests == requests_before + 1  # the one attempt, counted once
        assert budget.tokens == budget.max_tokens  # the target failed nothing


def test_the_local_refusal_carries_the_rich_status_the_gateway_and_services_read():
    err = ThrottledLocally(0.3)
    assert isinstance(err, grpc.aio.AioRpcError)
    raw = dict(err.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    info = error_details_pb2.RetryInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert info.retry_delay.ToMilliseconds() == 300
