"""Booking service: availability search latency and booking throughput, against pgbench
(tpcb-like) on the same PostgreSQL.

    .venv/bin/python bench/bench_booking.py [--duration 10] [--warmup 2] [--clients 32] [--procs 2]
    .venv/bin/python -m bench.bench_booking ...

Progress goes to stderr; stdout gets exactly one JSON line with every figure (see bench/README.md).

Steps:
1. PostgreSQL + NATS: ``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` when set, else embedded servers
   (``cli.devstack.DevStack``, fsync on) in a temp dir. A fresh database migrated with
   ``kit.migrations.upgrade("booking", ...)``; the store's time zone (Asia/Shanghai) inserted into
   ``store_zones`` and every member the benchmark books for into ``member_windows``, as the
   members service's StoreCreated and MemberRegistered events would.
2. The real booking service as a separate process (``python -m cli.main serve booking``); through
   the API: two services (a 60-minute facial with 5-minute buffers that needs a facial room, a
   30-minute massage that needs none), 40 staff working 09:00-23:00 every day, 20 facial rooms,
   then **400 appointments on the measured day** (tomorrow, store-local): every staff member
   booked ten times back to back (75-minute pitch from 09:00), facials and massages alternating so
   that the 20 rooms are all taken at every facial start.
3. Availability: ``--queries`` sequential QueryAvailability calls (one client: latency, not
   throughput) for the measured day, for one facial and for facial + massage back to back;
   p50/p99 of each.
4. Baseline: ``pgbench`` (builtin tpcb-like, ``-M prepared``, ``--clients`` connections) on a
   separate database of the SAME server, dropped afterwards.
5. Booking throughput: ``--clients`` concurrent BookAppointment calls from ``--procs`` load
   processes, each on a distinct free 30-minute massage slot (staff x day x start, the six days
   after the measured one, shuffled), a fresh member and ``request_id`` per call: the figure is
   the cost of a successful booking (reservation rows under the exclusion constraint, the
   member's rule checks under its row lock, reminders, the outbox event, the idempotency record).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    Children,
    busy_cores,
    child_env,
    log,
    machine_info,
    percentile,
    pg_settings,
    plain_pg_url,
    ratio,
    run_benchmark,
    run_load,
    run_pgbench,
    show_figures,
    wait_for_health,
)

TENANT = "bench"
STORE_ID = "bench-store"
STORE = f"stores/{STORE_ID}"
TIME_ZONE = "Asia/Shanghai"
CALL_TIMEOUT_S = 30.0
BOOKING_SERVICE = "peony.booking.v1.BookingService"
BOOK = f"/{BOOKING_SERVICE}/BookAppointment"

STAFF_COUNT, ROOM_COUNT = 40, 20
OPEN, CLOSE = "09:00", "23:00"
FACIAL, MASSAGE = "bench-facial", "bench-massage"
# The seeded day: every staff member ten appointments, 75 minutes apart from 09:00.
SEED_PER_STAFF, SEED_PITCH_MIN = 10, 75
MASSAGE_MINUTES = 30
THROUGHPUT_DAYS = 6  # the days after the seeded one (inside the default 7-day booking window)


# --------------------------------------------------------------------------------------------
# workload (runs inside the load-generator processes, see bench._common.run_load)
# --------------------------------------------------------------------------------------------


async def book_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    """Each call books the next free slot of this worker's share: staff, start (epoch seconds)."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from peony.booking.v1 import appointments_pb2
    from peony.booking.v1 import booking_service_pb2 as pb

    method = channel.unary_unary(BOOK)
    metadata = (("authorization", f"Bearer {spec['token']}"),)
    slots = iter(spec["slots"][worker_index :: spec["procs"]])

    async def call(client_index: int) -> Any:
        staff, start, member = next(slots)  # StopIteration = more calls than slots
        request = pb.BookAppointmentRequest(
            member=f"members/{member}",
            store=spec["store"],
            services=[f"services/{MASSAGE}"],
            start_time=Timestamp(seconds=start),
            preferred_staff=staff,
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            request_id=str(uuid.uuid4()),
        )
        return await method(request.SerializeToString(), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


# --------------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------------


def _staff_name(i: int) -> str:
    return f"{STORE}/staff/s{i:02d}"


def _instant(day: date, minutes_from_midnight: int) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(TIME_ZONE))
    return (local + timedelta(minutes=minutes_from_midnight)).astimezone(UTC)


