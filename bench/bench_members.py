"""Members service throughput and latency against a bare grpc.aio echo baseline.

    .venv/bin/python bench/bench_members.py [--duration 10] [--warmup 2] [--clients 32] [--procs 2]
    .venv/bin/python -m bench.bench_members ...

Progress goes to stderr; stdout gets exactly one JSON line with every figure (see bench/README.md).

Steps:
1. PostgreSQL + NATS: ``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` when set, else embedded servers
   (``cli.devstack.DevStack``, *not* fast mode: fsync on, as in production) in a temp dir. A fresh
   database, migrated with ``kit.migrations.upgrade("members", ...)``.
2. The real members service as a separate process (``python -m cli.main serve members``); one store
   and ``--members`` members registered through the API; the outbox drained; the service stopped.
3. Echo baseline: a separate minimal grpc.aio server process answering a payload as large as a
   GetMember response; loaded, stopped.
4. The members service started again; GetMember on random members of the population, then
   RegisterMember with unique phones; stopped.

The load comes from ``--procs`` separate processes (default 2) sharing ``--clients`` coroutines,
one channel per process, the same for the baseline and for the service. Requests are serialized
up front (GetMember) or per call (RegisterMember) and responses are not parsed, for the baseline
and the service alike, so the client does the same work per call on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    ECHO_METHOD,
    Children,
    busy_cores,
    child_env,
    log,
    machine_info,
    pg_settings,
    plain_pg_url,
    ratio,
    run_benchmark,
    run_load,
    show_figures,
    start_echo,
    wait_for_health,
    wait_outbox_drained,
)

TENANT = "bench"
STORE_ID = "bench-store"
TARGET_GET_MEMBER_VS_ECHO = 0.5
CALL_TIMEOUT_S = 30.0
MEMBERS_SERVICE = "peony.members.v1.MembersService"
GET_MEMBER = f"/{MEMBERS_SERVICE}/GetMember"
REGISTER_MEMBER = f"/{MEMBERS_SERVICE}/RegisterMember"
# Population phones: 139 0000 0000 + i. Load worker w registers 139 (w+1)000 0000 + n.
PHONE_BLOCK = 10_000_000


# --------------------------------------------------------------------------------------------
# workloads (run inside the load-generator processes, see bench._common.run_load)
# --------------------------------------------------------------------------------------------


def _metadata(spec: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {spec['token']}"),)


def _get_requests(spec: dict[str, Any]) -> list[bytes]:
    from peony.members.v1 import members_service_pb2 as pb

    return [pb.GetMemberRequest(name=name).SerializeToString() for name in spec["names"]]


async def echo_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    """The baseline: the same request bytes and metadata as GetMember, to the echo method."""
    method = channel.unary_unary(ECHO_METHOD)  # bytes in, bytes out
    requests = _get_requests(spec)
    metadata = _metadata(spec)
    choice = random.Random(worker_index).choice

    async def call(client_index: int) -> Any:
        return await method(choice(requests), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


async def get_member_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    method = channel.unary_unary(GET_MEMBER)  # pre-serialized request, response left unparsed
    requests = _get_requests(spec)
    metadata = _metadata(spec)
    choice = random.Random(worker_index).choice

    async def call(client_index: int) -> Any:
        return await method(choice(requests), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


def _member(phone: str, store: str, rng: random.Random):
    """A fully filled-in profile, as a front desk records it (GetMember answers ~600 bytes)."""
    from peony.members.v1 import member_pb2

    suffix = phone[-4:]
    return member_pb2.Member(
        display_name=f"Bench Member {suffix}",
        phone=phone,
        email=f"bench.{phone}@example.com",
        address=f"上海市静安区南京西路 {rng.randint(1, 1999)} 号 {rng.randint(1, 30)} 楼",
        gender=member_pb2.GENDER_FEMALE if rng.random() < 0.85 else member_pb2.GENDER_MALE,
        birthday=f"{rng.randint(1965, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        home_store=store,
        registration_channel=member_pb2.REGISTRATION_CHANNEL_STORE,
        agreement_version="2026-01",
        consent=member_pb2.Consent(marketing_sms=rng.random() < 0.6, marketing_wechat=True),
        tags=["bench", "vip-candidate"],
        custom_attributes={"wechat_nickname": f"peony_{suffix}", "source_campaign": "spring-2026"},
        care_profile=member_pb2.CareProfile(
            skin_type="combination",
            allergies=["fragrance"],
            past_treatments=["hydrafacial", "lymphatic massage"],
            favourite_staff="staff/amy",
            massage_style="medium pressure",
            notes="Prefers a quiet room; arrives by metro.",
        ),
    )


async def register_member_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    from peony.members.v1 import members_service_pb2 as pb

    method = channel.unary_unary(REGISTER_MEMBER)
    metadata = _metadata(spec)
    store = spec["store"]
    rng = random.Random(1000 + worker_index)
    base = PHONE_BLOCK * (worker_index + 1)
    counter = itertools.count()

    async def call(client_index: int) -> Any:
        n = next(counter)
        request = pb.RegisterMemberRequest(
            member=_member(f"139{base + n:08d}", store, rng), request_id=str(uuid.uuid4())
        )
        return await method(request.SerializeToString(), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


# --------------------------------------------------------------------------------------------
# orchestration (the benchmark's own process)
# --------------------------------------------------------------------------------------------


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _populate(addr: str, token: str, count: int, concurrency: int = 16) -> tuple[list[str], str, int]:
    """One store and ``count`` members through the API; returns (member names, store, response size)."""
    import grpc
    from peony.members.v1 import members_service_pb2 as pb
    from peony.members.v1 import members_service_pb2_grpc as pb_grpc
    from peony.members.v1 import store_pb2

    metadata = (("authorization", f"Bearer {token}"),)
    names: list[str] = []
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.MembersServiceStub(channel)
        hours = [
            store_pb2.OpeningHours(day_of_week=d, open_time="10:00", close_time="21:00") for d in range(1, 8)
        ]
        resp = await stub.CreateStore(
            pb.CreateStoreRequest(
                store_id=STORE_ID,
                store=store_pb2.Store(
                    display_name="Peony Bench",
                    time_zone="Asia/Shanghai",
                    address="1 Bench Rd",
                    opening_hours=hours,
                ),
                request_id=f"bench-store-{uuid.uuid4()}",
            ),
            metadata=metadata,
        )
        store = resp.store.name or f"stores/{STORE_ID}"
        rng = random.Random(20261123)
        next_index = iter(range(count))
        started = time.monotonic()

        async def register_some() -> None:
            for i in next_index:
                request = pb.RegisterMemberRequest(
                    member=_member(f"139{i:08d}", store, rng), request_id=str(uuid.uuid4())
                )
                for _ in range(50):  # a server shedding load (RESOURCE_EXHAUSTED): wait, same request again
                    try:
                        r = await stub.RegisterMember(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        await asyncio.sleep(0.2)
                else:
                    raise RuntimeError("the members service kept refusing the population's registrations")
                names.append(r.member.name)
                if len(names) % 500 == 0:
                    log(f"  registered {len(names)}/{count}")

        await asyncio.gather(*(register_some() for _ in range(concurrency)))
        log(f"population: {count} members in {time.monotonic() - started:.1f}s")
        sample = await stub.GetMember(pb.GetMemberRequest(name=names[0]), metadata=metadata)
        size = len(sample.SerializeToString())
    return names, store, size


def _start_members(
    children: Children, db_url: str, nats_url: str, extra_env: dict[str, str]
) -> tuple[Any, str]:
    from cli.devstack import free_port

    port = free_port()
    env = child_env(
        {
            "PEONY_MEMBERS_DATABASE_URL": db_url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_MEMBERS_GRPC_PORT": str(port),
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    # No collector listens in a benchmark: exporting would only add retries.
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update(extra_env)
    child = children.spawn("members", [sys.executable, "-m", "cli.main", "serve", "members"], env)
    addr = f"127.0.0.1:{port}"
    asyncio.run(wait_for_health(addr, child))
    log(f"members service up at {addr} (pid {child.pid})")
    return child, addr


def _profile(args: argparse.Namespace, pid: int, workload: str) -> tuple[int, Path, str] | None:
    if not args.py_spy:
        return None
    out_dir = Path(args.py_spy)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = {"flamegraph": "svg", "raw": "folded", "speedscope": "json"}[args.py_spy_format]
    return pid, out_dir / f"members-{workload}.{ext}", args.py_spy_format


def _settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.devstack import DevStack, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    server_env = dict(item.split("=", 1) for item in args.server_env)
    idle_busy = busy_cores()
    if idle_busy is not None and idle_busy > 0.3:
        log(f"warning: {idle_busy} cores already busy before starting: figures will be noisy")

    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-members-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    db_name = f"peony_bench_members_{int(time.time())}_{os.getpid()}"
    server_url: str | None = None
    db_created = False
    try:
        log(
            "starting PostgreSQL (fsync on) and NATS"
            if not os.environ.get("PEONY_DATABASE_URL")
            else "using PEONY_DATABASE_URL"
        )
        stack.start()
        server_url = plain_pg_url(stack.database_url)
        asyncio.run(ensure_database(server_url, db_name))
        db_created = True
        db_url = _with_db(server_url, db_name)
        asyncio.run(upgrade("members", to_async_url(db_url)))
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

        # -- population ------------------------------------------------------------------------
        members, addr = _start_members(children, db_url, stack.nats_url, server_env)
        names, store, response_bytes = asyncio.run(_populate(addr, token, args.members))
        pending = asyncio.run(wait_outbox_drained(db_url))
        if pending:
            log(f"warning: {pending} outbox rows still unpublished")
        children.stop(members)
        log(f"GetMember response is {response_bytes} bytes; members service stopped")

        common: dict[str, Any] = {
            "clients": args.clients,
            "procs": args.procs,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        spec = {"token": token, "names": names, "store": store}
        # CPU of the embedded servers (postmaster + backends, nats-server) during each window.
        trees = {}
        if stack.postgres is not None:
            trees["postgres"] = stack.postgres.pid
        if stack.nats is not None:
            trees["nats"] = stack.nats.pid
        common["watch_trees"] = trees

        # -- echo baseline ---------------------------------------------------------------------
        echo, echo_addr = start_echo(children, response_bytes)
        _settle()
        log(f"echo baseline (pid {echo.pid}): {args.warmup:g}s warm-up + {args.duration:g}s")
        echo_fig = run_load(
            children, target=echo_addr, workload="bench.bench_members:echo_workload", spec=spec,
            watch_pids={"server": echo.pid}, **common,
        )  # fmt: skip
        show_figures("echo", echo_fig)
        children.stop(echo)

        # -- members ---------------------------------------------------------------------------
        members, addr = _start_members(children, db_url, stack.nats_url, server_env)
        _settle()
        log(f"GetMember over {len(names)} members: {args.warmup:g}s warm-up + {args.duration:g}s")
        get_fig = run_load(
            children, target=addr, workload="bench.bench_members:get_member_workload", spec=spec,
            watch_pids={"server": members.pid}, profile=_profile(args, members.pid, "get_member"), **common,
        )  # fmt: skip
        show_figures("get_member", get_fig)
        _settle()
        log(f"RegisterMember: {args.warmup:g}s warm-up + {args.duration:g}s")
        reg_fig = run_load(
            children, target=addr, workload="bench.bench_members:register_member_workload", spec=spec,
            watch_pids={"server": members.pid}, profile=_profile(args, members.pid, "register_member"),
            **common,
        )  # fmt: skip
        show_figures("register_member", reg_fig)
        children.stop(members)

        ratios = {
            "get_member_vs_echo": ratio(get_fig["rps"], echo_fig["rps"]),
            "register_member_vs_echo": ratio(reg_fig["rps"], echo_fig["rps"]),
            "get_member_p50_over_echo_p50": ratio(get_fig["p50_ms"] or 0, echo_fig["p50_ms"] or 0),
        }
        machine = machine_info()
        machine["busy_cores_before"] = idle_busy
        return {
            "benchmark": "members",
            "clients": args.clients,
            "load_procs": args.procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "population": len(names),
            "response_bytes": response_bytes,
            "pg_fsync": pg["fsync"] == "on",
            "pg_synchronous_commit": pg["synchronous_commit"],
            "pg_embedded": stack.started_postgres,
            "profiled": bool(args.py_spy),
            "server_env": server_env,
            "echo": echo_fig,
            "get_member": get_fig,
            "register_member": reg_fig,
            "ratios": ratios,
            "target": {"get_member_vs_echo": TARGET_GET_MEMBER_VS_ECHO},
            "meets_target": (ratios["get_member_vs_echo"] or 0) >= TARGET_GET_MEMBER_VS_ECHO,
            "errors_total": echo_fig["errors"] + get_fig["errors"] + reg_fig["errors"],
            "machine": machine,
        }
    finally:
        children.stop_all()
        if db_created and server_url and not stack.started_postgres:
            # An external server keeps no benchmark leftovers.
            with contextlib.suppress(Exception):
                asyncio.run(drop_database(server_url, db_name))
        stack.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Members service vs a bare grpc.aio echo baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per workload")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients in total")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    p.add_argument("--members", type=int, default=2000, help="members registered before GetMember")
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="profile the members server with py-spy during each Peony window (figures then not quotable)",
    )
    p.add_argument("--py-spy-format", choices=("flamegraph", "raw", "speedscope"), default="flamegraph")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the members server, for what-if runs (repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server and load logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.procs < 1 or args.clients < args.procs or args.procs > 9:
        print("need 1 <= --procs <= 9 and --clients >= --procs", file=sys.stderr)
        return 2
    return run_benchmark(run, args)


if __name__ == "__main__":
    sys.exit(main())
