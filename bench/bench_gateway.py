"""The REST gateway's cost: the same read through the gateway (REST/JSON) and directly (gRPC).

    .venv/bin/python bench/bench_gateway.py [--duration 10] [--warmup 2] [--clients 32] [--procs 2]

Progress goes to stderr; stdout gets exactly one JSON line with every figure (see bench/README.md).

Steps:
1. PostgreSQL + NATS (``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` when set, else embedded, fsync
   on); a fresh members database, migrated; ``--members`` members registered through the API.
2. For 1 and then 2 replicas of the members service (separate processes, each on its own port,
   the clients given an ``ipv4:`` target with ``round_robin``, as ``peony up --replicas`` does)
   and one gateway process (``peony gateway``, production defaults: access log at INFO, rate
   limits on but far above the load, no OTLP endpoint): GetMember on random members, directly
   over gRPC and as ``GET /v1/members/{id}`` through the gateway, at ``--clients`` clients (the
   throughput ratio) and at 1 client (the latency the gateway adds).
3. A lean variant of the gateway (``PEONY_LOG_LEVEL=WARNING``: no access log line per request;
   ``OTEL_SDK_DISABLED=true``: no spans or metrics), same windows, 1 replica.

Figures: ``ratio`` = gateway calls/s over direct calls/s at ``--clients``; ``added_p50_ms`` =
gateway p50 minus direct p50 at 1 client; ``gateway_cpu_ms_per_request`` = the gateway process's
CPU over the window divided by the requests it served (at ``--clients``). Gateway, services,
PostgreSQL and the load generator share the machine's cores, so the throughput ratio is a ratio
of what is left to each, not of the gateway alone.
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
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    CallFailed,
    Children,
    busy_cores,
    child_env,
    cpu_ms_per_call,
    log,
    machine_info,
    plain_pg_url,
    ratio,
    run_benchmark,
    run_load,
    show_figures,
    wait_for_health,
)

TENANT = "bench"
CALL_TIMEOUT_S = 30.0
# Goals of issue 11 (2-core box shared by gateway, service, PostgreSQL and load generator).
TARGET_RATIO = 0.6
TARGET_ADDED_P50_MS = 1.0
TARGET_GATEWAY_CPU_MS = 0.5
LEAN_ENV = {"PEONY_LOG_LEVEL": "WARNING", "OTEL_SDK_DISABLED": "true"}


# --------------------------------------------------------------------------------------------
# workloads (run inside the load-generator processes, see bench._common.run_load)
# --------------------------------------------------------------------------------------------


class _RestGet:
    """GET /v1/members/{id} through the gateway; the body is read, not parsed (like the gRPC side)."""

    def __init__(self, spec: dict[str, Any], worker_index: int):
        import aiohttp

        self._base = spec["gateway_url"]
        self._headers = {"Authorization": f"Bearer {spec['token']}"}
        self._paths = [f"/v1/{name}" for name in spec["names"]]
        self._choice = random.Random(worker_index).choice
        # Keep-alive connections, as many as the worker's clients need; no per-host cap.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
        )

    async def __call__(self, client_index: int) -> bytes:
        async with self._session.get(self._base + self._choice(self._paths), headers=self._headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise CallFailed(str(resp.status), body[:200].decode(errors="replace"))
            return body

    async def aclose(self) -> None:
        await self._session.close()


async def rest_get_workload(channel: Any, spec: dict[str, Any], worker_index: int) -> _RestGet:
    return _RestGet(spec, worker_index)


rest_get_workload.needs_channel = False  # type: ignore[attr-defined]  # HTTP: no gRPC channel


# --------------------------------------------------------------------------------------------
# orchestration (the benchmark's own process)
# --------------------------------------------------------------------------------------------


def _start_members(children: Children, name: str, db_url: str, nats_url: str) -> tuple[Any, int]:
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
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)  # no collector listens in a benchmark
    child = children.spawn(name, [sys.executable, "-m", "cli.main", "serve", "members"], env)
    asyncio.run(wait_for_health(f"127.0.0.1:{port}", child))
    log(f"{name} up on port {port} (pid {child.pid})")
    return child, port


def _members_target(ports: list[int]) -> str:
    from cli.up import service_target

    return service_target(ports)


def _start_gateway(
    children: Children,
    members_target: str,
    extra_env: dict[str, str],
    command: Callable[[int], list[str]] | None = None,
    name: str = "gateway",
) -> tuple[Any, str]:
    """``peony gateway`` (or ``command(port)``, given the same environment) in front of members."""
    from cli.devstack import free_port

    port = free_port()
    unused = f"127.0.0.1:{free_port()}"  # wallet/booking/notify: not part of this read
    env = child_env(
        {
            "PEONY_GATEWAY_ADDR": f"127.0.0.1:{port}",
            "PEONY_MEMBERS_ADDR": members_target,
            "PEONY_WALLET_ADDR": unused,
            "PEONY_BOOKING_ADDR": unused,
            "PEONY_NOTIFY_ADDR": unused,
            "PEONY_LOG_LEVEL": "INFO",  # production default: one access-log line per request
            # Rate limits stay on (their cost is part of the gateway's), far above the load.
            "PEONY_GATEWAY_RATE_TENANT_RPS": "1000000",
            "PEONY_GATEWAY_RATE_TOKEN_RPS": "1000000",
            "PEONY_GATEWAY_HEALTH_INTERVAL_SECONDS": "5",
        }
    )
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update(extra_env)
    argv = command(port) if command is not None else [sys.executable, "-m", "cli.main", "gateway"]
    child = children.spawn(name, argv, env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if not child.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway did not become ready:\n{child.log_tail()}")
        time.sleep(0.2)
    log(f"{name} up at {url} (pid {child.pid}) -> members {members_target}")
    return child, url


def _measure(
    children: Children,
    args: argparse.Namespace,
    spec: dict[str, Any],
    members_target: str,
    gateway: Any,
    members: list[Any],
    label: str,
) -> dict[str, Any]:
    """Direct and through-the-gateway windows at --clients and at 1 client; the derived figures."""
    watch = {"gateway": gateway.pid, **{f"members_{i + 1}": m.pid for i, m in enumerate(members)}}
    figures: dict[str, Any] = {}
    for clients, procs in ((args.clients, args.procs), (1, 1)):
        for kind, target, workload in (
            ("direct", members_target, "bench.bench_members:get_member_workload"),
            ("gateway", spec["gateway_url"], "bench.bench_gateway:rest_get_workload"),
        ):
            name = f"{kind}_{clients}"
            time.sleep(1.0)
            log(f"[{label}] {name}: {args.warmup:g}s warm-up + {args.duration:g}s")
            fig = run_load(
                children, target=target, workload=workload, spec=spec, clients=clients, procs=procs,
                warmup=args.warmup, duration=args.duration, watch_pids=watch,
            )  # fmt: skip
            fig["cpu_ms_per_call"] = cpu_ms_per_call(fig["cpu"], fig["rps"])
            show_figures(f"{label} {name}", fig)
            figures[name] = fig
    many, one = args.clients, 1
    gateway_many = figures[f"gateway_{many}"]
    figures["ratio"] = ratio(gateway_many["rps"], figures[f"direct_{many}"]["rps"])
    direct_p50, gateway_p50 = figures[f"direct_{one}"]["p50_ms"], figures[f"gateway_{one}"]["p50_ms"]
    figures["added_p50_ms"] = (
        round(gateway_p50 - direct_p50, 3) if direct_p50 is not None and gateway_p50 is not None else None
    )
    figures["gateway_cpu_ms_per_request"] = gateway_many["cpu_ms_per_call"].get("gateway")
    figures["gateway_cpu_ms_per_request_1_client"] = figures[f"gateway_{one}"]["cpu_ms_per_call"].get(
        "gateway"
    )
    log(
        f"[{label}] ratio {figures['ratio']} at {many} clients, gateway adds "
        f"{figures['added_p50_ms']} ms p50 at 1 client, gateway CPU "
        f"{figures['gateway_cpu_ms_per_request']} ms/request"
    )
    return figures


def _meets(fig: dict[str, Any]) -> dict[str, bool]:
    return {
        "ratio": (fig["ratio"] or 0) >= TARGET_RATIO,
        "added_p50_ms": fig["added_p50_ms"] is not None and fig["added_p50_ms"] <= TARGET_ADDED_P50_MS,
        "gateway_cpu_ms_per_request": fig["gateway_cpu_ms_per_request"] is not None
        and fig["gateway_cpu_ms_per_request"] <= TARGET_GATEWAY_CPU_MS,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.bench_members import _populate, _with_db
    from cli.devstack import DevStack, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    idle_busy = busy_cores()
    if idle_busy is not None and idle_busy > 0.3:
        log(f"warning: {idle_busy} cores already busy before starting: figures will be noisy")
    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-gateway-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    db_name = f"peony_bench_gateway_{int(time.time())}_{os.getpid()}"
    server_url: str | None = None
    db_created = False
    try:
        stack.start()
        server_url = plain_pg_url(stack.database_url)
        asyncio.run(ensure_database(server_url, db_name))
        db_created = True
        db_url = to_async_url(_with_db(server_url, db_name))
        asyncio.run(upgrade("members", db_url))
        token = mint_dev_token(
            tenant=TENANT,
            subject="user:bench",
            roles=["hq_admin"],
            secret=os.environ.get("PEONY_JWT_SECRET") or None,
            issuer=os.environ.get("PEONY_JWT_ISSUER", "peony"),
            audience=os.environ.get("PEONY_JWT_AUDIENCE", "peony"),
        )

        first, port = _start_members(children, "members-1", db_url, stack.nats_url)
        names, _store, response_bytes = asyncio.run(_populate(f"127.0.0.1:{port}", token, args.members))
        members, ports = [first], [port]
        runs: dict[str, Any] = {}
        gateway_env = dict(item.split("=", 1) for item in args.gateway_env)
        for replicas in sorted(set(args.replicas)):
            while len(members) < replicas:
                child, extra = _start_members(children, f"members-{len(members) + 1}", db_url, stack.nats_url)
                members.append(child)
                ports.append(extra)
            target = _members_target(ports)
            gateway, url = _start_gateway(children, target, gateway_env)
            spec = {"token": token, "names": names, "gateway_url": url}
            runs[f"replicas_{replicas}"] = _measure(
                children, args, spec, target, gateway, members, f"{replicas} replica(s)"
            )
            children.stop(gateway)
            if replicas == min(args.replicas) and not args.no_lean:
                gateway, url = _start_gateway(children, target, {**gateway_env, **LEAN_ENV})
                spec = {"token": token, "names": names, "gateway_url": url}
                runs["lean_replicas_1"] = _measure(children, args, spec, target, gateway, members, "lean")
                runs["lean_replicas_1"]["gateway_env"] = LEAN_ENV
                children.stop(gateway)

        machine = machine_info()
        machine["busy_cores_before"] = idle_busy
        headline = runs[f"replicas_{min(args.replicas)}"]
        summary = {
            name: {
                "ratio": fig["ratio"],
                "added_p50_ms": fig["added_p50_ms"],
                "gateway_cpu_ms_per_request": fig["gateway_cpu_ms_per_request"],
            }
            for name, fig in runs.items()
        }
        return {
            "benchmark": "gateway",
            "read": "GetMember (gRPC) vs GET /v1/members/{id} (REST through the gateway)",
            "clients": args.clients,
            "load_procs": args.procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "population": len(names),
            "response_bytes": response_bytes,
            "gateway_env": gateway_env,
            "runs": runs,
            "summary": summary,
            "target": {
                "ratio": TARGET_RATIO,
                "added_p50_ms": TARGET_ADDED_P50_MS,
                "gateway_cpu_ms_per_request": TARGET_GATEWAY_CPU_MS,
            },
            "meets_target": {name: _meets(fig) for name, fig in runs.items()},
            "errors_total": sum(
                fig["errors"]
                for run in runs.values()
                for fig in run.values()
                if isinstance(fig, dict) and "errors" in fig
            ),
            "note": "gateway, members replicas, PostgreSQL and the load generator share this machine's "
            "cores (and other engineers' runs): compare ratios within this run, not absolute rates",
            "headline": {
                "ratio_32": headline["ratio"],
                "added_p50_ms": headline["added_p50_ms"],
                "gateway_cpu_ms_per_request": headline["gateway_cpu_ms_per_request"],
            },
            "machine": machine,
        }
    finally:
        children.stop_all()
        if db_created and server_url and not stack.started_postgres:
            with contextlib.suppress(Exception):
                asyncio.run(drop_database(server_url, db_name))
        stack.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="The same read through the REST gateway and directly over gRPC.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per window")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each window")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients in total")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    p.add_argument("--members", type=int, default=500, help="members registered before the reads")
    p.add_argument("--no-lean", action="store_true", help="skip the lean gateway variant")
    p.add_argument(
        "--replicas", type=int, nargs="+", default=[1, 2], choices=[1, 2, 3, 4], help="backend replica counts"
    )
    p.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the gateway process (what-if runs; repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(run, _parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
