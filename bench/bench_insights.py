"""Insights at chain scale: dashboard query latency over years of facts, ingest rate from JetStream,
RSS of the service (issue 14).

1. **Generate straight into the store** (not through the API): chDB in a temp dir, the service's
   own DDL, then ``INSERT ... SELECT FROM numbers()`` inside ClickHouse: ``--stores`` stores,
   ``--members`` registrations and ``--lines`` checkout lines (about 1.5 per checkout; 80 % by
   members) over ``--years`` years, plus top-ups, points and bookings in proportion — the same
   fact rows the consumers write (services/insights/domain/facts.py).
2. Start the real service (``peony serve insights`` on that directory) and run **the dashboard's
   queries** (the 11 ``QueryMetric`` calls /insights/ makes: the headline totals, four monthly
   trends over the last 12 months, liability, the retention cohorts) through gRPC, ``--reps``
   rounds, one call at a time: p50 / p99 per query (goal: each <= 1 s).
3. **Ingest**: ``--events`` events of cli/history.py published to the members / wallet / booking
   streams while the service runs; events/s until its durable consumers have acked them all, and
   the service's CPU ms per event (its process CPU over the ingest, less its idle CPU rate).
4. **RSS** of the service (VmRSS now, VmHWM peak) after the queries and after the ingest.

The full issue scale is ``--stores 500 --members 1000000 --lines 30000000 --years 3``; on a shared
2-core machine run it scaled down (the default is 1/50 of that). Infrastructure: PEONY_NATS_URL
when set, else an embedded NATS (with the dev PostgreSQL it comes with, unused).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Children,
    child_env,
    log,
    machine_info,
    percentile,
    process_cpu_seconds,
    run_benchmark,
    wait_for_health,
)

TENANT = "bench"
DATABASE = "peony_insights"
STAFF_PER_STORE = 8
ROOMS_PER_STORE = 3
WEEK_PATTERN = json.dumps(
    {"h": [[d, "09:00", "18:00"] for d in range(1, 7)], "b": [[d, "12:00", "13:00"] for d in range(1, 7)]},
    separators=(",", ":"),
)
PART_TIME_PATTERN = json.dumps(
    {"h": [[d, "13:00", "19:00"] for d in range(1, 6)], "b": []}, separators=(",", ":")
)


def _rss_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return {"rss_mib": round(out.get("VmRSS", 0) / 1024), "peak_rss_mib": round(out.get("VmHWM", 0) / 1024)}


async def generate(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Facts straight into chDB with ClickHouse's own generators; returns counts and seconds."""
    from services.insights.adapters.schema import backfill_rollups, migrate
    from services.insights.adapters.warehouse import ChdbWarehouse

    wh = await ChdbWarehouse(path, DATABASE).open()
    await migrate(wh)
    db = DATABASE
    days = int(args.years * 365)
    # t0: `days` days ago, midnight UTC; h(n, salt): a stable pseudo-random UInt64
    t0 = f"toDateTime64(toDate(now()) - {days}, 3, 'UTC')"
    stores, members, lines = args.stores, args.members, args.lines
    checkouts = max(1, lines * 2 // 3)

    def h(expr: str, salt: int) -> str:
        return f"cityHash64({expr}, {salt})"

    def store_of(expr: str, salt: int) -> str:
        return f"concat('stores/b', toString({h(expr, salt)} % {stores}))"

    def when(expr: str, salt: int) -> str:
        return f"{t0} + toIntervalSecond({h(expr, salt)} % {days * 86400})"

    cols = (
        "tenant, kind, store, occurred_at, event_id, member, subject, amount_minor, amount2_minor, points,"
        " quantity, flag, label, ref_time, seq"
    )
    zones = "['Asia/Shanghai','Asia/Shanghai','Asia/Shanghai','Asia/Urumqi','Asia/Hong_Kong']"
    statements = {
        "stores": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'StoreCreated',"
        " concat('stores/b', toString(number)),"
        f" {t0} - toIntervalDay(1), generateUUIDv4(), '', concat('Store ', toString(number)), 0, 0, 0, 0, 0,"
        f" {zones}[number % 5 + 1], toDateTime64(0, 3, 'UTC'), number FROM numbers({stores})",
        "members": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'MemberRegistered',"
        f" concat('stores/b', toString({h('number', 1)} % {stores})), {when('number', 2)}, generateUUIDv4(),"
        f" concat('members/m', toString(number)), if({h('number', 3)} % 10 = 0, concat('members/m',"
        f" toString({h('number', 4)} % {members})), ''), 0, 0, 0, 0, 0,"
        f" ['regular','regular','regular','silver','gold'][{h('number', 5)} % 5 + 1],"
        f" toDateTime64(0, 3, 'UTC'), number FROM numbers({members})",
        "checkouts": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'CheckoutCompleted',"
        f" concat('stores/b', toString({h('number', 11)} % {stores})), {when('number', 12)},"
        " generateUUIDv4(),"
        f" if({h('number', 13)} % 5 = 0, '', concat('members/m', toString({h('number', 14)} % {members}))),"
        f" concat('checkouts/c', toString(number)), 5000 + {h('number', 15)} % 80000, 0,"
        f" intDiv(5000 + {h('number', 15)} % 80000, 100), 1, 0, '', toDateTime64(0, 3, 'UTC'), number"
        f" FROM numbers({checkouts})",
        "lines": f"INSERT INTO {db}.checkout_lines (tenant, store, occurred_at, event_id, line_no, checkout,"
        " member, item, category, staff, quantity, net_minor) SELECT"
        f" '{TENANT}', concat('stores/b', toString({h('c', 11)} % {stores})), {when('c', 12)},"
        f" generateUUIDv4(), toUInt16(number % 3), concat('checkouts/c', toString(c)), '',"
        f" concat('services/s', toString({h('number', 21)} % 40)),"
        f" ['facial','massage','nails','hair','spa','retail'][{h('number', 22)} % 6 + 1],"
        f" concat('staff/', toString({h('number', 23)} % ({stores} * 8))), 1,"
        f" 3000 + {h('number', 24)} % 50000"
        f" FROM (SELECT number, intDiv(number * 2, 3) AS c FROM numbers({lines}))",
        "top_ups": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', kind,"
        f" concat('stores/b', toString({h('number', 31)} % {stores})), {when('number', 32)},"
        " generateUUIDv4(),"
        f" concat('members/m', toString({h('number', 33)} % {members})), '',"
        f" if(kind = 'TopUpCompleted', 100000, 110000), if(kind = 'TopUpCompleted', 10000, 0), 0, 0, 0, '',"
        f" toDateTime64(0, 3, 'UTC'), number FROM numbers({max(1, members // 5)})"
        " ARRAY JOIN ['TopUpCompleted', 'BalanceChanged'] AS kind",
        "points": f"INSERT INTO {db}.facts ({cols}) SELECT tenant, 'PointsEarned', '', occurred_at,"
        " generateUUIDv4(), member, subject, 0, 0, points, points, 0, '', ref_time, seq"
        f" FROM {db}.facts WHERE kind = 'CheckoutCompleted' AND member != ''",
        "bookings": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', kind,"
        f" concat('stores/b', toString({h('number', 41)} % {stores})), {when('number', 42)},"
        " generateUUIDv4(),"
        f" concat('members/m', toString({h('number', 43)} % {members})),"
        f" concat('appointments/a', toString(number)), 0, 0, 0, 60, 0,"
        # the booking's staff member and room with the customer's time (utilisation)
        f" if(kind = 'AppointmentBooked', concat('[[\"', {store_of('number', 41)}, '/staff/',"
        f' toString({h("number", 45)} % {STAFF_PER_STORE}), \'","staff",\', toString(toUnixTimestamp64Milli('
        f"{when('number', 42)})), ',60],[\"', {store_of('number', 41)}, '/rooms/r',"
        f' toString({h("number", 45)} % {ROOMS_PER_STORE}), \'","room",\', toString(toUnixTimestamp64Milli('
        f"{when('number', 42)})), ',60]]'), ''), {when('number', 42)}, number"
        f" FROM numbers({max(1, checkouts // 2)})"
        f" ARRAY JOIN ['AppointmentBooked', if({h('number', 44)} % 10 = 0, 'AppointmentNoShow',"
        " 'AppointmentCompleted')] AS kind",
        # booking's schedule events: every staff member's weekly pattern (Mon-Sat 09-18, lunch
        # break) a day before the history, a change of hours for one in four halfway, 4 exceptions
        # each over the years, and the rooms (capacity 1..3)
        "staff": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'StaffScheduleChanged',"
        f" concat('stores/b', toString(intDiv(number, {STAFF_PER_STORE}))), {t0} - toIntervalDay(1),"
        f" generateUUIDv4(), '', concat('stores/b', toString(intDiv(number, {STAFF_PER_STORE})), '/staff/',"
        f" toString(number % {STAFF_PER_STORE})), 0, 0, 0, 0, 1, '{WEEK_PATTERN}', toDateTime64(0, 3, 'UTC'),"
        f" number FROM numbers({stores * STAFF_PER_STORE})",
        "staff_changes": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'StaffScheduleChanged',"
        f" concat('stores/b', toString(intDiv(number, {STAFF_PER_STORE}))),"
        f" {t0} + toIntervalDay({days // 2}), generateUUIDv4(), '',"
        f" concat('stores/b', toString(intDiv(number, {STAFF_PER_STORE})), '/staff/',"
        f" toString(number % {STAFF_PER_STORE})), 0, 0, 0, 0, 1, '{PART_TIME_PATTERN}',"
        f" toDateTime64(0, 3, 'UTC'), number FROM numbers({stores * STAFF_PER_STORE}) WHERE number % 4 = 0",
        "exceptions": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'ScheduleExceptionChanged',"
        f" concat('stores/b', toString(intDiv(s, {STAFF_PER_STORE}))), {t0}, generateUUIDv4(), '',"
        f" concat('stores/b', toString(intDiv(s, {STAFF_PER_STORE})), '/staff/',"
        f" toString(s % {STAFF_PER_STORE})),"
        ' 0, 0, 0, 0, 0, concat(\'{"id":"x\', toString(number), \'","k":"\','
        " ['leave', 'extra_shift', 'sick_leave', 'training'][number % 4 + 1], '\",\"d\":[\"', toString(d),"
        ' \'","\', toString(d + number % 3), \'"],"t":\', [\'[]\', \'["19:00","21:00"]\','
        " '[\"14:00\",\"16:30\"]', '[]'][number % 4 + 1], '}'), toDateTime64(0, 3, 'UTC'), number"
        f" FROM (SELECT number, intDiv(number, 4) AS s, toDate({when('number', 51)}) AS d"
        f" FROM numbers({stores * STAFF_PER_STORE * 4}))",
        "rooms": f"INSERT INTO {db}.facts ({cols}) SELECT '{TENANT}', 'RoomChanged',"
        f" concat('stores/b', toString(intDiv(number, {ROOMS_PER_STORE}))), {t0} - toIntervalDay(1),"
        f" generateUUIDv4(), '', concat('stores/b', toString(intDiv(number, {ROOMS_PER_STORE})), '/rooms/r',"
        f" toString(number % {ROOMS_PER_STORE})), 0, 0, 0, number % {ROOMS_PER_STORE} + 1, 1, 'bed',"
        f" toDateTime64(0, 3, 'UTC'), number FROM numbers({stores * ROOMS_PER_STORE})",
    }
    timings = {}
    for name, sql in statements.items():
        started = time.perf_counter()
        await wh.command(sql)
        timings[name] = round(time.perf_counter() - started, 1)
        log(f"generated {name} in {timings[name]} s")
    started = time.perf_counter()
    await wh.command(f"OPTIMIZE TABLE {db}.facts FINAL")
    await wh.command(f"OPTIMIZE TABLE {db}.checkout_lines FINAL")
    timings["optimize"] = round(time.perf_counter() - started, 1)
    # The consumers maintain the rollups as they write facts; generated facts bypass them.
    started = time.perf_counter()
    await backfill_rollups(wh)
    await wh.command(f"OPTIMIZE TABLE {db}.member_rollup FINAL")
    await wh.command(f"OPTIMIZE TABLE {db}.appointments FINAL")
    await wh.command(f"OPTIMIZE TABLE {db}.appointment_months FINAL")
    timings["rollups"] = round(time.perf_counter() - started, 1)
    counts = {
        "facts": int((await wh.query(f"SELECT count() FROM {db}.facts"))[0][0]),
        "checkout_lines": int((await wh.query(f"SELECT count() FROM {db}.checkout_lines"))[0][0]),
    }
    size = await wh.query(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active", {"db": db}
    )
    await wh.close()
    return {"seconds": timings, "rows": counts, "bytes_on_disk": int(size[0][0] or 0)}


DASHBOARD = (
    ("new_members", "GRANULARITY_TOTAL"),
    ("member_revenue", "GRANULARITY_TOTAL"),
    ("top_ups", "GRANULARITY_TOTAL"),
    ("points", "GRANULARITY_TOTAL"),
    ("bookings", "GRANULARITY_TOTAL"),
    ("liability", "GRANULARITY_TOTAL"),
    ("new_members", "GRANULARITY_MONTH"),
    ("member_revenue", "GRANULARITY_MONTH"),
    ("bookings", "GRANULARITY_MONTH"),
    ("points", "GRANULARITY_MONTH"),
    ("retention", "GRANULARITY_MONTH"),
    ("utilisation", "GRANULARITY_TOTAL"),
    ("resource_utilisation", "GRANULARITY_TOTAL"),
)


async def dashboard_queries(addr: str, reps: int, clients: int = 1) -> dict[str, Any]:
    """The dashboard's calls through gRPC: ``clients`` concurrent clients (each its own channel),
    each running ``reps`` rounds of every call (client i starts at the i-th call, so the clients
    ask different things at once); one warm-up round first, not counted."""
    import datetime as dt

    import grpc
    from peony.insights.v1 import insights_service_pb2 as pb
    from peony.insights.v1 import insights_service_pb2_grpc as pb_grpc

    from kit.auth import mint_dev_token

    token = mint_dev_token(tenant=TENANT, subject="user:bench", roles=["hq_admin"])
    metadata = (("authorization", f"Bearer {token}"),)
    today = dt.date.today()
    start = (today.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    latencies: dict[str, list[float]] = {f"{m}/{g.split('_')[1].lower()}": [] for m, g in DASHBOARD}
    errors = 0

    async def call(stub, metric: str, granularity: str, counted: bool) -> None:
        nonlocal errors
        request = pb.QueryMetricRequest(
            metric=metric,
            granularity=pb.Granularity.Value(granularity),
            start_date=start.isoformat(),
            end_date=today.isoformat(),
            page_size=500,
        )
        started = time.perf_counter()
        try:
            await stub.QueryMetric(request, metadata=metadata, timeout=300)
        except grpc.aio.AioRpcError as exc:
            errors += 1
            log(f"{metric}: {exc.code().name} {exc.details()}")
            return
        if counted:
            latencies[f"{metric}/{granularity.split('_')[1].lower()}"].append(
                (time.perf_counter() - started) * 1000
            )

    async def client(i: int) -> None:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = pb_grpc.InsightsServiceStub(channel)
            calls = DASHBOARD[i % len(DASHBOARD) :] + DASHBOARD[: i % len(DASHBOARD)]
            for _ in range(reps):
                for metric, granularity in calls:
                    await call(stub, metric, granularity, True)

    async with grpc.aio.insecure_channel(addr) as channel:  # warm-up: caches, first-query costs
        stub = pb_grpc.InsightsServiceStub(channel)
        for metric, granularity in DASHBOARD:
            await call(stub, metric, granularity, False)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    out = {}
    for key, values in latencies.items():
        values.sort()
        if values:
            out[key] = {
                "p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1),
            }
    calls = sum(len(v) for v in latencies.values())
    return {
        "clients": clients,
        "queries": out,
        "errors": errors,
        "calls_per_s": round(calls / elapsed, 2),
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


async def ingest(nats_url: str, pid: int, events: int) -> dict[str, Any]:
    from cli.history import history
    from kit.messaging import connect, subject_for
    from kit.messaging.outbox import HEADER_MSG_ID
    from services.insights.entrypoints.consumers import durable_name

    members = max(10, events // 6)  # about 8 events per member: enough, then cut to `events`
    batch = [p for p in history("bench-ingest", stores=10, members=members, days=365, seed=3)][:events]
    nc, js = await connect(nats_url, name="bench-insights")
    try:
        idle_cpu0, idle_t0 = process_cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(3)
        idle_rate = ((process_cpu_seconds(pid) or 0) - (idle_cpu0 or 0)) / (time.perf_counter() - idle_t0)
        cpu0, t0 = process_cpu_seconds(pid) or 0.0, time.perf_counter()
        pending = []
        for p in batch:
            pending.append(
                js.publish(
                    subject_for(p.service, p.envelope.event_type),
                    p.envelope.SerializeToString(),
                    headers={HEADER_MSG_ID: p.envelope.event_id},
                    stream=f"PEONY_{p.service.upper()}",
                )
            )
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        published_s = time.perf_counter() - t0
        while True:
            left = 0
            for svc in ("members", "wallet", "booking"):
                info = await js.consumer_info(f"PEONY_{svc.upper()}", durable_name(svc))
                left += (info.num_pending or 0) + (info.num_ack_pending or 0)
            if not left:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        cpu = (process_cpu_seconds(pid) or 0.0) - cpu0 - idle_rate * elapsed
    finally:
        await nc.close()
    return {
        "events": len(batch),
        "published_in_s": round(published_s, 2),
        "consumed_in_s": round(elapsed, 2),
        "events_per_s": round(len(batch) / elapsed),
        "service_cpu_ms_per_event": round(1000 * cpu / len(batch), 3),
        "service_idle_cpu_pct": round(100 * idle_rate, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.devstack import DevStack, free_port

    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-insights-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=True, pg_port=free_port(), nats_port=free_port())
    try:
        stack.start()
        if args.reuse:
            # a dataset a --keep run left: generating the full scale takes ~10 min and 4.8 GB
            data = Path(args.reuse)
            gen: dict[str, Any] = {"reused": str(data)}
            log(f"reusing {data}")
        else:
            data = tmp / "chdb"
            log(
                f"generating {args.members} members, {args.lines} lines, {args.stores} stores,"
                f" {args.years} years"
            )
            gen = asyncio.run(generate(data, args))
        port = free_port()
        env = child_env(
            {
                "PEONY_NATS_URL": stack.nats_url,
                "PEONY_INSIGHTS_GRPC_PORT": str(port),
                "PEONY_INSIGHTS_DATA_DIR": str(data),
                "PEONY_INSIGHTS_DATABASE": DATABASE,
                "PEONY_LOG_LEVEL": "WARNING",
                "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
            }
        )
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        service = children.spawn("insights", [sys.executable, "-m", "cli.main", "serve", "insights"], env)
        asyncio.run(wait_for_health(f"127.0.0.1:{port}", service))
        log("service up; dashboard queries")
        queries = asyncio.run(dashboard_queries(f"127.0.0.1:{port}", args.reps))
        concurrent = None
        if args.clients > 1:
            log(f"dashboard queries, {args.clients} concurrent clients")
            concurrent = asyncio.run(dashboard_queries(f"127.0.0.1:{port}", args.reps, args.clients))
        rss_after_queries = _rss_kib(service.pid)
        log(f"ingesting {args.events} events")
        ingested = asyncio.run(ingest(stack.nats_url, service.pid, args.events))
        rss_after_ingest = _rss_kib(service.pid)
        worst = max((q["p99_ms"] for q in queries["queries"].values()), default=0.0)
        worst_concurrent = max(
            (q["p99_ms"] for q in (concurrent or {}).get("queries", {}).values()), default=0.0
        )
        return {
            "benchmark": "insights",
            "machine": machine_info(),
            "scale": {
                "stores": args.stores,
                "members": args.members,
                "lines": args.lines,
                "years": args.years,
            },
            "generation": gen,
            "dashboard": queries["queries"],
            "dashboard_load_average_1m": queries["load_average_1m"],
            "dashboard_concurrent": concurrent,
            "dashboard_worst_p99_ms": worst,
            "dashboard_goal_met": worst <= 1000,
            "dashboard_concurrent_worst_p99_ms": worst_concurrent,
            "ingest": ingested,
            "rss_after_queries": rss_after_queries,
            "rss_after_ingest": rss_after_ingest,
            "errors_total": queries["errors"] + (concurrent["errors"] if concurrent else 0),
        }
    finally:
        children.stop_all()
        stack.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stores", type=int, default=500)
    p.add_argument("--members", type=int, default=20_000, help="issue scale: 1000000")
    p.add_argument("--lines", type=int, default=600_000, help="checkout lines; issue scale: 30000000")
    p.add_argument("--years", type=float, default=3.0)
    p.add_argument("--reps", type=int, default=10, help="measured rounds of the dashboard's queries")
    p.add_argument(
        "--clients",
        type=int,
        default=4,
        help="concurrent gRPC clients of the second dashboard pass, each --reps rounds (1: none)",
    )
    p.add_argument("--events", type=int, default=20_000, help="events published for the ingest figure")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (chDB data, logs)")
    p.add_argument(
        "--reuse",
        default="",
        help="serve the chDB dir a --keep run left (<kept dir>/chdb) instead of generating; the scale"
        " flags must match it (they only label the JSON); the service migrates it to its schema",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
