"""The open-loop load generator of the benchmarks (bench._common.run_open_loop), against a real
grpc.aio server that answers, sheds (RESOURCE_EXHAUSTED with a RetryInfo) or stalls past the
deadline depending on the request: calls go out on schedule whatever the answers, and every
outcome is recorded under its key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from bench._common import REFUSED, Children, collect_open_loop, run_open_loop

METHOD = "/peony.bench.v1.Overload/Call"
STALL_S = 1.5


async def _handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request.startswith(b"shed"):
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=50_000_000)))
        status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="busy", details=[detail])
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "busy",
            trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
        )
    if request.startswith(b"stall"):
        await asyncio.sleep(STALL_S)
    return b"ok"


async def workload(channel: Any, spec: dict[str, Any], worker_index: int):
    """Call ``seq`` of a worker: kind ``spec["kinds"][seq % len]``, recorded as ``w<worker>-<seq>``."""
    method = channel.unary_unary(METHOD)
    kinds = spec["kinds"]

    def prepare(seq: int):
        payload = kinds[seq % len(kinds)].encode()
        return f"w{worker_index}-{seq}", lambda timeout: method(payload, timeout=timeout)

    return prepare


@pytest.fixture
def server_port() -> Iterator[int]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    stop = asyncio.Event()

    async def serve() -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "peony.bench.v1.Overload", {"Call": grpc.unary_unary_rpc_method_handler(_handle)}
        )
        server.add_generic_rpc_handlers((handler,))
        port.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        started.set()
        await stop.wait()
        await server.stop(0)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield port[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


def test_calls_go_out_on_schedule_and_every_outcome_is_recorded(server_port: int, tmp_path) -> None:
    rate, duration, procs = 20.0, 1.0, 2
    with Children(log_dir=tmp_path) as children:
        _, workers = run_open_loop(
            children,
            target=f"127.0.0.1:{server_port}",
            workload="tests.unit.test_bench_open_loop:workload",
            spec={"kinds": ["ok", "shed", "stall"]},
            rate=rate,
            procs=procs,
            warmup=0.0,
            duration=duration,
            deadline_s=0.5,
            arrivals="uniform",
            startup_allowance=5.0,
        )
        result = collect_open_loop(children, workers, limit_s=60)

    records = result["records"]  # [worker, seq, key, due_s, lag_us, latency_us, outcome, retry_info]
    # Open loop: a third of the calls stall until their deadline, yet every due call was sent
    # (a closed-loop client with the same concurrency would have sent far fewer).
    # Each process: 10 calls/s, due at 0.1 s, 0.2 s, ... 0.9 s (the one due at 1.0 s is past the end).
    assert len(records) == procs * 9
    assert {r[2] for r in records} == {f"w{r[0]}-{r[1]}" for r in records}
    assert len({r[2] for r in records}) == len(records)
    by_kind: dict[str, set[str]] = {}
    for r in records:
        kind = ("ok", "shed", "stall")[r[1] % 3]
        by_kind.setdefault(kind, set()).add((r[6], r[7]))
    assert by_kind["ok"] == {("ok", False)}
    assert by_kind["shed"] == {(REFUSED, True)}
    assert by_kind["stall"] == {("DEADLINE_EXCEEDED", False)}
    stalled = [r for r in records if r[6] == "DEADLINE_EXCEEDED"]
    assert all(r[5] >= 400_000 for r in stalled)  # waited for its 0.5 s deadline, not STALL_S
    assert all(r[5] < STALL_S * 1e6 for r in stalled)
    assert result["cpu_s"] > 0

    # The next call went out while a stalled one was still waiting for its deadline: the schedule,
    # not the answers, decides when a call is sent (a closed-loop sender never overlaps them).
    def sent(r: list[Any]) -> float:
        return r[3] + r[4] / 1e6

    overlapping = [
        (s, r)
        for s in stalled
        for r in records
        if r[0] == s[0] and r[1] == s[1] + 1 and sent(s) < sent(r) < sent(s) + s[5] / 1e6
    ]
    assert overlapping
