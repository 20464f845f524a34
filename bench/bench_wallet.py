"""Wallet service throughput and latency against pgbench (tpcb-like) on the same PostgreSQL.

    .venv/bin/python bench/bench_wallet.py [--duration 10] [--warmup 2] [--clients 32] [--procs 2]
                                           [--replicas 1]
    .venv/bin/python -m bench.bench_wallet ...

Progress goes to stderr; stdout gets exactly one JSON line with every figure (see bench/README.md).

Steps:
1. PostgreSQL + NATS: ``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` when set, else embedded servers
   (``cli.devstack.DevStack``, *not* fast mode: fsync on, as in production) in a temp dir. A fresh
   database, migrated with ``kit.migrations.upgrade("wallet", ...)``.
2. ``--members`` members inserted straight into the wallet's ``member_directory`` projection (what
   the members service's events would have written); then the real wallet service as a separate
   process (``python -m cli.main serve wallet``) gives each of them, through the API, one TopUp,
   a payment PIN (SetPaymentPin) and points (GrantPoints); the outbox drained; the service stopped.
3. Baseline: ``pgbench`` (builtin tpcb-like, ``-M prepared``, ``--clients`` connections, 2 threads)
   on a separate ``-s 10`` database of the SAME PostgreSQL server, then that database dropped and
   a CHECKPOINT taken.
4. Checkout probed with ``validate_only`` (the total due and the response size; UNIMPLEMENTED
   skips that workload), then the floor of one call: the bare grpc.aio echo server of
   ``bench._common`` answering checkout-sized requests with checkout-sized responses.
5. ``--replicas`` wallet processes (one port each, the load spread round robin); GetWallet on
   random members, TopUp (cash, a fresh ``request_id`` per call), then Checkout (one service line,
   paid with 100 points and stored value with the PIN); stopped.
6. The CPU budget: what one checkout may cost the machine at the target rate, against what it
   costs and against the floor (one bare gRPC call plus one tpcb-like transaction in PostgreSQL).

The load comes from ``--procs`` separate processes sharing ``--clients`` coroutines, one channel per
process (``bench._common.run_load``, as bench_members). Requests are serialized up front
(GetWallet) or per call (TopUp, Checkout: unique ``request_id``) and responses are not parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    ECHO_METHOD,
    Children,
    busy_cores,
    child_env,
    cpu_ms_per_call,
    log,
    machine_info,
    pg_settings,
    plain_pg_url,
    ratio,
    run_benchmark,
    run_load,
    run_pgbench,
    show_figures,
    start_echo,
    wait_for_health,
    wait_outbox_drained,
)

TENANT = "bench"
STORE = "stores/bench-store"
CURRENCY = "CNY"
CALL_TIMEOUT_S = 30.0
TARGET_CHECKOUT_VS_PGBENCH = 0.12  # issue 15 (the moonshot is 0.2)
WALLET_SERVICE = "peony.wallet.v1.WalletService"
GET_WALLET = f"/{WALLET_SERVICE}/GetWallet"
TOP_UP = f"/{WALLET_SERVICE}/TopUp"
CHECKOUT = f"/{WALLET_SERVICE}/Checkout"

# The seeded population: every member in one tier (5 % off, x1 points), ¥10,000 of stored value,
# 10,000 points and the same 6-digit PIN.
TIER_ID, TIER_DISCOUNT_BPS, TIER_MULTIPLIER_PERMILLE = "bench-gold", 500, 1000
SEED_TOP_UP_MINOR = 1_000_000
SEED_POINTS = 10_000
PIN = "135790"
# The TopUp workload: ¥100 cash per call.
TOP_UP_MINOR = 10_000
# The Checkout workload: one ¥298 facial; 100 points (= ¥1 at the default 100 points per yuan),
# the rest from stored value.
LINE = {
    "item": "services/facial",
    "category": "facial",
    "quantity": 1,
    "list_price_minor": 29_800,
    "serving_staff": "staff/bench",
    "staff_position": "beautician",
    "display_name": "Hydrating facial",
}
POINTS_TO_REDEEM = 100
DEFAULT_REDEMPTION_POINTS_PER_YUAN = 100  # services/wallet/domain/settings.py


# --------------------------------------------------------------------------------------------
# workloads (run inside the load-generator processes, see bench._common.run_load)
# --------------------------------------------------------------------------------------------


def _metadata(spec: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {spec['token']}"),)


async def get_wallet_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    from peony.wallet.v1 import wallet_service_pb2 as pb

    method = channel.unary_unary(GET_WALLET)  # pre-serialized request, response left unparsed
    requests = [pb.GetWalletRequest(name=f"{m}/wallet").SerializeToString() for m in spec["members"]]
    metadata = _metadata(spec)
    choice = random.Random(worker_index).choice

    async def call(client_index: int) -> Any:
        return await method(choice(requests), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


async def top_up_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    from peony.wallet.v1 import ledger_pb2
    from peony.wallet.v1 import wallet_service_pb2 as pb

    method = channel.unary_unary(TOP_UP)
    metadata = _metadata(spec)
    members = spec["members"]
    choice = random.Random(2000 + worker_index).choice

    async def call(client_index: int) -> Any:
        request = pb.TopUpRequest(
            member=choice(members),
            store=spec["store"],
            amount_minor=TOP_UP_MINOR,
            currency_code=CURRENCY,
            tender=ledger_pb2.TENDER_CASH,
            request_id=str(uuid.uuid4()),
        )
        return await method(request.SerializeToString(), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


def _checkout_request(spec: dict[str, Any], member: str, *, validate_only: bool = False):
    from peony.wallet.v1 import checkout_pb2
    from peony.wallet.v1 import wallet_service_pb2 as pb

    return pb.CheckoutRequest(
        member=member,
        store=spec["store"],
        lines=[checkout_pb2.CheckoutLine(**LINE)],
        points_to_redeem=POINTS_TO_REDEEM,
        stored_value_minor=spec["stored_value_minor"],
        payment_pin=PIN,
        request_id=str(uuid.uuid4()),
        validate_only=validate_only,
    )


def _checkout_calls(channel: Any, spec: dict[str, Any], path: str, seed: int):
    """Calls ``path`` with a fresh checkout request (random member, unique ``request_id``)."""
    method = channel.unary_unary(path)
    metadata = _metadata(spec)
    members = spec["members"]
    choice = random.Random(seed).choice

    async def call(client_index: int) -> Any:
        request = _checkout_request(spec, choice(members))
        return await method(request.SerializeToString(), metadata=metadata, timeout=CALL_TIMEOUT_S)

    return call


async def echo_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    """The floor of one call: a checkout request (same size, same metadata) to the bare echo
    server, which answers with as many bytes as a real checkout response."""
    return _checkout_calls(channel, spec, ECHO_METHOD, 4000 + worker_index)


async def checkout_workload(channel: Any, spec: dict[str, Any], worker_index: int):
    return _checkout_calls(channel, spec, CHECKOUT, 3000 + worker_index)


# --------------------------------------------------------------------------------------------
# orchestration (the benchmark's own process)
# --------------------------------------------------------------------------------------------


def _expected_total_due() -> int:
    """What the checkout line costs after the tier discount and the points (default policy)."""
    subtotal = LINE["quantity"] * LINE["list_price_minor"]
    after_tier = subtotal - subtotal * TIER_DISCOUNT_BPS // 10_000
    return after_tier - POINTS_TO_REDEEM * 100 // DEFAULT_REDEMPTION_POINTS_PER_YUAN


async def _seed_directory(db_url: str, count: int) -> list[str]:
    """``count`` members in the wallet's member_directory and the bench store in its
    store_directory, as the members service's events would put them."""
    import asyncpg

    now = datetime.now(UTC)
    ids = [str(uuid.UUID(int=random.Random(20261124 + i).getrandbits(128), version=4)) for i in range(count)]
    store_id = STORE.split("/", 1)[1]
    conn = await asyncpg.connect(plain_pg_url(db_url), timeout=10)
    try:
        await conn.executemany(
            "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
            " points_multiplier_permille, registered_time, update_time)"
            " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $7)",
            [
                (TENANT, mid, store_id, TIER_ID, TIER_DISCOUNT_BPS, TIER_MULTIPLIER_PERMILLE, now)
                for mid in ids
            ],
        )
        await conn.execute(
            "INSERT INTO store_directory (tenant_id, store_id, time_zone) VALUES ($1, $2, 'Asia/Shanghai')",
            TENANT,
            store_id,
        )
    finally:
        await conn.close()
    return [f"members/{mid}" for mid in ids]


