"""Benchmark of the members engagement-facts consumer: CPU per wallet ``BalanceChanged`` applied to
``member_activity`` and the member's row, PostgreSQL and NATS included.

The real consumer (``services.members.entrypoints.consumers.engagement_facts_consumer``, the kit's
``EventConsumer``) on a freshly migrated members database with ``--members`` members (rows
inserted straight into ``members``), on an embedded PostgreSQL (fsync on) + NATS JetStream, fed
``BalanceChanged`` events in the wallet's own format (envelope, subject, headers as its relay
publishes them; aggregate = the member, as the wallet emits them). Two workloads, as
``bench_consumers``:

- ``backlog``: ``--events`` events published while the consumer is stopped, then the consumer
  started and timed until every one is in the inbox;
- ``trickle``: ``--trickle`` events published open-loop at ``--rate`` per second; the same
  publishing to a subject nobody consumes (``publish_only``) is measured first and subtracted
  (``trickle_net_cpu_ms_per_event``).

CPU from /proc: this process (the consumer), the PostgreSQL process tree, the NATS server. The
same script measures an older tree (``PYTHONPATH=<tree>:<tree>/gen``, the script copied into its
``bench/``) for a before/after comparison. Progress on stderr, one JSON line on stdout.

    python bench/bench_engagement.py --events 2000 --trickle 300 --rate 50 --members 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import log
from bench.bench_consumers import _Cpu, _figures, _wait_applied

TENANT = "bench-engagement"
STREAM = "PEONY_WALLET"


def _balance_changed(member_ids: list[str]) -> Any:
    from peony.wallet.v1 import events_pb2

    from kit.messaging import new_envelope

    member_id = random.choice(member_ids)
    principal = random.randint(0, 500_000)
    event = events_pb2.BalanceChanged(
        member=f"members/{member_id}",
        principal_minor=principal,
        bonus_minor=principal // 10,
        delta_minor=-random.randint(1, 10_000),
        currency_code="CNY",
    )
    return new_envelope(event, tenant=TENANT, aggregate_type="wallet", aggregate_id=member_id)


async def _publish(js: Any, envelope: Any, subject: str | None = None) -> None:
    """As the wallet relay publishes: subject, dedupe id, event type, tenant, an unsampled trace."""
    from kit.messaging import HEADER_EVENT_TYPE, HEADER_MSG_ID, HEADER_TENANT, short_name

    headers = {
        HEADER_MSG_ID: envelope.event_id,
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_TENANT: envelope.tenant,
        "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
    }
    await js.publish(
        subject or f"peony.wallet.{short_name(envelope.event_type)}",
        envelope.SerializeToString(),
        headers=headers,
        stream=STREAM,
    )


async def _insert_members(engine: Any, count: int) -> list[str]:
    from sqlalchemy import text

    async with engine.begin() as conn:
        rows = await conn.execute(
            text(
                "INSERT INTO members (tenant_id, member_id, member_number, display_name, gender,"
                " home_store_id, registration_channel, consent, referral_code, tier_id)"
                " SELECT :t, gen_random_uuid(), 'M' || lpad(i::text, 9, '0'), '', 'female', 's1',"
                " 'store', '{}'::jsonb, 'R' || i, 'regular' FROM generate_series(1, :n) AS i"
                " RETURNING member_id"
            ),
            {"t": TENANT, "n": count},
        )
        return [str(r[0]) for r in rows]


async def _run(args: argparse.Namespace, stack: Any) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from cli.devstack import database_url, drop_database, ensure_database
    from kit.config import to_async_url
    from kit.messaging import connect, ensure_stream
    from kit.migrations import upgrade
    from kit.telemetry import configure_telemetry
    from services.members.entrypoints import consumers

    configure_telemetry("bench-engagement", "bench")  # as a service without an OTLP endpoint
    name = "peony_bench_engagement"
    await drop_database(stack.database_url, name)
    await ensure_database(stack.database_url, name)
    url = to_async_url(database_url(stack.database_url, name))
    await upgrade("members", url)
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    nc, js = await connect(stack.nats_url, "bench-engagement")
    await ensure_stream(js, "wallet")
    await ensure_stream(js, "members")  # the consumer's dead-letter stream
    pids = {"postgres": stack.postgres.pid, "nats": stack.nats.pid}
    durable = consumers.ENGAGEMENT_DURABLE
    options: dict[str, Any] = {"fetch_timeout": 1.0}
    results: dict[str, Any] = {}
    applied = 0
    try:
        member_ids = await _insert_members(engine, args.members)
        # Warm up (connections, prepared statements, imports), then the backlog.
        consumer = consumers.engagement_facts_consumer(engine, js, **options)
        await consumer.start()
        for _ in range(50):
            await _publish(js, _balance_changed(member_ids))
        applied += 50
        await _wait_applied(engine, durable, applied)
        await consumer.stop()

        for _ in range(args.events):
            await _publish(js, _balance_changed(member_ids))
        consumer = consumers.engagement_facts_consumer(engine, js, **options)
        cpu = _Cpu(pids)
        t0 = time.perf_counter()
        await consumer.start()
        applied += args.events
        await _wait_applied(engine, durable, applied)
        results["backlog"] = _figures(args.events, time.perf_counter() - t0, cpu.used())
        log(f"backlog: {json.dumps(results['backlog'])}")

        for phase, subject in (("publish_only", "peony.wallet.BenchUnconsumed"), ("trickle", None)):
            cpu = _Cpu(pids)
            t0 = time.perf_counter()
            for i in range(args.trickle):
                await asyncio.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
                await _publish(js, _balance_changed(member_ids), subject)
            if subject is None:
                applied += args.trickle
                await _wait_applied(engine, durable, applied)
            results[phase] = _figures(args.trickle, time.perf_counter() - t0, cpu.used())
            log(f"{phase}: {json.dumps(results[phase])}")
        await consumer.stop()
        results["trickle_net_cpu_ms_per_event"] = {
            k: round(v - results["publish_only"]["cpu_ms_per_event"][k], 3)
            for k, v in results["trickle"]["cpu_ms_per_event"].items()
        }
    finally:
        await nc.close()
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="backlog of BalanceChanged events")
    parser.add_argument("--trickle", type=int, default=300, help="events at --rate")
    parser.add_argument("--rate", type=float, default=50.0, help="trickle events per second")
    parser.add_argument("--members", type=int, default=50, help="members the events are about")
    args = parser.parse_args()

    from cli.devstack import DevStack, free_port
    from kit.logging import configure_logging

    configure_logging("bench-engagement", "WARNING", "json")  # as `make up` runs the services
    with tempfile.TemporaryDirectory(prefix="peony-bench-engagement-") as tmp:
        stack = DevStack(
            Path(tmp) / "stack", environ={}, fast=False, pg_port=free_port(), nats_port=free_port()
        )
        with stack:
            results = asyncio.run(_run(args, stack))
    print(json.dumps({"benchmark": "engagement", "params": vars(args), **results}))


if __name__ == "__main__":
    main()
