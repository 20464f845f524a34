"""The kit gRPC server's own cost per call: the same trivial RPC on a bare grpc.aio server and
through `kit.grpc_server.GrpcServiceRunner` with the production interceptor and defaults.

    PYTHONPATH=$TREE:$TREE/gen .venv/bin/python bench/bench_server_overhead.py [--duration 5] [--rounds 2]
    ... --py-spy /tmp/prof   # profile the kit server during its windows (figures not quotable)

Both servers answer ``/peony.bench.v1.Echo/Echo``: a ``grpc.health.v1.HealthCheckRequest`` in, a
constant ``HealthCheckResponse`` out, decoded and encoded by protobuf on both sides (the kit's
public health service itself bypasses the interceptor, so it would measure nothing). The client
sends exactly what a Peony client sends: a bearer token (an HS256 ``service`` token), the
``peony-timeout-ms`` budget header and a deadline (5 s).

* **bare**: ``grpc.aio.server`` with the runner's options, the handler registered through
  ``grpc.method_handlers_generic_handler``, no interceptor.
* **kit**: ``GrpcServiceRunner`` (health, reflection, admission control with queueing-time
  shedding, deadlines, auth, request limits, error mapping, RED metrics, a SERVER span per call),
  logging configured at INFO (JSON), OpenTelemetry on with every span sampled (recorded; no
  exporter, so nothing leaves the process: ``OTEL_TRACES_SAMPLER=always_on``,
  ``OTEL_TRACES_EXPORTER=none``, ``OTEL_METRICS_EXPORTER=none``), as ``peony serve`` sets it up.

The servers take turns (bare, kit, bare, kit, ... ``--rounds`` times; with ``--base-tree DIR``
also a kit server importing ``kit`` from DIR, e.g. ``git archive <rev> | tar -x -C DIR``, in
each round), each under the same closed-loop load (``bench._common.run_load``: ``--procs``
processes sharing ``--clients`` coroutines). Per window: calls/s, p50/p99, and the server
process's CPU from /proc, as **CPU ms per call** (the robust figure on a shared machine). The
JSON line has every window and the medians: ``kit_over_bare_cpu_ms`` (what the kit adds per
call) and ``throughput_ratio`` (kit calls/s over bare calls/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    SERVER_OPTIONS,
    Children,
    child_env,
    cpu_ms_per_call,
    log,
    machine_info,
    run_benchmark,
    run_load,
    show_figures,
)

SERVICE = "peony.bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"
TIMEOUT_S = 5.0
WORKLOAD = "bench.bench_server_overhead:echo_workload"
# The kit server's process imports `kit` from this tree when set (`--base-tree`).
BASE_TREE_VAR = "PEONY_BENCH_KIT_TREE"
# The kit server's telemetry and logging: production's defaults, spans sampled, nothing exported.
KIT_ENV = {
    "PEONY_LOG_LEVEL": "INFO",
    "PEONY_LOG_FORMAT": "json",
    "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # the wallet's configuration, so admission control gets the wallet's bound; never connected to
    "PEONY_DATABASE_URL": "postgresql://peony@127.0.0.1:1/",
}


def _messages() -> tuple[Any, Any]:
    from grpc_health.v1 import health_pb2

    return health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse


def _echo_handler() -> Any:
    import grpc

    request_type, response_type = _messages()
    answer = response_type(status=response_type.SERVING)

    async def echo(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return answer

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                echo,
                request_deserializer=request_type.FromString,
                response_serializer=response_type.SerializeToString,
            )
        },
    )


async def _serve_bare(port: int) -> None:
    import grpc

    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((_echo_handler(),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"cannot bind 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def _serve_kit(port: int) -> None:
    import gc

    base_tree = os.environ.get(BASE_TREE_VAR)
    if base_tree:  # serve with another tree's kit (a frozen copy of the base revision)
        sys.path[:0] = [base_tree, os.path.join(base_tree, "gen")]

    from kit.auth import TokenVerifier
    from kit.config import load_config
    from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
    from kit.logging import configure_logging
    from kit.telemetry import configure_telemetry

    env = {**os.environ, "PEONY_GRPC_PORT": str(port)}
    config = load_config("wallet", env)
    configure_logging("wallet", config.log_level, config.log_format)
    telemetry = configure_telemetry("wallet", config.version)

    async def main() -> None:
        runner = GrpcServiceRunner(
            config=config,
            registrations=[
                ServiceRegistration(
                    SERVICE,
                    lambda _servicer, server: server.add_generic_rpc_handlers((_echo_handler(),)),
                    None,
                )
            ],
            verifier=TokenVerifier(config.auth),
        )
        gc.collect()
        gc.freeze()  # as kit.service.run_service does
        runner.on_close.append(lambda: asyncio.to_thread(telemetry.shutdown))
        await runner.run_until_signalled()

    asyncio.run(main())


async def echo_workload(channel: Any, spec: dict[str, Any], worker_index: int) -> Any:
    """One Echo call, the request serialized once, the metadata a Peony client sends."""
    request_type, _ = _messages()
    payload = request_type(service="peony.bench").SerializeToString()
    metadata = (
        ("authorization", f"Bearer {spec['token']}"),
        ("peony-timeout-ms", str(int(TIMEOUT_S * 1000))),
    )
    call = channel.unary_unary(METHOD)

    async def one(_client: int) -> Any:
        return await call(payload, metadata=metadata, timeout=TIMEOUT_S)

    return one


async def _wait_ready(addr: str, token: str, child: Any, limit_s: float = 60.0) -> None:
    import grpc

    request_type, _ = _messages()
    deadline = time.monotonic() + limit_s
    async with grpc.aio.insecure_channel(addr) as channel:
        call = channel.unary_unary(METHOD)
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
            try:
                await call(
                    request_type().SerializeToString(),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=1.0,
                )
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.2)
    raise TimeoutError(f"{addr} did not answer within {limit_s:.0f}s\n{child.log_tail()}")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.devstack import free_port
    from kit.auth import mint_dev_token
    from kit.config import DEV_JWT_SECRET

    token = mint_dev_token(tenant="bench", subject="svc:bench", roles=["service"], secret=DEV_JWT_SECRET)
    modes = ("bare", "kit_base", "kit") if args.base_tree else ("bare", "kit")
    windows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with Children() as children:
        for rnd in range(args.rounds):
            for mode in modes:
                port = free_port()
                env = child_env(None if mode == "bare" else KIT_ENV)
                if mode == "kit_base":
                    env[BASE_TREE_VAR] = str(Path(args.base_tree).resolve())
                server = children.spawn(
                    f"{mode}-{rnd}",
                    [
                        sys.executable,
                        "-m",
                        "bench.bench_server_overhead",
                        "serve",
                        "--mode",
                        "bare" if mode == "bare" else "kit",
                        "--port",
                        str(port),
                    ],
                    env,
                )
                addr = f"127.0.0.1:{port}"
                asyncio.run(_wait_ready(addr, token, server))
                profile = None
                if args.py_spy and mode == "kit":
                    Path(args.py_spy).mkdir(parents=True, exist_ok=True)
                    profile = (server.pid, Path(args.py_spy) / f"kit-{rnd}.txt", "raw")
                fig = run_load(
                    children,
                    target=addr,
                    workload=WORKLOAD,
                    spec={"token": token},
                    clients=args.clients,
                    procs=args.procs,
                    warmup=args.warmup,
                    duration=args.duration,
                    watch_pids={"server": server.pid},
                    profile=profile,
                )
                fig["cpu_ms_per_call"] = cpu_ms_per_call(fig["cpu"], fig["rps"])
                fig["load_average"] = os.getloadavg()[0]
                show_figures(f"{mode} round {rnd}", fig)
                windows[mode].append(fig)
                children.stop(server)

    def median(mode: str, key: str) -> float:
        values = [w["cpu_ms_per_call"].get(key) if key == "server" else w[key] for w in windows[mode]]
        return round(statistics.median(v for v in values if v is not None), 4)

    bare_cpu, kit_cpu = median("bare", "server"), median("kit", "server")
    bare_rps, kit_rps = median("bare", "rps"), median("kit", "rps")
    base: dict[str, Any] = {}
    if args.base_tree:
        base_cpu, base_rps = median("kit_base", "server"), median("kit_base", "rps")
        base = {
            "base_tree": args.base_tree,
            "kit_base_server_cpu_ms_per_call": base_cpu,
            "kit_base_over_bare_cpu_ms": round(base_cpu - bare_cpu, 4),
            "kit_base_rps": base_rps,
            "throughput_ratio_base": round(base_rps / bare_rps, 3) if bare_rps else None,
        }
    return {
        "benchmark": "server_overhead",
        "rpc": METHOD,
        "clients": args.clients,
        "load_procs": args.procs,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "machine": machine_info(),
        "bare_server_cpu_ms_per_call": bare_cpu,
        "kit_server_cpu_ms_per_call": kit_cpu,
        "kit_over_bare_cpu_ms": round(kit_cpu - bare_cpu, 4),
        "bare_rps": bare_rps,
        "kit_rps": kit_rps,
        "throughput_ratio": round(kit_rps / bare_rps, 3) if bare_rps else None,
        **base,
        "bare_p50_ms": median("bare", "p50_ms"),
        "kit_p50_ms": median("kit", "p50_ms"),
        "windows": {
            mode: [
                {k: w[k] for k in ("rps", "p50_ms", "p99_ms", "errors", "cpu_ms_per_call", "load_average")}
                for w in ws
            ]
            for mode, ws in windows.items()
        },
        "errors_total": sum(w["errors"] for ws in windows.values() for w in ws),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="one server process (started by the benchmark)")
    serve.add_argument("--mode", choices=("bare", "kit"), required=True)
    serve.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2, help="bare/kit window pairs, interleaved")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument(
        "--base-tree", help="also serve with this tree's kit (e.g. a `git archive` of the base), interleaved"
    )
    parser.add_argument("--py-spy", help="directory: profile the kit server's windows (not quotable)")
    args = parser.parse_args()
    if args.command == "serve":
        if args.mode == "bare":
            asyncio.run(_serve_bare(args.port))
        else:
            _serve_kit(args.port)
        return 0
    log(
        f"bench_server_overhead: {args.rounds} rounds of bare/kit, {args.duration}s each, "
        f"load average {os.getloadavg()}"
    )
    return run_benchmark(_run, args)


if __name__ == "__main__":
    sys.exit(main())