async def _fund_members(
    addr: str,
    token: str,
    members: list[str],
    concurrency: int = 16,
    *,
    top_up_minor: int = SEED_TOP_UP_MINOR,
    points: int = SEED_POINTS,
) -> None:
    """Through the API: one TopUp, a payment PIN and points for every member."""
    import grpc
    from peony.wallet.v1 import ledger_pb2, points_pb2
    from peony.wallet.v1 import wallet_service_pb2 as pb
    from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc

    metadata = (("authorization", f"Bearer {token}"),)
    pending = iter(members)
    done = 0
    started = time.monotonic()
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.WalletServiceStub(channel)

        async def fund_some() -> None:
            nonlocal done
            for member in pending:
                await stub.TopUp(
                    pb.TopUpRequest(
                        member=member,
                        store=STORE,
                        amount_minor=top_up_minor,
                        currency_code=CURRENCY,
                        tender=ledger_pb2.TENDER_CASH,
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_S,
                )
                await stub.SetPaymentPin(
                    pb.SetPaymentPinRequest(member=member, pin=PIN, request_id=str(uuid.uuid4())),
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_S,
                )
                await stub.GrantPoints(
                    pb.GrantPointsRequest(
                        member=member,
                        points=points,
                        source=points_pb2.LOT_SOURCE_ACTIVITY,
                        reason="bench seed",
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_S,
                )
                done += 1
                if done % 500 == 0:
                    log(f"  funded {done}/{len(members)} ({time.monotonic() - started:.0f}s)")

        await asyncio.gather(*(fund_some() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    log(f"population: {len(members)} members topped up, PIN set, points granted in {elapsed:.1f}s")


async def _probe_checkout(addr: str, token: str, spec: dict[str, Any], server: Any) -> dict[str, Any]:
    """Whether Checkout is implemented, and the bill's total due (``validate_only`` when it works).

    Returns ``{"skipped": "UNIMPLEMENTED"}``, or ``{"total_due_minor": n, ...}`` plus a ``probe_note``
    when ``validate_only`` did not price the bill (the local figure is used then). An RPC the
    servicer does not override raises the generated base class's NotImplementedError, which
    ``kit.grpc_server`` answers as INTERNAL: that (seen in the server's log) counts as UNIMPLEMENTED.
    """
    import grpc
    from peony.wallet.v1 import wallet_service_pb2 as pb

    metadata = (("authorization", f"Bearer {token}"),)
    member = spec["members"][0]
    out: dict[str, Any] = {"total_due_minor": _expected_total_due()}
    probe = {**spec, "stored_value_minor": out["total_due_minor"]}

    def unimplemented(exc: grpc.aio.AioRpcError) -> bool:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return True
        if exc.code() != grpc.StatusCode.INTERNAL or server.log_path is None:
            return False
        text = server.log_path.read_text(errors="replace")
        return CHECKOUT in text and "NotImplementedError: Method not implemented!" in text

    async with grpc.aio.insecure_channel(addr) as channel:
        method = channel.unary_unary(
            CHECKOUT,
            request_serializer=pb.CheckoutRequest.SerializeToString,
            response_deserializer=pb.CheckoutResponse.FromString,
        )
        try:
            resp = await method(
                _checkout_request(probe, member, validate_only=True),
                metadata=metadata,
                timeout=CALL_TIMEOUT_S,
            )
            out["response_bytes"] = resp.ByteSize()
            if resp.checkout.total_due_minor > 0:
                out["total_due_minor"] = resp.checkout.total_due_minor
            else:
                out["probe_note"] = "validate_only answered without total_due_minor"
        except grpc.aio.AioRpcError as exc:
            out["probe_note"] = f"validate_only: {exc.code().name}: {exc.details()}"
            if unimplemented(exc):
                # Confirm with a real call before skipping (validate_only alone might be unsupported).
                try:
                    await method(_checkout_request(probe, member), metadata=metadata, timeout=CALL_TIMEOUT_S)
                except grpc.aio.AioRpcError as exc2:
                    if unimplemented(exc2):
                        return {"skipped": "UNIMPLEMENTED"}
    return out


def _start_wallet(
    children: Children, db_url: str, nats_url: str, extra_env: dict[str, str], name: str = "wallet"
) -> tuple[Any, str]:
    from cli.devstack import free_port

    port = free_port()
    env = child_env(
        {
            "PEONY_WALLET_DATABASE_URL": db_url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_WALLET_GRPC_PORT": str(port),
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    # No collector listens in a benchmark: exporting would only add retries.
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update(extra_env)
    child = children.spawn(name, [sys.executable, "-m", "cli.main", "serve", "wallet"], env)
    addr = f"127.0.0.1:{port}"
    asyncio.run(wait_for_health(addr, child))
    log(f"wallet service up at {addr} (pid {child.pid})")
    return child, addr


def _start_replicas(
    children: Children, db_url: str, nats_url: str, extra_env: dict[str, str], replicas: int
) -> tuple[list[Any], str]:
    """``replicas`` wallet processes, each on its own port, and the one gRPC target that spreads
    calls over all of them (round robin, like clients of a headless Kubernetes Service)."""
    started = [
        _start_wallet(children, db_url, nats_url, extra_env, name=f"wallet-{i}") for i in range(replicas)
    ]
    addrs = [addr for _, addr in started]
    return [child for child, _ in started], addrs[0] if replicas == 1 else "ipv4:" + ",".join(addrs)


def _server_pids(servers: list[Any]) -> dict[str, int]:
    return {f"server_{i}": child.pid for i, child in enumerate(servers)}


def _profile(args: argparse.Namespace, pid: int, workload: str) -> tuple[int, Path, str] | None:
    if not args.py_spy:
        return None
    out_dir = Path(args.py_spy)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = {"flamegraph": "svg", "raw": "folded", "speedscope": "json"}[args.py_spy_format]
    return pid, out_dir / f"wallet-{workload}.{ext}", args.py_spy_format


def _finish(fig: dict[str, Any]) -> dict[str, Any]:
    """Every replica's CPU added up into ``server_cores``, and the CPU cost of one call."""
    fig.setdefault("errors_by_code", {})
    cpu = fig.get("cpu", {})
    replicas = sorted(k for k in cpu if re.fullmatch(r"server_\d+_cores", k))
    if replicas:
        total = round(sum(cpu[k] for k in replicas), 2)
        fig["cpu"] = {"server_cores": total, **(cpu if len(replicas) > 1 else {})}
        fig["cpu"].update({k: v for k, v in cpu.items() if k not in replicas})
    totals = {k: v for k, v in fig.get("cpu", {}).items() if k not in replicas}
    fig["cpu_ms_per_call"] = cpu_ms_per_call(totals, fig.get("rps"))
    return fig


def _budget(tps: float, pgb_cpu: dict[str, Any], echo: dict[str, Any], checkout: dict[str, Any]):
    """The CPU one checkout may cost for the target on this machine, against what it costs and
    against a floor no gRPC service can go under: one bare gRPC call (client, server, kernel)
    plus one tpcb-like transaction's worth of PostgreSQL."""
    cores = os.cpu_count() or 1
    target_rps = TARGET_CHECKOUT_VS_PGBENCH * tps
    allowed = cores / target_rps * 1000 if target_rps else None
    echo_ms = echo.get("cpu_ms_per_call", {}).get("machine_busy")
    tpcb_pg_ms = cpu_ms_per_call(pgb_cpu, tps).get("postgres")
    measured = checkout.get("cpu_ms_per_call", {}).get("machine_busy")
    floor = round(echo_ms + tpcb_pg_ms, 3) if echo_ms is not None and tpcb_pg_ms is not None else None

    def share(x: float | None) -> float | None:
        return round(x / allowed, 2) if x is not None and allowed else None

    return {
        "machine_cores": cores,
        "target_checkouts_per_s": round(target_rps, 1),
        "allowed_cpu_ms_per_checkout": round(allowed, 3) if allowed else None,
        "measured_cpu_ms_per_checkout": measured,
        "floor_cpu_ms": floor,
        "floor_parts_ms": {"bare_grpc_call": echo_ms, "tpcb_transaction_in_postgres": tpcb_pg_ms},
        "measured_over_allowed": share(measured),
        "floor_over_allowed": share(floor),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    from cli.devstack import DevStack, database_url, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    server_env = dict(item.split("=", 1) for item in args.server_env)
    idle_busy = busy_cores()
    if idle_busy is not None and idle_busy > 0.3:
        log(f"warning: {idle_busy} cores already busy before starting: figures will be noisy")

    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-wallet-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    stamp = f"{int(time.time())}_{os.getpid()}"
    db_name, pgbench_db = f"peony_bench_wallet_{stamp}", f"peony_bench_pgbench_{stamp}"
    server_url: str | None = None
    created: list[str] = []
    try:
        log(
            "starting PostgreSQL (fsync on) and NATS"
            if not os.environ.get("PEONY_DATABASE_URL")
            else "using PEONY_DATABASE_URL"
        )
        stack.start()
        server_url = plain_pg_url(stack.database_url)
        asyncio.run(ensure_database(server_url, db_name))
        created.append(db_name)
        db_url = database_url(server_url, db_name)
        asyncio.run(upgrade("wallet", to_async_url(db_url)))
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
        members = asyncio.run(_seed_directory(db_url, args.members))
        log(f"member_directory: {len(members)} members inserted")
        wallet, addr = _start_wallet(children, db_url, stack.nats_url, server_env)
        asyncio.run(_fund_members(addr, token, members))
        pending = asyncio.run(wait_outbox_drained(db_url))
        if pending:
            log(f"warning: {pending} outbox rows still unpublished")
        children.stop(wallet)
        log("wallet service stopped")

        # -- pgbench baseline on the same server -----------------------------------------------
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
        log(f"pgbench tpcb-like: {pgb['tps']} tps, latency avg {pgb['latency_avg_ms']} ms, cpu {pgb['cpu']}")
        asyncio.run(drop_database(server_url, pgbench_db))
        created.remove(pgbench_db)

        async def checkpoint() -> None:
            conn = await asyncpg.connect(server_url, timeout=10)
            try:
                await conn.execute("CHECKPOINT")
            finally:
                await conn.close()

        with contextlib.suppress(Exception):  # needs superuser/pg_checkpoint on an external server
            asyncio.run(checkpoint())

        # -- wallet ----------------------------------------------------------------------------
        common: dict[str, Any] = {
            "clients": args.clients,
            "procs": args.procs,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        trees = {}
        if stack.postgres is not None:
            trees["postgres"] = stack.postgres.pid
        if stack.nats is not None:
            trees["nats"] = stack.nats.pid
        common["watch_trees"] = trees
        spec: dict[str, Any] = {"token": token, "members": members, "store": STORE}

        # The probe runs first: the echo baseline answers with as many bytes as a checkout does.
        wallet, addr = _start_wallet(children, db_url, stack.nats_url, server_env)
        probe = asyncio.run(_probe_checkout(addr, token, spec, wallet))
        children.stop(wallet)
        spec["stored_value_minor"] = probe.get("total_due_minor", _expected_total_due())

        # -- echo baseline: what one bare gRPC call costs this machine -------------------------
        echo, echo_addr = start_echo(children, probe.get("response_bytes", 600))
        log(f"echo baseline (pid {echo.pid}): {args.warmup:g}s warm-up + {args.duration:g}s")
        echo_fig = _finish(
            run_load(
                children,
                target=echo_addr,
                workload="bench.bench_wallet:echo_workload",
                spec=spec,
                watch_pids={"server": echo.pid},
                **common,
            )
        )
        show_figures("echo", echo_fig)
        children.stop(echo)

        servers, addr = _start_replicas(children, db_url, stack.nats_url, server_env, args.replicas)
        time.sleep(1.0)
        figures: dict[str, Any] = {}
        for key, workload in (("get_wallet", "get_wallet_workload"), ("top_up", "top_up_workload")):
            log(f"{key}: {args.warmup:g}s warm-up + {args.duration:g}s")
            figures[key] = _finish(
                run_load(
                    children,
                    target=addr,
                    workload=f"bench.bench_wallet:{workload}",
                    spec=spec,
                    watch_pids=_server_pids(servers),
                    profile=_profile(args, servers[0].pid, key),
                    **common,
                )
            )
            show_figures(key, figures[key])
            time.sleep(1.0)

        if "skipped" in probe:
            log("checkout: Checkout answers UNIMPLEMENTED, skipped")
            figures["checkout"] = probe
        else:
            if "probe_note" in probe:
                log(f"checkout probe: {probe['probe_note']} (using the computed total)")
            log(
                f"checkout (total due {probe['total_due_minor']}, {POINTS_TO_REDEEM} points + stored value):"
                f" {args.warmup:g}s warm-up + {args.duration:g}s"
            )
            fig = _finish(
                run_load(
                    children,
                    target=addr,
                    workload="bench.bench_wallet:checkout_workload",
                    spec=spec,
                    watch_pids=_server_pids(servers),
                    profile=_profile(args, servers[0].pid, "checkout"),
                    **common,
                )
            )
            fig["total_due_minor"] = probe["total_due_minor"]
            if "probe_note" in probe:
                fig["probe_note"] = probe["probe_note"]
            figures["checkout"] = fig
            show_figures("checkout", fig)
        for server in servers:
            children.stop(server)

        checkout = figures["checkout"]
        checkout_rps = checkout.get("rps")
        ratios = {
            "checkout_vs_pgbench": ratio(checkout_rps, pgb["tps"]) if checkout_rps is not None else None,
            "top_up_vs_pgbench": ratio(figures["top_up"]["rps"], pgb["tps"]),
            "get_wallet_vs_pgbench": ratio(figures["get_wallet"]["rps"], pgb["tps"]),
        }
        machine = machine_info()
        machine["busy_cores_before"] = idle_busy
        return {
            "benchmark": "wallet",
            "clients": args.clients,
            "load_procs": args.procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "population": len(members),
            "pg_fsync": pg["fsync"] == "on",
            "pg_synchronous_commit": pg["synchronous_commit"],
            "pg_embedded": stack.started_postgres,
            "profiled": bool(args.py_spy),
            "server_env": server_env,
            "pgbench_tpcb_tps": pgb["tps"],
            "pgbench": {**pgb, "cpu_ms_per_transaction": cpu_ms_per_call(pgb["cpu"], pgb["tps"])},
            "replicas": args.replicas,
            "echo": echo_fig,
            "get_wallet": figures["get_wallet"],
            "top_up": figures["top_up"],
            "checkout": checkout,
            "ratios": ratios,
            "target": {"checkout_vs_pgbench": TARGET_CHECKOUT_VS_PGBENCH},
            "cpu_budget": (
                _budget(pgb["tps"], pgb["cpu"], echo_fig, checkout) if checkout.get("rps") else None
            ),
            "meets_target": (ratios["checkout_vs_pgbench"] or 0) >= TARGET_CHECKOUT_VS_PGBENCH,
            "errors_total": sum(f.get("errors", 0) for f in figures.values()),
            "machine": machine,
        }
    finally:
        children.stop_all()
        if server_url and not stack.started_postgres:
            # An external server keeps no benchmark leftovers.
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
        description="Wallet service (GetWallet, TopUp, Checkout) vs pgbench tpcb-like, same PostgreSQL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per workload (and pgbench)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients in total (and pgbench -c)")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    p.add_argument("--members", type=int, default=2000, help="members seeded before the workloads")
    p.add_argument(
        "--replicas", type=int, default=1, help="wallet processes sharing the measured load (round robin)"
    )
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="profile the wallet server with py-spy during each window (figures then not quotable)",
    )
    p.add_argument("--py-spy-format", choices=("flamegraph", "raw", "speedscope"), default="flamegraph")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the wallet server, for what-if runs (repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server, pgbench and load logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.procs < 1 or args.clients < args.procs or args.procs > 9 or args.members < 1 or args.replicas < 1:
        print(
            "need 1 <= --procs <= 9, --clients >= --procs, --members >= 1 and --replicas >= 1",
            file=sys.stderr,
        )
        return 2
    return run_benchmark(run, args)


if __name__ == "__main__":
    sys.exit(main())
