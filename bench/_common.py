"""Shared machinery for Peony benchmarks (``bench/bench_*.py``).

What lives here, so every benchmark measures the same way:

- **child processes**: :class:`Children` starts servers and load workers in their own sessions
  (Ctrl-C reaches only the benchmark, which then stops them) with a parent-death signal, and
  stops every one of them on exit, exception or Ctrl-C;
- **the echo baseline**: a minimal ``grpc.aio`` server (``python -m bench._common echo``) with one
  unary method registered through ``grpc.method_handlers_generic_handler``, bytes in / bytes out,
  no interceptors, the same server options as ``kit.grpc_server.GrpcServiceRunner``;
- **the load generator**: ``python -m bench._common load`` runs N coroutines over ONE shared
  channel, each issuing unary calls back to back. A workload is a ``module:function`` factory
  (see :data:`WorkloadFactory`) so later benchmarks only write the per-call code. Several load
  processes share one wall-clock measurement window;
- **the open-loop generator**: ``python -m bench._common open-loop`` issues calls on a fixed
  schedule (Poisson or uniform arrivals at a given rate) whatever the answers, each with a
  deadline, and records every call (due time, how late it went out, latency, status); several
  processes share the rate (:func:`run_open_loop`, :func:`collect_open_loop`);
- **latency statistics** (:func:`summarize`) and CPU accounting for the window;
- **the result**: human progress goes to stderr (:func:`log`), exactly one JSON line to stdout
  (:func:`emit_result`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import importlib
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# The options kit.grpc_server.GrpcServiceRunner.start() gives every Peony server (defaults of
# kit.config): the echo baseline uses the very same ones.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.so_reuseport", 0),
]
# Client channel options (identical for the baseline and for the service under test). Round
# robin spreads each channel's calls over every address of an ``ipv4:a,b`` target (several
# replicas, as a headless Kubernetes Service would); with one address it is that one connection.
CLIENT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.lb_policy_name", "round_robin"),
]

ECHO_METHOD = "/peony.bench.v1.Echo/Echo"

PGBENCH_SCALE = 10
PGBENCH_JOBS = 2
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)

# A workload factory: ``async def factory(channel, spec, worker_index) -> call`` where
# ``call(client_index)`` performs ONE unary call and raises ``grpc.aio.AioRpcError`` on failure.
Call = Callable[[int], Awaitable[Any]]
WorkloadFactory = Callable[[Any, dict[str, Any], int], Awaitable[Call]]


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    """Human-readable progress: stderr only (stdout carries just the final JSON line)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_RESULT_STREAM = sys.stdout


def claim_stdout() -> None:
    """Keep stdout for the result line only: anything else printing to ``sys.stdout`` (kit's
    structlog handler writes there, e.g. "migrations applied") goes to stderr from now on."""
    global _RESULT_STREAM
    _RESULT_STREAM = sys.stdout
    sys.stdout = sys.stderr


