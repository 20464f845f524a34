"""Benchmark of the projection consumers: CPU per ``MemberRegistered`` applied by the wallet's and
the booking's members-events consumers, PostgreSQL and NATS included.

The real consumers (``services.<svc>.entrypoints.consumers.members_events_consumer``, the kit's
``EventConsumer``) on a freshly migrated database of their service, fed ``MemberRegistered`` events
in the members service's own format (envelope, subject and headers as its outbox relay publishes
them), on an embedded PostgreSQL (fsync on) + NATS JetStream. Two workloads per service:

- ``backlog``: ``--events`` registrations published while the consumer is stopped, then the
  consumer started and timed until every one is applied (a consumer catching up after a pause or
  a burst: what issue 16 is about);
- ``trickle``: ``--trickle`` registrations published open-loop at ``--rate`` per second (below
  saturation: mostly one event per fetch, what a normal day looks like); the same publishing to a
  subject nobody consumes (``publish_only``) is measured first and subtracted
  (``trickle_net_cpu_ms_per_event``: the consumer's own cost).

CPU is measured from /proc for this process (the consumer; the backlog's publishing is outside
its window, the trickle's publishes inside it), the PostgreSQL process tree and the NATS
server. Telemetry is configured as a service without an OTLP endpoint configures it. Prints
progress on stderr and one JSON line on stdout.

``--batch`` / ``--concurrency`` are passed to the consumer when given (default: its own defaults),
so the same script measures an older tree for a before/after comparison (``PYTHONPATH=<tree>``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import log, process_cpu_seconds, process_tree_cpu_seconds

SERVICES = ("wallet", "booking")
TENANT = "bench-tenant"


def _registration() -> Any:
    """One MemberRegistered envelope as the members service emits it (see its handlers)."""
    from peony.members.v1 import events_pb2, member_pb2, tier_pb2

    from kit.messaging import new_envelope

    member_id = str(uuid.uuid4())
    event = events_pb2.MemberRegistered(
        member=f"members/{member_id}",
        member_number="M00000042",
        display_name="M***",
        home_store="stores/s1",
        tier_id="regular",
        tier_benefits=tier_pb2.TierBenefits(
            discount_bps=0, points_multiplier_permille=1000, booking_window_days=14
        ),
        consent=member_pb2.Consent(marketing_sms=True),
    )
    return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=member_id)


SAMPLED = {"flag": "00"}  # --sampled: "01", the request's trace is recorded (spans are built)


async def _publish(js: Any, envelope: Any, subject: str | None = None) -> None:
    """As the members relay publishes: subject, dedupe id, event type, tenant, W3C trace context
    (an unsampled request trace, as without an OTLP endpoint, unless --sampled)."""
    from kit.messaging import HEADER_EVENT_TYPE, HEADER_MSG_ID, HEADER_TENANT, short_name

    headers = {
        HEADER_MSG_ID: envelope.event_id,
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_TENANT: envelope.tenant,
        "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{SAMPLED['flag']}",
    }
    await js.publish(
        subject or f"peony.members.{short_name(envelope.event_type)}",
        envelope.SerializeToString(),
        headers=headers,
        stream="PEONY_MEMBERS",
    )


class _Cpu:
    """CPU used since construction: this process to the nanosecond, the servers from /proc."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = self._servers()
        self.own = time.process_time()

    def _servers(self) -> dict[str, float]:
        return {
            "postgres": process_tree_cpu_seconds(self.pids["postgres"]) or 0.0,
            "nats": process_cpu_seconds(self.pids["nats"]) or 0.0,
        }

    def used(self) -> dict[str, float]:
        own = time.process_time() - self.own
        now = self._servers()
        return {"consumer": own, **{k: now[k] - self.start[k] for k in now}}


async def _applied(engine: Any, durable: str) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (
            await conn.execute(text("SELECT count(*) FROM inbox WHERE consumer = :c"), {"c": durable})
        ).scalar_one()


async def _wait_applied(engine: Any, durable: str, count: int, within: float = 600.0) -> None:
    """Poll the inbox every 20 ms (a count costs PostgreSQL a little: rarely, not per event)."""
    deadline = time.monotonic() + within
    while await _applied(engine, durable) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{durable}: {count} events not applied within {within}s")
        await asyncio.sleep(0.02)


def _figures(events: int, wall: float, cpu: dict[str, float]) -> dict[str, Any]:
    total = sum(cpu.values())
    return {
        "events": events,
        "wall_s": round(wall, 3),
        "events_per_s": round(events / wall, 1),
        "cpu_ms_per_event": {k: round(1000 * v / events, 3) for k, v in cpu.items()}
        | {"all": round(1000 * total / events, 3)},
    }


