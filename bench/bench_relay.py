"""Benchmark of the outbox relay alone (``kit.messaging.relay.OutboxRelay``): events/s and CPU per
event, PostgreSQL and NATS included, for the shape a checkout writes (several events of one
aggregate in one transaction).

Two workloads on an embedded PostgreSQL (fsync on) + NATS JetStream, each on a fresh database:

- ``backlog``: ``--aggregates`` aggregates x ``--per-aggregate`` events committed up front, then the
  relay drains them (``run_once`` until empty);
- ``trickle``: one aggregate's ``--per-aggregate`` events committed, drained, ``--trickle`` times
  (one checkout at a time: what a quiet store sees).

CPU is measured from /proc for this process (the relay; the event writes are outside the window),
the PostgreSQL tree and the NATS server. Prints progress on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import log, process_cpu_seconds, process_tree_cpu_seconds


async def _fresh_engine(server_url: str, name: str) -> Any:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from cli.devstack import database_url, drop_database, ensure_database
    from kit.config import to_async_url
    from kit.messaging import inbox_table, outbox_table

    await drop_database(server_url, name)
    await ensure_database(server_url, name)
    engine = create_async_engine(to_async_url(database_url(server_url, name)))
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


async def _write(engine: Any, service: str, aggregates: int, per_aggregate: int, offset: int) -> None:
    from google.protobuf.wrappers_pb2 import StringValue

    from kit.db import session_factory
    from kit.messaging import add_to_outbox, new_envelope

    sessions = session_factory(engine)
    for a in range(aggregates):
        # One transaction per aggregate, as a checkout commits its events.
        async with sessions() as session, session.begin():
            for i in range(per_aggregate):
                env = new_envelope(
                    StringValue(value=f"{a}:{i}"),
                    tenant="t",
                    aggregate_type="checkout",
                    aggregate_id=f"c{offset + a}",
                )
                await add_to_outbox(session, service, env)


class _Cpu:
    """CPU used since construction: this process (the relay) to the nanosecond, the servers from
    /proc (clock ticks). The /proc scans run outside the relay's own window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = self._servers()
        self.relay = time.process_time()

    def _servers(self) -> dict[str, float]:
        return {
            "postgres": process_tree_cpu_seconds(self.pids["postgres"]) or 0.0,
            "nats": process_cpu_seconds(self.pids["nats"]) or 0.0,
        }

    def used(self) -> dict[str, float]:
        relay = time.process_time() - self.relay
        now = self._servers()
        return {"relay": relay, **{k: now[k] - self.start[k] for k in now}}


async def _drain(relay: Any) -> int:
    batches = 0
    while await relay.run_once():
        batches += 1
    return batches


def _figures(events: int, wall: float, batches: int, cpu: dict[str, float]) -> dict[str, Any]:
    total = sum(cpu.values())
    return {
        "events": events,
        "batches": batches,
        "wall_s": round(wall, 3),
        "events_per_s": round(events / wall, 1),
        "cpu_ms_per_event": {k: round(1000 * v / events, 3) for k, v in cpu.items()}
        | {"all": round(1000 * total / events, 3)},
    }


async def _run(args: argparse.Namespace, stack: Any) -> dict[str, Any]:
    from kit.messaging import OutboxRelay, connect, ensure_stream

    pids = {"postgres": stack.postgres.pid, "nats": stack.nats.pid}
    nc, js = await connect(stack.nats_url, "bench-relay")
    results: dict[str, Any] = {}
    try:
        for workload in ("backlog", "trickle"):
            service = f"bench{workload}{int(time.time())}"
            await ensure_stream(js, service)
            engine = await _fresh_engine(stack.database_url, f"peony_bench_relay_{workload}")
            relay = OutboxRelay(engine, js, service, batch_size=args.batch_size, listen=False)
            try:
                await _write(engine, service, 20, args.per_aggregate, 10**9)  # warm up
                await _drain(relay)
                if workload == "backlog":
                    await _write(engine, service, args.aggregates, args.per_aggregate, 0)
                    cpu = _Cpu(pids)
                    t0 = time.perf_counter()
                    batches = await _drain(relay)
                    wall = time.perf_counter() - t0
                    events = args.aggregates * args.per_aggregate
                    used = cpu.used()
                else:
                    batches, wall, used = 0, 0.0, dict.fromkeys(("relay", "postgres", "nats"), 0.0)
                    for n in range(args.trickle):
                        await _write(engine, service, 1, args.per_aggregate, n)
                        cpu = _Cpu(pids)
                        t0 = time.perf_counter()
                        batches += await _drain(relay)
                        wall += time.perf_counter() - t0
                        used = {k: used[k] + v for k, v in cpu.used().items()}
                    events = args.trickle * args.per_aggregate
                results[workload] = _figures(events, wall, batches, used)
                log(f"{workload}: {json.dumps(results[workload])}")
            finally:
                await engine.dispose()
    finally:
        await nc.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregates", type=int, default=500)
    parser.add_argument("--per-aggregate", type=int, default=4)
    parser.add_argument("--trickle", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    from cli.devstack import DevStack, free_port

    with tempfile.TemporaryDirectory(prefix="peony-bench-relay-") as tmp:
        stack = DevStack(
            Path(tmp) / "stack", environ={}, fast=False, pg_port=free_port(), nats_port=free_port()
        )
        with stack:
            results = _run_sync(args, stack)
    print(json.dumps({"benchmark": "relay", "params": vars(args), **results}))


def _run_sync(args: argparse.Namespace, stack: Any) -> dict[str, Any]:
    return asyncio.run(_run(args, stack))


if __name__ == "__main__":
    main()