def emit_result(result: dict[str, Any]) -> None:
    """The one machine-readable line a benchmark prints on stdout."""
    _RESULT_STREAM.write(json.dumps(result, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    _RESULT_STREAM.flush()


def machine_info() -> dict[str, Any]:
    import grpc

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(terse=True),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    return info


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def cpu_ms_per_call(cpu: dict[str, Any], rate: float | None) -> dict[str, float]:
    """``{"server": 1.2, "postgres": 0.4, …}``: CPU milliseconds per call (or per transaction) of
    each ``*_cores`` figure in ``cpu``, at ``rate`` calls per second."""
    if not rate:
        return {}
    return {
        key.removesuffix("_cores"): round(cores / rate * 1000, 3)
        for key, cores in cpu.items()
        if key.endswith("_cores") and isinstance(cores, int | float)
    }


def show_figures(name: str, fig: dict[str, Any]) -> None:
    """One progress line (stderr) for the figures of a :func:`run_load` window."""
    cpu = ", ".join(f"{k}={v}" for k, v in fig.get("cpu", {}).items())
    log(
        f"{name:16s} {fig['rps']:9.1f} calls/s  p50 {fig['p50_ms']} ms  p99 {fig['p99_ms']} ms  "
        f"errors {fig['errors']} {fig.get('errors_by_code', '')} [{cpu}]"
    )
    for sample in fig.get("error_samples", []):
        log(f"    error: {sample}")


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(latencies_us: list[int], errors: int, duration_s: float) -> dict[str, Any]:
    """Throughput and latency of the successful calls completed inside the window."""
    lat = sorted(latencies_us)
    n = len(lat)

    def ms(v: float) -> float | None:
        return None if math.isnan(v) else round(v / 1000, 3)

    return {
        "rps": round(n / duration_s, 1) if duration_s > 0 else 0.0,
        "p50_ms": ms(percentile(lat, 50)),
        "p90_ms": ms(percentile(lat, 90)),
        "p99_ms": ms(percentile(lat, 99)),
        "mean_ms": ms(sum(lat) / n) if n else None,
        "max_ms": ms(lat[-1]) if n else None,
        "calls": n,
        "errors": errors,
    }


# --------------------------------------------------------------------------------------------
# CPU accounting
# --------------------------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """user+system CPU seconds a process (all its threads) has used, from /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def reaped_children_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of the children ``pid`` has waited for (cutime+cstime), e.g. the backends a
    postmaster reaped: short-lived connections (pgbench's) leave no trace in the live tree."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / _CLK_TCK


def process_tree_cpu_seconds(root_pid: int) -> float | None:
    """CPU seconds of ``root_pid`` and every live descendant (e.g. a postmaster and its backends)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    if root_pid not in parents:
        return None
    tree = {root_pid}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(process_cpu_seconds(pid) or 0.0 for pid in tree)


def machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def busy_cores(sample_s: float = 1.0) -> float | None:
    """How many cores the machine keeps busy right now (other work skews a benchmark)."""
    a = machine_cpu_ticks()
    time.sleep(sample_s)
    b = machine_cpu_ticks()
    if not a or not b or b[1] <= a[1]:
        return None
    return round((b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1), 2)


# --------------------------------------------------------------------------------------------
# child processes
# --------------------------------------------------------------------------------------------


def _pdeathsig(sig: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def _set() -> None:
        prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG

    return _set


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child Python process: ours, with the repository root importable."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "gen")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Children:
    """Every process a benchmark starts; ``stop_all()`` (also via ``with``) stops them all."""

    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="peony-bench-logs-")))
    children: list[Child] = field(default_factory=list)

    def spawn(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None, *, capture: bool = True
    ) -> Child:
        """Start ``argv`` in its own session; stdout+stderr go to a log file (``capture``)."""
        log_path = self.log_dir / f"{name}.log" if capture else None
        out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=str(REPO_ROOT),
                env=env if env is not None else child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out if out else None,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
                preexec_fn=_pdeathsig(signal.SIGTERM),
            )
        finally:
            if out:
                out.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 15.0) -> None:
        """SIGTERM (services drain gracefully), then SIGKILL of the child's process group."""
        proc = child.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{child.name} (pid {proc.pid}) did not stop within {timeout:.0f}s, killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(10)
        with contextlib.suppress(ValueError):
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as exc:
                log(f"could not stop {child.name}: {exc}")

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks clean up as for Ctrl-C."""

    def _handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _handler)


# --------------------------------------------------------------------------------------------
# readiness
# --------------------------------------------------------------------------------------------


async def wait_for_health(
    addr: str, child: Child | None = None, limit_s: float = 90.0, service: str = ""
) -> None:
    """Until ``grpc.health.v1`` reports SERVING for ``service`` at ``addr``."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + limit_s
    last = "no answer"
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if child is not None and not child.alive():
                code = child.process.returncode
                raise RuntimeError(
                    f"{child.name} exited with code {code} while starting:\n{child.log_tail()}"
                )
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
            except grpc.aio.AioRpcError as exc:
                last = exc.code().name
            await asyncio.sleep(0.2)
    tail = child.log_tail() if child is not None else ""
    raise TimeoutError(f"{addr} not SERVING within {limit_s:.0f}s (last: {last})\n{tail}")


async def wait_for_echo(addr: str, child: Child | None = None, limit_s: float = 30.0) -> None:
    import grpc

    deadline = time.monotonic() + limit_s
    async with grpc.aio.insecure_channel(addr) as channel:
        call = channel.unary_unary(ECHO_METHOD)
        while time.monotonic() < deadline:
            if child is not None and not child.alive():
                code = child.process.returncode
                raise RuntimeError(f"{child.name} exited with code {code}:\n{child.log_tail()}")
            try:
                await call(b"ping", timeout=1.0)
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1)
    raise TimeoutError(f"echo server at {addr} did not answer within {limit_s:.0f}s")


def start_echo(children: Children, payload_bytes: int) -> tuple[Child, str]:
    """The bare echo baseline server as a child process, answering ``payload_bytes`` per call;
    returns it and its address once it answers."""
    from cli.devstack import free_port

    port = free_port()
    echo = children.spawn(
        "echo",
        [sys.executable, "-m", "bench._common", "echo", "--port", str(port),
         "--payload-bytes", str(payload_bytes)],
    )  # fmt: skip
    addr = f"127.0.0.1:{port}"
    asyncio.run(wait_for_echo(addr, echo))
    return echo, addr


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def plain_pg_url(url: str) -> str:
    """``url`` with a libpq/asyncpg scheme (``postgresql://``), whatever driver suffix it had."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    return urlunsplit(("postgresql" if scheme == "postgres" else scheme, *parts[1:]))


async def pg_settings(url: str) -> dict[str, str]:
    """What the server really runs with: ``fsync``, ``synchronous_commit``, ``server_version``."""
    import asyncpg

    conn = await asyncpg.connect(plain_pg_url(url), timeout=10)
    try:
        return {
            k: await conn.fetchval(f"SHOW {k}") for k in ("fsync", "synchronous_commit", "server_version")
        }
    finally:
        await conn.close()


async def wait_outbox_drained(url: str, limit_s: float = 120.0) -> int:
    """Until a service's relay has published every outbox row (so it does not run during a
    measurement); returns the rows still pending when ``limit_s`` ran out (0 = drained)."""
    import asyncpg

    conn = await asyncpg.connect(plain_pg_url(url), timeout=10)
    try:
        deadline = time.monotonic() + limit_s
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if pending == 0 or time.monotonic() > deadline:
                return int(pending)
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# the echo baseline server
# --------------------------------------------------------------------------------------------


async def _echo_server(port: int, payload_bytes: int) -> None:
    import grpc

    rng = random.Random(7)
    payload = bytes(rng.getrandbits(8) for _ in range(payload_bytes))

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return payload

    # No serializers: request and response stay bytes (identity), no protobuf work at all.
    handler = grpc.method_handlers_generic_handler(
        ECHO_METHOD.split("/")[1], {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"echo: cannot bind 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


# --------------------------------------------------------------------------------------------
# the load generator
# --------------------------------------------------------------------------------------------


class CallFailed(Exception):
    """A failed call of a workload that does not speak gRPC (e.g. an HTTP status other than 200)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


async def _load_worker(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    import grpc

    factory: WorkloadFactory = resolve(args.workload)
    # Wall clock -> perf_counter, so every worker process shares the parent's window.
    offset = time.time() - time.perf_counter()
    start = args.start_at - offset
    measure_from = start + args.warmup
    measure_to = measure_from + args.duration

    latencies: list[int] = []
    errors = 0
    warmup_errors = 0
    samples: list[str] = []
    codes: dict[str, int] = {}  # measured-window errors by gRPC status code

    async with contextlib.AsyncExitStack() as resources:
        channel = None
        # A workload over another protocol (REST through the gateway: bench_gateway) opens its own
        # client and marks its factory ``needs_channel = False``.
        if getattr(factory, "needs_channel", True):
            channel = await resources.enter_async_context(
                grpc.aio.insecure_channel(args.target, options=CLIENT_OPTIONS)
            )
            await asyncio.wait_for(channel.channel_ready(), 30)
        call = await factory(channel, spec, args.worker_index)
        if hasattr(call, "aclose"):
            resources.push_async_callback(call.aclose)
        delay = start - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            print(f"load worker {args.worker_index}: started {-delay:.2f}s late", file=sys.stderr)

        async def client(ci: int) -> None:
            nonlocal errors, warmup_errors
            perf = time.perf_counter
            record = latencies.append
            while True:
                t0 = perf()
                if t0 >= measure_to:
                    return
                code = ""
                try:
                    await call(ci)
                    ok = True
                except grpc.aio.AioRpcError as exc:
                    ok = False
                    code = exc.code().name
                    if len(samples) < 5:
                        samples.append(f"{code}: {exc.details()}")
                except CallFailed as exc:
                    ok = False
                    code = exc.code
                    if len(samples) < 5:
                        samples.append(f"{code}: {exc.detail}")
                t1 = perf()
                if measure_from <= t1 < measure_to:
                    if ok:
                        record(int((t1 - t0) * 1e6))
                    else:
                        errors += 1
                        codes[code] = codes.get(code, 0) + 1
                elif not ok and t1 < measure_from:
                    warmup_errors += 1

        await asyncio.gather(*(client(i) for i in range(args.clients)))
    return {
        "worker": args.worker_index,
        "latencies_us": latencies,
        "errors": errors,
        "warmup_errors": warmup_errors,
        "error_samples": samples,
        "errors_by_code": codes,
    }


def run_load(
    children: Children,
    *,
    target: str,
    workload: str,
    spec: dict[str, Any],
    clients: int,
    procs: int,
    warmup: float,
    duration: float,
    watch_pids: dict[str, int] | None = None,
    watch_trees: dict[str, int] | None = None,
    profile: tuple[int, Path, str] | None = None,
    startup_allowance: float = 3.0,
) -> dict[str, Any]:
    """Run ``workload`` against ``target`` from ``procs`` worker processes sharing ``clients``
    coroutines (one channel per process) and return the merged figures of the window.

    ``watch_pids`` (name -> pid) get their CPU use during the measurement window reported, and
    ``watch_trees`` (name -> pid) that of the process and all its descendants.
    ``profile`` = (pid, output file, py-spy format) samples that process with py-spy during the
    window (the profiler costs CPU too: do not quote figures from profiled runs).
    """
    if clients < procs:
        raise ValueError("need at least one client per load process")
    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-load-", dir=children.log_dir))
    spec_file = tmp / "spec.json"
    spec_file.write_text(json.dumps(spec))
    start_at = time.time() + startup_allowance
    workers: list[tuple[Child, Path]] = []
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    for i, share in enumerate(shares):
        out = tmp / f"worker-{i}.json"
        argv = [
            sys.executable, "-m", "bench._common", "load",
            "--target", target, "--workload", workload, "--spec-file", str(spec_file),
            "--clients", str(share), "--worker-index", str(i), "--start-at", repr(start_at),
            "--warmup", repr(warmup), "--duration", repr(duration), "--out", str(out),
        ]  # fmt: skip
        workers.append((children.spawn(f"load-{workload.rsplit(':', 1)[-1]}-{i}", argv), out))

    # CPU of the watched processes and of the machine over the measurement window only.
    cpu: dict[str, Any] = {}
    sleep_until_wall(start_at + warmup)
    profiler = None
    if profile is not None:
        pid, out_file, fmt = profile
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = [pyspy, "record", "--nonblocking", "-r", "100", "-d", str(max(1, int(duration))),
                "-p", str(pid), "-f", fmt, "-o", str(out_file)]  # fmt: skip
        profiler = children.spawn(f"py-spy-{pid}", argv)
    before = {name: process_cpu_seconds(pid) for name, pid in (watch_pids or {}).items()}
    before_trees = {name: process_tree_cpu_seconds(pid) for name, pid in (watch_trees or {}).items()}
    before_loaders = [process_cpu_seconds(c.pid) for c, _ in workers]
    mach_before = machine_cpu_ticks()
    sleep_until_wall(start_at + warmup + duration)
    for name, pid in (watch_pids or {}).items():
        now = process_cpu_seconds(pid)
        if now is not None and before[name] is not None:
            cpu[f"{name}_cores"] = round((now - before[name]) / duration, 2)
    for name, pid in (watch_trees or {}).items():
        now = process_tree_cpu_seconds(pid)
        if now is not None and before_trees[name] is not None:
            cpu[f"{name}_cores"] = round((now - before_trees[name]) / duration, 2)
    loader_now = [process_cpu_seconds(c.pid) for c, _ in workers]
    if all(v is not None for v in (*loader_now, *before_loaders)):
        used = sum((a or 0.0) - (b or 0.0) for a, b in zip(loader_now, before_loaders, strict=True))
        cpu["load_generator_cores"] = round(used / duration, 2)
    mach_after = machine_cpu_ticks()
    if mach_before and mach_after and mach_after[1] > mach_before[1]:
        busy = (mach_after[0] - mach_before[0]) / (mach_after[1] - mach_before[1])
        cpu["machine_busy_cores"] = round(busy * (os.cpu_count() or 1), 2)

    if profiler is not None:
        try:
            profiler.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log("py-spy did not finish in time")
        children.stop(profiler)
        log(f"profile written to {profile[1] if profile else ''} ({profiler.log_tail(3).strip()})")
    latencies: list[int] = []
    errors = warmup_errors = 0
    samples: list[str] = []
    by_code: dict[str, int] = {}
    for child, out in workers:
        rc = child.process.wait(timeout=duration + warmup + 60)
        children.stop(child)
        if rc != 0 or not out.exists():
            raise RuntimeError(f"{child.name} failed (exit {rc}):\n{child.log_tail()}")
        res = json.loads(out.read_text())
        latencies.extend(res["latencies_us"])
        errors += res["errors"]
        warmup_errors += res["warmup_errors"]
        samples.extend(res["error_samples"])
        for code, n in res.get("errors_by_code", {}).items():
            by_code[code] = by_code.get(code, 0) + n
    figures = summarize(latencies, errors, duration)
    if by_code:
        figures["errors_by_code"] = dict(sorted(by_code.items()))
    if warmup_errors:
        figures["warmup_errors"] = warmup_errors
    if samples:
        figures["error_samples"] = sorted(set(samples))[:5]
    figures["cpu"] = cpu
    return figures


# --------------------------------------------------------------------------------------------
# the open-loop load generator
# --------------------------------------------------------------------------------------------

# An open-loop workload factory: ``async def factory(channel, spec, worker_index) -> prepare`` where
# ``prepare(seq)`` returns ``(key, send)``: the key to record for call number ``seq`` of this worker
# (its request_id, say, so the benchmark can look its effect up afterwards) and ``send(timeout)``,
# the coroutine function performing that ONE unary call (raising ``grpc.aio.AioRpcError`` on failure).
OpenLoopCall = Callable[[float], Awaitable[Any]]
OpenLoopFactory = Callable[[Any, dict[str, Any], int], Awaitable[Callable[[int], tuple[str, OpenLoopCall]]]]

# How an open-loop call ended: "ok", "refused" (RESOURCE_EXHAUSTED: the server shed it) or the
# name of any other gRPC status code (an error).
REFUSED = "RESOURCE_EXHAUSTED"


def _has_retry_info(exc: Any) -> bool:
    """Whether a failed call's rich status (``grpc-status-details-bin``) carries a RetryInfo."""
    from google.rpc import status_pb2

    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(bytes(value))
            return any(d.type_url.endswith("/google.rpc.RetryInfo") for d in status.details)
    return False


async def _open_loop_worker(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    """Issues calls at ``args.rate`` per second on a fixed schedule (Poisson or uniform
    arrivals), whatever the answers: a slow server does not slow the offered load down (the
    closed-loop generator above would). Every call is recorded: when it was due, how late the
    generator sent it, how long it took, how it ended."""
    import grpc

    factory: OpenLoopFactory = resolve(args.workload)
    offset = time.time() - time.perf_counter()  # wall clock -> perf_counter
    start = args.start_at - offset
    stop = start + args.warmup + args.duration
    rng = random.Random(f"{args.seed}-{args.worker_index}")
    # [seq, key, due_s (from start), lag_us, latency_us, outcome, retry_info, refused_by_the_client]
    records: list[list[Any]] = []
    if getattr(args, "client_stack", "raw") == "kit":
        # As every Peony caller builds its channel: balanced, health-checked, traced, and throttled
        # on the client side (kit/throttle.py: PEONY_CLIENT_THROTTLE* from the environment).
        from kit.grpc_client import client_channel_options, client_target
        from kit.telemetry import client_interceptors
        from kit.throttle import ThrottledLocally

        channel_cm = grpc.aio.insecure_channel(
            client_target(args.target),
            options=client_channel_options(),
            interceptors=client_interceptors(args.target),
        )
    else:
        ThrottledLocally = ()  # nothing is refused locally on a raw channel
        channel_cm = grpc.aio.insecure_channel(args.target, options=CLIENT_OPTIONS)

    async with channel_cm as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        prepare = await factory(channel, spec, args.worker_index)

        async def one(seq: int, due: float) -> None:
            key, send = prepare(seq)
            sent = time.perf_counter()
            retry_info = local = False
            try:
                await send(args.deadline)
                outcome = "ok"
            except grpc.aio.AioRpcError as exc:
                outcome = exc.code().name
                if outcome == REFUSED:
                    retry_info = _has_retry_info(exc)
                    local = isinstance(exc, ThrottledLocally)
            done = time.perf_counter()
            lag_us, latency_us = int((sent - due) * 1e6), int((done - sent) * 1e6)
            records.append([seq, key, round(due - start, 6), lag_us, latency_us, outcome, retry_info, local])

        cpu_at_start = time.process_time()
        delay = start - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            print(f"open-loop worker {args.worker_index}: started {-delay:.2f}s late", file=sys.stderr)
        in_flight: set[asyncio.Task[None]] = set()
        due, seq = start, 0
        while True:
            if args.arrivals == "poisson":
                due += rng.expovariate(args.rate)
            else:
                due = start + (seq + 1) / args.rate  # not accumulated: no drift
            if due >= stop:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Behind schedule (the machine is busy): send at once, the lag is recorded per call.
            task = asyncio.create_task(one(seq, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            seq += 1
        if in_flight:
            await asyncio.wait(list(in_flight))
        cpu_s = time.process_time() - cpu_at_start
    return {"worker": args.worker_index, "records": records, "cpu_s": round(cpu_s, 3)}


def run_open_loop(
    children: Children,
    *,
    target: str,
    workload: str,
    spec: dict[str, Any],
    rate: float,
    procs: int,
    warmup: float,
    duration: float,
    deadline_s: float,
    arrivals: str = "poisson",
    seed: str = "peony",
    startup_allowance: float = 3.0,
    client_stack: str = "raw",
) -> tuple[float, list[tuple[Child, Path]]]:
    """Starts ``procs`` open-loop worker processes sharing ``rate`` calls per second (each its
    own channel and its own arrival schedule) for ``warmup + duration`` seconds, every call with
    a ``deadline_s`` deadline. Returns the wall-clock start and the workers; collect their
    records with :func:`collect_open_loop` once they exit (at the latest ``deadline_s`` after the
    last call was due)."""
    if procs < 1 or rate <= 0:
        raise ValueError("need procs >= 1 and rate > 0")
    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-open-", dir=children.log_dir))
    spec_file = tmp / "spec.json"
    spec_file.write_text(json.dumps(spec))
    start_at = time.time() + startup_allowance
    workers: list[tuple[Child, Path]] = []
    for i in range(procs):
        out = tmp / f"worker-{i}.json"
        argv = [
            sys.executable, "-m", "bench._common", "open-loop",
            "--target", target, "--workload", workload, "--spec-file", str(spec_file),
            "--rate", repr(rate / procs), "--arrivals", arrivals, "--seed", seed,
            "--deadline", repr(deadline_s), "--worker-index", str(i), "--start-at", repr(start_at),
            "--warmup", repr(warmup), "--duration", repr(duration), "--out", str(out),
            "--client-stack", client_stack,
        ]  # fmt: skip
        workers.append((children.spawn(f"open-{workload.rsplit(':', 1)[-1]}-{i}", argv), out))
    return start_at, workers


def collect_open_loop(
    children: Children, workers: list[tuple[Child, Path]], limit_s: float
) -> dict[str, Any]:
    """Waits for the workers of :func:`run_open_loop` and merges what they recorded:
    ``{"records": [...], "cpu_s": total CPU seconds of the generator processes}``."""
    records: list[list[Any]] = []
    cpu_s = 0.0
    for child, out in workers:
        rc = child.process.wait(timeout=limit_s)
        children.stop(child)
        if rc != 0 or not out.exists():
            raise RuntimeError(f"{child.name} failed (exit {rc}):\n{child.log_tail()}")
        res = json.loads(out.read_text())
        records.extend([res["worker"], *r] for r in res["records"])
        cpu_s += res["cpu_s"]
    return {"records": records, "cpu_s": round(cpu_s, 3)}


def run_pgbench(
    children: Children,
    server_url: str,
    db_name: str,
    *,
    clients: int,
    duration: float,
    warmup: float,
    postgres_pid: int | None,
) -> dict[str, Any]:
    """The baseline of every database-bound benchmark: ``pgbench -i -s 10`` on ``db_name`` (a
    database of the same server the service uses), then the builtin tpcb-like with ``clients``
    connections and 2 threads, ``-M prepared``, for ``duration`` seconds after ``warmup``."""
    from cli.devstack import database_url, postgres_bin_dir

    exe = str(postgres_bin_dir() / "pgbench")
    url = plain_pg_url(database_url(server_url, db_name))
    env = child_env({"PGAPPNAME": "peony-bench-pgbench"})

    def run(name: str, argv: list[str], limit_s: float) -> str:
        child = children.spawn(name, [exe, *argv, url], env)
        try:
            rc = child.process.wait(timeout=limit_s)
        finally:
            children.stop(child)
        text = child.log_path.read_text(errors="replace") if child.log_path else ""
        if rc != 0:
            raise RuntimeError(f"{name} failed (exit {rc}):\n{child.log_tail()}")
        return text

    started = time.monotonic()
    run("pgbench-init", ["-i", "-s", str(PGBENCH_SCALE), "-q"], 900)
    log(f"pgbench -i -s {PGBENCH_SCALE}: {time.monotonic() - started:.1f}s")
    seconds = max(1, round(duration))
    common = ["-c", str(clients), "-j", str(PGBENCH_JOBS), "-M", "prepared"]
    if warmup >= 1:
        run("pgbench-warmup", [*common, "-T", str(round(warmup))], warmup + 120)

    def pg_cpu() -> float | None:
        if not postgres_pid:
            return None
        live, reaped = process_tree_cpu_seconds(postgres_pid), reaped_children_cpu_seconds(postgres_pid)
        return None if live is None or reaped is None else live + reaped

    before_pg = pg_cpu()
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    mach_before = machine_cpu_ticks()
    t0 = time.monotonic()
    text = run("pgbench", [*common, "-T", str(seconds)], seconds + 120)
    wall = time.monotonic() - t0
    cpu: dict[str, Any] = {}
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after_children.ru_utime + after_children.ru_stime) - (
        before_children.ru_utime + before_children.ru_stime
    )
    cpu["pgbench_client_cores"] = round(used / wall, 2)
    if before_pg is not None:
        now = pg_cpu()
        if now is not None:
            cpu["postgres_cores"] = round((now - before_pg) / wall, 2)
    mach_after = machine_cpu_ticks()
    if mach_before and mach_after and mach_after[1] > mach_before[1]:
        busy = (mach_after[0] - mach_before[0]) / (mach_after[1] - mach_before[1])
        cpu["machine_busy_cores"] = round(busy * (os.cpu_count() or 1), 2)
    tps = _TPS.search(text)
    if tps is None:
        raise RuntimeError(f"no tps line in pgbench's output:\n{text[-2000:]}")
    latency = _LATENCY.search(text)
    failed = _FAILED.search(text)
    return {
        "tps": round(float(tps.group(1)), 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed_transactions": int(failed.group(1)) if failed else None,
        "scale": PGBENCH_SCALE,
        "clients": clients,
        "jobs": PGBENCH_JOBS,
        "duration_s": seconds,
        "mode": "tpcb-like, -M prepared",
        "cpu": cpu,
    }


def run_benchmark(run: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace) -> int:
    """What every benchmark's `main` does once its arguments are checked: stdout reserved for the
    one JSON line, SIGTERM turned into a clean stop of every child, the result emitted. Exit
    code 0, 1 when a measured window had errors, 130 when interrupted."""
    claim_stdout()
    raise_on_sigterm()
    try:
        result = run(args)
    except KeyboardInterrupt:
        log("interrupted; every process started by the benchmark was stopped")
        return 130
    emit_result(result)
    return 0 if result["errors_total"] == 0 else 1


def sleep_until_wall(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


# --------------------------------------------------------------------------------------------
# `python -m bench._common echo|load|open-loop`
# --------------------------------------------------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench._common")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("echo", help="the bare grpc.aio echo baseline server")
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--payload-bytes", type=int, default=600)
    ld = sub.add_parser("load", help="one load-generator process")
    ld.add_argument("--target", required=True)
    ld.add_argument("--workload", required=True, help="module:factory")
    ld.add_argument("--spec-file")
    ld.add_argument("--clients", type=int, required=True)
    ld.add_argument("--worker-index", type=int, default=0)
    ld.add_argument("--start-at", type=float, required=True, help="wall-clock start of the warm-up")
    ld.add_argument("--warmup", type=float, required=True)
    ld.add_argument("--duration", type=float, required=True)
    ld.add_argument("--out", required=True)
    ol = sub.add_parser("open-loop", help="one open-loop load-generator process")
    ol.add_argument("--target", required=True)
    ol.add_argument("--workload", required=True, help="module:factory (see OpenLoopFactory)")
    ol.add_argument("--spec-file")
    ol.add_argument("--rate", type=float, required=True, help="calls per second of this process")
    ol.add_argument("--arrivals", choices=("poisson", "uniform"), default="poisson")
    ol.add_argument("--seed", default="peony")
    ol.add_argument("--deadline", type=float, required=True, help="seconds, every call")
    ol.add_argument("--worker-index", type=int, default=0)
    ol.add_argument("--start-at", type=float, required=True, help="wall-clock start of the warm-up")
    ol.add_argument("--warmup", type=float, required=True)
    ol.add_argument("--duration", type=float, required=True)
    ol.add_argument("--out", required=True)
    ol.add_argument(
        "--client-stack",
        choices=("raw", "kit"),
        default="raw",
        help="raw: a bare grpc.aio channel; kit: the kit's client stack (client-side throttling included)",
    )
    args = p.parse_args(argv)
    if args.command == "echo":
        asyncio.run(_echo_server(args.port, args.payload_bytes))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    spec = json.loads(Path(args.spec_file).read_text()) if args.spec_file else {}
    worker = _open_loop_worker if args.command == "open-loop" else _load_worker
    result = asyncio.run(worker(args, spec))
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