def _member(what: str) -> str:
    """A member id of the benchmark, the same in every run (`what` names its booking)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"peony-bench-booking/{what}"))


async def _insert_projections(db_url: str, member_ids: list[str]) -> None:
    """The store's zone and the members, as the members service's StoreCreated and
    MemberRegistered events would project them: booking refuses a member it does not know (and
    the benchmark runs no members service to read through to)."""
    import asyncpg

    conn = await asyncpg.connect(plain_pg_url(db_url), timeout=10)
    try:
        await conn.execute(
            "INSERT INTO store_zones (tenant_id, store_id, time_zone) VALUES ($1, $2, $3)",
            TENANT,
            STORE_ID,
            TIME_ZONE,
        )
        await conn.execute(
            "INSERT INTO member_windows (tenant_id, member_id, registered_time, update_time)"
            " SELECT $1, unnest($2::text[]), now(), now()",
            TENANT,
            member_ids,
        )
    finally:
        await conn.close()


async def _seed(addr: str, token: str, day: date) -> int:
    """The menu, 40 staff, 20 rooms and 400 appointments on `day`, through the API."""
    import grpc
    from google.protobuf.timestamp_pb2 import Timestamp
    from peony.booking.v1 import appointments_pb2, catalog_pb2, resources_pb2
    from peony.booking.v1 import booking_service_pb2 as pb
    from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc

    md = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.BookingServiceStub(channel)
        for service_id, minutes, buffer, room_type in (
            (FACIAL, 60, 5, "facial-room"),
            (MASSAGE, MASSAGE_MINUTES, 0, ""),
        ):
            await stub.CreateService(
                pb.CreateServiceRequest(
                    service_id=service_id,
                    service=catalog_pb2.Service(
                        display_name=service_id,
                        category="bench",
                        duration_minutes=minutes,
                        buffer_before_minutes=buffer,
                        buffer_after_minutes=buffer,
                        list_price_minor=19_800,
                        currency_code="CNY",
                        requirements=catalog_pb2.ResourceRequirements(skill="bench", room_type=room_type),
                        online_bookable=True,
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
                timeout=CALL_TIMEOUT_S,
            )
        hours = [
            resources_pb2.WeeklyInterval(day_of_week=d, start_time=OPEN, end_time=CLOSE) for d in range(1, 8)
        ]
        for i in range(STAFF_COUNT):
            await stub.CreateStaff(
                pb.CreateStaffRequest(
                    parent=STORE,
                    staff_id=f"s{i:02d}",
                    staff=resources_pb2.Staff(
                        display_name=f"Staff {i}", skills=["bench"], weekly_hours=hours
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
                timeout=CALL_TIMEOUT_S,
            )
        for i in range(ROOM_COUNT):
            await stub.CreateRoom(
                pb.CreateRoomRequest(
                    parent=STORE,
                    room_id=f"r{i:02d}",
                    room=resources_pb2.Room(display_name=f"Room {i}", room_type="facial-room", capacity=1),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
                timeout=CALL_TIMEOUT_S,
            )

        # Staff i, round k: a facial when (i + k) is even, so 20 facials (= 20 rooms) per round.
        plan = [
            (i, k, FACIAL if (i + k) % 2 == 0 else MASSAGE)
            for k in range(SEED_PER_STAFF)
            for i in range(STAFF_COUNT)
        ]
        pending = iter(plan)

        async def book_some() -> None:
            for i, k, service in pending:
                start = _instant(day, 9 * 60 + k * SEED_PITCH_MIN + 5)
                await stub.BookAppointment(
                    pb.BookAppointmentRequest(
                        member=f"members/{_member(f'seed-{i}-{k}')}",
                        store=STORE,
                        services=[f"services/{service}"],
                        start_time=Timestamp(seconds=int(start.timestamp())),
                        preferred_staff=_staff_name(i),
                        channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=md,
                    timeout=CALL_TIMEOUT_S,
                )

        await asyncio.gather(*(book_some() for _ in range(8)))
    return len(plan)


async def _availability(addr: str, token: str, day: date, queries: int) -> dict[str, Any]:
    """Sequential QueryAvailability calls (one client) for the seeded day: latency figures."""
    import grpc
    from peony.booking.v1 import booking_service_pb2 as pb
    from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc

    md = (("authorization", f"Bearer {token}"),)
    out: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.BookingServiceStub(channel)
        for key, services in (("one_service", [FACIAL]), ("two_services_back_to_back", [FACIAL, MASSAGE])):
            request = pb.QueryAvailabilityRequest(
                store=STORE,
                start_date=day.isoformat(),
                end_date=day.isoformat(),
                services=[f"services/{s}" for s in services],
                page_size=1000,
            )
            slots = 0
            for _ in range(5):  # warm-up
                reply = await stub.QueryAvailability(request, metadata=md, timeout=CALL_TIMEOUT_S)
                slots = len(reply.slots)
            latencies = []
            for _ in range(queries):
                t0 = time.perf_counter()
                await stub.QueryAvailability(request, metadata=md, timeout=CALL_TIMEOUT_S)
                latencies.append((time.perf_counter() - t0) * 1000)
            latencies.sort()
            out[key] = {
                "queries": queries,
                "slots_returned": slots,
                "p50_ms": round(percentile(latencies, 50), 2),
                "p99_ms": round(percentile(latencies, 99), 2),
                "max_ms": round(latencies[-1], 2),
            }
            log(f"availability {key}: {out[key]}")
    return out


async def _single_client(
    addr: str, token: str, slots: list[tuple[str, int, str]], calls: int
) -> dict[str, Any]:
    """Sequential BookAppointment calls (one client, nothing else in flight): the latency of one
    booking, on slots the throughput step did not reach (the end of the shuffled list)."""
    import grpc
    from google.protobuf.timestamp_pb2 import Timestamp
    from peony.booking.v1 import appointments_pb2
    from peony.booking.v1 import booking_service_pb2 as pb
    from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc

    md = (("authorization", f"Bearer {token}"),)
    latencies = []
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.BookingServiceStub(channel)
        for n, (staff, start, member) in enumerate(reversed(slots[-(calls + 5) :])):
            request = pb.BookAppointmentRequest(
                member=f"members/{member}",
                store=STORE,
                services=[f"services/{MASSAGE}"],
                start_time=Timestamp(seconds=start),
                preferred_staff=staff,
                channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                request_id=str(uuid.uuid4()),
            )
            t0 = time.perf_counter()
            await stub.BookAppointment(request, metadata=md, timeout=CALL_TIMEOUT_S)
            if n >= 5:  # the first five warm up
                latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    out = {
        "calls": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2),
    }
    log(f"single-client booking: {out}")
    return out


def cpu_ms_per_call(figures: dict[str, Any]) -> float | None:
    """CPU of the server, PostgreSQL and NATS per successful call, in ms (the load generator
    left out: it is the client)."""
    cpu, rps = figures.get("cpu") or {}, figures.get("rps") or 0
    if not rps:
        return None
    cores = sum(cpu.get(k) or 0 for k in ("server_cores", "postgres_cores", "nats_cores"))
    return round(cores / rps * 1000, 2)


def _throughput_slots(first_day: date, seed: int) -> list[tuple[str, int, str]]:
    """Every 30-minute massage start of every staff member over the throughput days, shuffled,
    each with a member of its own: (staff, start in epoch seconds, member id)."""
    per_day = (int(CLOSE[:2]) - int(OPEN[:2])) * 60 // MASSAGE_MINUTES
    slots = [
        (
            _staff_name(i),
            int(_instant(first_day + timedelta(days=d), 540 + n * MASSAGE_MINUTES).timestamp()),
            _member(f"slot-{d}-{i}-{n}"),
        )
        for d in range(THROUGHPUT_DAYS)
        for i in range(STAFF_COUNT)
        for n in range(per_day)
    ]
    random.Random(seed).shuffle(slots)
    return slots


def _seed_members() -> list[str]:
    return [_member(f"seed-{i}-{k}") for k in range(SEED_PER_STAFF) for i in range(STAFF_COUNT)]


def _start_booking(children: Children, db_url: str, nats_url: str) -> tuple[Any, str]:
    from cli.devstack import free_port

    port = free_port()
    env = child_env(
        {
            "PEONY_BOOKING_DATABASE_URL": db_url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_BOOKING_GRPC_PORT": str(port),
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    child = children.spawn("booking", [sys.executable, "-m", "cli.main", "serve", "booking"], env)
    addr = f"127.0.0.1:{port}"
    asyncio.run(wait_for_health(addr, child))
    log(f"booking service up at {addr} (pid {child.pid})")
    return child, addr


def _profile(args: argparse.Namespace, pid: int) -> tuple[int, Path, str] | None:
    if not args.py_spy:
        return None
    out_dir = Path(args.py_spy)
    out_dir.mkdir(parents=True, exist_ok=True)
    return pid, out_dir / "booking-book.folded", "raw"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.devstack import DevStack, database_url, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    idle_busy = busy_cores()
    if idle_busy is not None and idle_busy > 0.3:
        log(f"warning: {idle_busy} cores already busy before starting: figures will be noisy")
    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-booking-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    stamp = f"{int(time.time())}_{os.getpid()}"
    db_name, pgbench_db = f"peony_bench_booking_{stamp}", f"peony_bench_pgbench_{stamp}"
    server_url: str | None = None
    created: list[str] = []
    try:
        stack.start()
        server_url = plain_pg_url(stack.database_url)
        asyncio.run(ensure_database(server_url, db_name))
        created.append(db_name)
        db_url = database_url(server_url, db_name)
        asyncio.run(upgrade("booking", to_async_url(db_url)))
        today = datetime.now(ZoneInfo(TIME_ZONE)).date()
        seeded_day = today + timedelta(days=1)
        slots = _throughput_slots(seeded_day + timedelta(days=1), seed=20261123)
        asyncio.run(_insert_projections(db_url, _seed_members() + [m for _, _, m in slots]))
        pg = asyncio.run(pg_settings(db_url))
        log(f"database {db_name} migrated (PostgreSQL {pg['server_version']}, fsync={pg['fsync']})")
        token = mint_dev_token(
            tenant=TENANT,
            subject="user:bench",
            roles=["hq_admin"],
            secret=os.environ.get("PEONY_JWT_SECRET") or None,
            issuer=os.environ.get("PEONY_JWT_ISSUER", "peony"),
            audience=os.environ.get("PEONY_JWT_AUDIENCE", "peony"),
        )

        booking, addr = _start_booking(children, db_url, stack.nats_url)
        t0 = time.monotonic()
        seeded = asyncio.run(_seed(addr, token, seeded_day))
        log(f"seeded {STAFF_COUNT} staff, {ROOM_COUNT} rooms, {seeded} appointments on {seeded_day}"
            f" in {time.monotonic() - t0:.1f}s")  # fmt: skip
        availability = asyncio.run(_availability(addr, token, seeded_day, args.queries))
        children.stop(booking)

        postgres_pid = stack.postgres.pid if stack.postgres is not None else None
        asyncio.run(ensure_database(server_url, pgbench_db))
        created.append(pgbench_db)
        log(f"pgbench: -i -s 10, then {args.clients} clients for {round(args.duration)}s")
        pgb = run_pgbench(
            children,
            server_url,
            pgbench_db,
            clients=args.clients,
            duration=args.duration,
            warmup=args.warmup,
            postgres_pid=postgres_pid,
        )
        log(f"pgbench tpcb-like: {pgb['tps']} tps, latency avg {pgb['latency_avg_ms']} ms")
        asyncio.run(drop_database(server_url, pgbench_db))
        created.remove(pgbench_db)

        booking, addr = _start_booking(children, db_url, stack.nats_url)
        time.sleep(1.0)
        spec = {"token": token, "store": STORE, "slots": slots, "procs": args.procs}
        trees = {"postgres": stack.postgres.pid} if stack.postgres is not None else {}
        log(f"booking: {args.clients} clients, {args.warmup:g}s warm-up + {args.duration:g}s")
        book = run_load(
            children,
            target=addr,
            workload="bench.bench_booking:book_workload",
            spec=spec,
            clients=args.clients,
            procs=args.procs,
            warmup=args.warmup,
            duration=args.duration,
            watch_pids={"server": booking.pid},
            watch_trees=trees,
            profile=_profile(args, booking.pid),
        )
        book.setdefault("errors_by_code", {})
        show_figures("book_appointment", book)
        single = asyncio.run(_single_client(addr, token, slots, args.single_calls))
        children.stop(booking)

        machine = machine_info()
        machine["busy_cores_before"] = idle_busy
        return {
            "benchmark": "booking",
            "clients": args.clients,
            "load_procs": args.procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "store": {
                "staff": STAFF_COUNT,
                "rooms": ROOM_COUNT,
                "appointments_on_day": seeded,
                "time_zone": TIME_ZONE,
            },
            "pg_fsync": pg["fsync"] == "on",
            "pg_embedded": stack.started_postgres,
            "availability": availability,
            "pgbench_tpcb_tps": pgb["tps"],
            "pgbench": pgb,
            "book_appointment": book,
            "book_appointment_single_client": single,
            "book_appointment_cpu_ms": cpu_ms_per_call(book),
            "ratios": {"book_appointment_vs_pgbench": ratio(book["rps"], pgb["tps"])},
            "profiled": bool(args.py_spy),
            "errors_total": book.get("errors", 0),
            "machine": machine,
        }
    finally:
        children.stop_all()
        if server_url and not stack.started_postgres:
            for name in created:
                with contextlib.suppress(Exception):
                    asyncio.run(drop_database(server_url, name))
        stack.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Booking service (QueryAvailability latency, BookAppointment throughput) vs pgbench.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds (booking and pgbench)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    p.add_argument("--clients", type=int, default=32, help="concurrent booking clients (and pgbench -c)")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    p.add_argument("--queries", type=int, default=200, help="availability queries per shape")
    p.add_argument("--single-calls", type=int, default=100, help="sequential single-client bookings")
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="profile the booking server with py-spy while booking (figures then not quotable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server, pgbench and load logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.procs < 1 or args.clients < args.procs or args.procs > 9 or args.queries < 1:
        print("need 1 <= --procs <= 9, --clients >= --procs and --queries >= 1", file=sys.stderr)
        return 2
    return run_benchmark(run, args)


if __name__ == "__main__":
    sys.exit(main())