async def _run_service(args: argparse.Namespace, stack: Any, js: Any, service: str) -> dict[str, Any]:
    import importlib

    from sqlalchemy.ext.asyncio import create_async_engine

    from cli.devstack import database_url, drop_database, ensure_database
    from kit.config import to_async_url
    from kit.migrations import upgrade

    consumers = importlib.import_module(f"services.{service}.entrypoints.consumers")
    name = f"peony_bench_consumers_{service}"
    await drop_database(stack.database_url, name)
    await ensure_database(stack.database_url, name)
    url = to_async_url(database_url(stack.database_url, name))
    await upgrade(service, url)
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    options: dict[str, Any] = {"fetch_timeout": 1.0}
    if args.batch:
        options["batch"] = args.batch
    if args.concurrency:
        options["concurrency"] = args.concurrency
    pids = {"postgres": stack.postgres.pid, "nats": stack.nats.pid}
    durable = consumers.MEMBERS_DURABLE
    results: dict[str, Any] = {}
    applied = 0
    try:
        # Warm up (connections, prepared statements, imports), then the backlog.
        consumer = consumers.members_events_consumer(engine, js, **options)
        await consumer.start()
        for _ in range(50):
            await _publish(js, _registration())
        applied += 50
        await _wait_applied(engine, durable, applied)
        await consumer.stop()

        for _ in range(args.events):
            await _publish(js, _registration())
        consumer = consumers.members_events_consumer(engine, js, **options)
        cpu = _Cpu(pids)
        t0 = time.perf_counter()
        await consumer.start()
        applied += args.events
        await _wait_applied(engine, durable, applied)
        wall = time.perf_counter() - t0
        results["backlog"] = _figures(args.events, wall, cpu.used())
        log(f"{service} backlog: {json.dumps(results['backlog'])}")

        # Open loop at --rate events/s (no polling per event: it would cost more than the event).
        # First the same publishing to a subject nobody consumes: what publishing alone costs.
        for phase, subject in (("publish_only", "peony.members.BenchUnconsumed"), ("trickle", None)):
            cpu = _Cpu(pids)
            t0 = time.perf_counter()
            for i in range(args.trickle):
                await asyncio.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
                await _publish(js, _registration(), subject)
            if subject is None:
                applied += args.trickle
                await _wait_applied(engine, durable, applied)
            wall = time.perf_counter() - t0
            results[phase] = _figures(args.trickle, wall, cpu.used())
            log(f"{service} {phase}: {json.dumps(results[phase])}")
        await consumer.stop()
        # The consumer's own share of the trickle: minus what publishing alone cost.
        results["trickle_net_cpu_ms_per_event"] = {
            k: round(v - results["publish_only"]["cpu_ms_per_event"][k], 3)
            for k, v in results["trickle"]["cpu_ms_per_event"].items()
        }
    finally:
        await engine.dispose()
    return results


async def _run(args: argparse.Namespace, stack: Any) -> dict[str, Any]:
    from kit.messaging import connect, ensure_stream
    from kit.telemetry import configure_telemetry

    configure_telemetry("bench-consumers", "bench")  # as a service without an OTLP endpoint
    nc, js = await connect(stack.nats_url, "bench-consumers")
    try:
        await ensure_stream(js, "members")
        results = {}
        for service in args.services:
            # Each service's consumer starts on an empty stream (DeliverPolicy.ALL would replay
            # the previous service's events into this one's measurements).
            await js.purge_stream("PEONY_MEMBERS")
            results[service] = await _run_service(args, stack, js, service)
        return results
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="backlog of registrations")
    parser.add_argument("--trickle", type=int, default=500, help="registrations at --rate")
    parser.add_argument("--rate", type=float, default=50.0, help="trickle events per second")
    parser.add_argument("--batch", type=int, default=0, help="consumer fetch batch (0: its default)")
    parser.add_argument("--concurrency", type=int, default=0, help="consumer concurrency (0: its default)")
    parser.add_argument("--services", nargs="+", choices=SERVICES, default=list(SERVICES))
    parser.add_argument(
        "--sampled", action="store_true", help="sampled traceparent: the consumer records every span"
    )
    args = parser.parse_args()
    if args.sampled:
        SAMPLED["flag"] = "01"

    from cli.devstack import DevStack, free_port
    from kit.logging import configure_logging

    configure_logging("bench-consumers", "WARNING", "json")  # as `make up` runs the services
    with tempfile.TemporaryDirectory(prefix="peony-bench-consumers-") as tmp:
        stack = DevStack(
            Path(tmp) / "stack", environ={}, fast=False, pg_port=free_port(), nats_port=free_port()
        )
        with stack:
            results = asyncio.run(_run(args, stack))
    print(json.dumps({"benchmark": "consumers", "params": vars(args), **results}))


if __name__ == "__main__":
    main()
