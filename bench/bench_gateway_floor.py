"""What an HTTP front in Python costs at least on this machine: floors under the REST gateway.

    .venv/bin/python bench/bench_gateway_floor.py [--duration 10] [--warmup 2] [--clients 32] \
        [--procs 2] [--members 500] [--fronts floor_fixed floor_fixed_aiohttp_parser floor_grpc gateway] \
        [--rounds 1] [--gateway-env KEY=VALUE ...] [--keep]

Progress goes to stderr; stdout gets exactly one JSON line with every figure (bench/README.md,
"bench_gateway_floor").

The same load as ``bench/bench_gateway.py`` (its ``rest_get_workload``: aiohttp keep-alive clients,
``GET /v1/members/{id}`` on random members, body read) against one members backend (one
``peony serve members`` process on a fresh, migrated database with ``--members`` members), each
front in its own process at ``--clients`` clients and at 1 client; the front's CPU per request from
/proc (utime + stime over the measured window / requests served):

- ``floor_fixed``: the leanest HTTP/1.1 server Python runs here: an ``asyncio.Protocol`` on uvloop
  with the ``httptools`` parser, answering every ``GET /v1/members/{id}`` with a fixed JSON body
  (a real GetMember response, rendered once) in one ``write``. No backend call.
- ``floor_fixed_aiohttp_parser``: the same with aiohttp's own C parser (``aiohttp._http_parser``)
  instead of httptools: which parser is cheaper.
- ``floor_grpc``: ``floor_fixed`` doing the real backend call per request: one ``grpc.aio`` unary
  GetMember on a pre-built multicallable (the gateway's channel options: round_robin, keepalives,
  retry policy), the caller's ``Authorization`` passed on, the reply rendered by
  ``gateway/render.py`` + ``gateway.transcode.response_json``; backend errors mapped by
  ``gateway.errors.rpc_error_to_http``. No logging, no telemetry, no rate limits.
- ``floor_grpc_aiohttp_parser``: ``floor_grpc`` with aiohttp's parser (optional front).
- ``floor_grpc_bare_channel``: ``floor_grpc`` on a channel with grpc's defaults (no options: no
  round_robin, retry policy or keepalives): what kit/grpc_client.py's options cost (optional front).
- ``floor_gateway_core``: the production gateway's own per-request code (``Gateway.handle``:
  server span, rate limits, routing, transcoding, the traced backend call, rendering, access-log
  line, HTTP metrics), logging and OpenTelemetry configured as ``peony gateway`` does (production
  defaults), on the lean protocol instead of aiohttp's server: what a gateway with a lean HTTP
  front for the JSON API would cost (a prototype: the request handed to ``handle`` is a minimal
  stand-in for aiohttp's, and only what ``GET /v1/members/{id}`` needs of it).
- ``gateway``: the production gateway (``peony gateway``, production defaults as in bench_gateway:
  access log at INFO, OpenTelemetry SDK on with its default sampler and no exporter endpoint,
  rate limits on far above the load, auth checked by the backend).
- ``gateway_lean``: the gateway with ``PEONY_LOG_LEVEL=WARNING`` and ``OTEL_SDK_DISABLED=true``
  (optional front).

``--rounds N`` repeats the sequence of fronts N times (a, b, c, a, b, c ...) so that each figure
is taken interleaved with the others under the same background load; every window is reported
and ``summary`` has the median per front.

``python -m bench.bench_gateway_floor serve ...`` runs one floor server (what the benchmark starts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import (
    Children,
    busy_cores,
    child_env,
    cpu_ms_per_call,
    log,
    machine_info,
    plain_pg_url,
    run_benchmark,
    run_load,
    show_figures,
)
from gateway.errors import rpc_error_to_http
from gateway.render import message_to_dict
from gateway.transcode import response_json

TARGET_GATEWAY_CPU_MS = 0.5  # issue 11's goal for the gateway's CPU per request
GET_MEMBER = "/peony.members.v1.MembersService/GetMember"
MEMBERS_PREFIX = b"/v1/members/"
FLOOR_FRONTS = {
    # name -> (mode, parser)
    "floor_fixed": ("fixed", "httptools"),
    "floor_fixed_aiohttp_parser": ("fixed", "aiohttp"),
    "floor_grpc": ("grpc", "httptools"),
    "floor_grpc_aiohttp_parser": ("grpc", "aiohttp"),
    "floor_grpc_bare_channel": ("grpc_bare", "httptools"),
    "floor_gateway_core": ("gateway_core", "httptools"),
}
GATEWAY_FRONTS = {
    "gateway": {},
    "gateway_lean": {"PEONY_LOG_LEVEL": "WARNING", "OTEL_SDK_DISABLED": "true"},
}
DEFAULT_FRONTS = ["floor_fixed", "floor_fixed_aiohttp_parser", "floor_grpc", "gateway"]


# --------------------------------------------------------------------------------------------
# the floor server (runs in its own process: `python -m bench.bench_gateway_floor serve`)
# --------------------------------------------------------------------------------------------

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests"}


def _http_response(status: int, body: bytes, keep_alive: bool) -> bytes:
    reason = _REASONS.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n" % (
        status,
        reason,
        len(body),
    )
    if not keep_alive:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


class _Backend:
    """What a floor server answers a ``GET /v1/members/{id}`` with: a fixed body, or GetMember."""

    def __init__(self, mode: str, fixed_body: bytes, members_target: str):
        self.mode = mode
        self.fixed = _http_response(200, fixed_body, True)
        self.fixed_close = _http_response(200, fixed_body, False)
        self.members_target = members_target
        self.get_member: Any = None
        self.channel: Any = None

    async def open(self) -> None:
        if self.mode == "fixed":
            return
        if self.mode == "gateway_core":
            self.core = _GatewayCore()
            await self.core.gateway.open()
            return
        import grpc
        from peony.members.v1 import members_service_pb2 as pb

        from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target

        # The gateway's own channel configuration (gateway/app.py: _channel_options).
        options = client_channel_options(
            ClientChannelSettings(), retries={}, max_message_bytes=4 * 1024 * 1024
        )
        self.channel = grpc.aio.insecure_channel(client_target(self.members_target), options=options)
        self.get_member = self.channel.unary_unary(
            GET_MEMBER,
            request_serializer=pb.GetMemberRequest.SerializeToString,
            response_deserializer=pb.GetMemberResponse.FromString,
        )
        self.request_class = pb.GetMemberRequest
        self.rpc_error = grpc.aio.AioRpcError

    def answer_at_once(self, path: bytes, keep_alive: bool) -> bytes | None:
        """The response when no backend call is needed (probe, unknown path, fixed mode), else None."""
        if path in (b"/healthz", b"/readyz"):
            return _http_response(200, b'{"status":"ok"}', keep_alive)
        if not path.startswith(MEMBERS_PREFIX) or len(path) == len(MEMBERS_PREFIX):
            return _http_response(404, b'{"error":"no route"}', keep_alive)
        if self.mode == "fixed":
            return self.fixed if keep_alive else self.fixed_close
        return None

    async def call(self, path: bytes, authorization: bytes | None, keep_alive: bool) -> bytes:
        """The response for ``GET /v1/members/{id}`` from members' GetMember, rendered as the gateway does."""
        name = path[4:].decode("utf-8", "replace")  # "members/{id}"
        metadata = (("authorization", authorization.decode("latin-1")),) if authorization else ()
        try:
            reply = await self.get_member(self.request_class(name=name), timeout=5.0, metadata=metadata)
        except self.rpc_error as exc:
            status, payload = rpc_error_to_http(exc, backend="members")
            return _http_response(status, response_json(payload), keep_alive)
        return _http_response(200, response_json(message_to_dict(reply)), keep_alive)


class _StandInRequest:
    """What ``Gateway.handle`` reads of an aiohttp request, for a GET without a body (prototype)."""

    __slots__ = ("headers", "method", "rel_url", "remote")
    body_exists = False
    content_length = None

    def __init__(self, method: str, url: bytes, headers: Any):
        from yarl import URL

        self.method = method
        self.rel_url = URL(url.decode("latin-1"), encoded=True)
        self.headers = headers
        self.remote = "127.0.0.1"

    async def read(self) -> bytes:
        return b""


class _GatewayCore:
    """The production ``Gateway`` (gateway/app.py), opened without aiohttp's server around it."""

    def __init__(self) -> None:
        from gateway.app import GATEWAY_KEY, build_app
        from kit.config import load_config
        from kit.logging import configure_logging
        from kit.telemetry import configure_telemetry

        config = load_config("gateway")
        configure_logging("gateway", config.log_level, config.log_format)
        self.telemetry = configure_telemetry("gateway", config.version)
        self.gateway = build_app(config)[GATEWAY_KEY]

    async def respond(self, method: bytes, url: bytes, headers: Any, keep_alive: bool) -> bytes:
        response = await self.gateway.handle(_StandInRequest(method.decode("ascii"), url, headers))
        body = response.body or b""
        head = [b"HTTP/1.1 %d %s\r\n" % (response.status, response.reason.encode("latin-1"))]
        head += [
            f"{k}: {v}\r\n".encode("latin-1") for k, v in response.headers.items() if k != "Content-Length"
        ]
        head.append(b"Content-Length: %d\r\n" % len(body))
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        return b"".join(head) + b"\r\n" + body


class _FloorProtocol:
    """One HTTP/1.1 connection; requests answered in order (no pipelining needed by the load)."""

    def __init__(self, backend: _Backend, parser: str):
        self.backend = backend
        self.transport: Any = None
        self.url = b""
        self.authorization: bytes | None = None
        self.keep_headers = backend.mode == "gateway_core"  # handle() reads them all
        self.headers: Any = None
        self.busy: asyncio.Task[None] | None = None
        if parser == "httptools":
            import httptools

            self.parser = httptools.HttpRequestParser(self)
            self.feed = self._feed_httptools
            self.parse_error = httptools.HttpParserError
        else:
            from aiohttp import http_exceptions
            from aiohttp._http_parser import HttpRequestParser

            self.parser = HttpRequestParser(self, asyncio.get_running_loop(), 2**16)
            self.feed = self._feed_aiohttp
            self.parse_error = http_exceptions.HttpProcessingError

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy is not None:
            self.busy.cancel()

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        try:
            self.feed(data)
        except self.parse_error:
            self.transport.write(_http_response(400, b'{"error":"bad request"}', False))
            self.transport.close()

    # httptools callbacks
    def _feed_httptools(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url = b""
        self.authorization = None
        if self.keep_headers:
            from multidict import CIMultiDict

            self.headers = CIMultiDict()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers is not None:
            self.headers.add(name.decode("latin-1"), value.decode("latin-1"))
        if len(name) == 13 and name.lower() == b"authorization":
            self.authorization = value

    def on_message_complete(self) -> None:
        self._dispatch(self.url, self.authorization, self.parser.should_keep_alive())

    # aiohttp's parser: whole messages
    def _feed_aiohttp(self, data: bytes) -> None:
        messages, _upgraded, _tail = self.parser.feed_data(data)
        for message, _payload in messages:
            auth = message.headers.get("Authorization")
            self._dispatch(
                message.path.encode("latin-1"),
                auth.encode("latin-1") if auth is not None else None,
                not message.should_close,
            )

    # the answer
    def _dispatch(self, url: bytes, authorization: bytes | None, keep_alive: bool) -> None:
        path = url.split(b"?", 1)[0]
        response = self.backend.answer_at_once(path, keep_alive)
        if response is not None:
            self._write(response, keep_alive)
            return
        if self.keep_headers:
            method = self.parser.get_method()
            coroutine = self.backend.core.respond(method, url, self.headers, keep_alive)
        else:
            coroutine = self.backend.call(path, authorization, keep_alive)
        self.busy = asyncio.get_running_loop().create_task(self._answer(coroutine, keep_alive))

    async def _answer(self, coroutine: Any, keep_alive: bool) -> None:
        response = await coroutine
        self.busy = None
        self._write(response, keep_alive)

    def _write(self, response: bytes, keep_alive: bool) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(response)
        if not keep_alive:
            self.transport.close()


async def _serve_floor(port: int, mode: str, parser: str, fixed_body: bytes, members_target: str) -> None:
    import signal

    backend = _Backend(mode, fixed_body, members_target)
    await backend.open()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _FloorProtocol(backend, parser), "127.0.0.1", port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    if backend.channel is not None:
        await backend.channel.close()


# --------------------------------------------------------------------------------------------
# orchestration (the benchmark's own process)
# --------------------------------------------------------------------------------------------


def _wait_http(url: str, child: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if not child.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready:\n{child.log_tail()}")
        time.sleep(0.2)


def _floor_argv(name: str, port: int, body_file: Path, members_target: str) -> list[str]:
    mode, parser = FLOOR_FRONTS[name]
    return [
        sys.executable, "-m", "bench.bench_gateway_floor", "serve", "--port", str(port), "--mode", mode,
        "--parser", parser, "--body-file", str(body_file), "--members-target", members_target,
    ]  # fmt: skip


def _start_floor(children: Children, name: str, body_file: Path, members_target: str) -> tuple[Any, str]:
    from cli.devstack import free_port

    port = free_port()
    child = children.spawn(name, _floor_argv(name, port, body_file, members_target), child_env())
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/healthz", child, name)
    log(f"{name} up at {url} (pid {child.pid})")
    return child, url


async def _rendered_member(addr: str, token: str, name: str) -> bytes:
    """The JSON body the gateway sends for ``GET /v1/{name}`` (the fixed floor's answer)."""
    import grpc
    from peony.members.v1 import members_service_pb2 as pb
    from peony.members.v1 import members_service_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(addr) as channel:
        reply = await pb_grpc.MembersServiceStub(channel).GetMember(
            pb.GetMemberRequest(name=name), metadata=(("authorization", f"Bearer {token}"),)
        )
    return response_json(message_to_dict(reply))


def thread_cpu_ticks(pid: int) -> dict[str, tuple[int, int]]:
    """(user, system) clock ticks per thread name of a process, from /proc/<pid>/task/*/stat;
    the thread whose id is the pid (the event loop's) is called ``main``."""
    ticks: dict[str, tuple[int, int]] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            name = "main" if task.name == str(pid) else stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            user, system = ticks.get(name, (0, 0))
            ticks[name] = (user + int(fields[11]), system + int(fields[12]))
    return ticks


def split_by_thread(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], ms_per_request: float | None
) -> dict[str, Any]:
    """The front's CPU per request split by thread name and into user/kernel time, by the shares of
    the ticks each used between the two snapshots (taken around the whole load run, warm-up included)."""
    used = {
        name: (user - before.get(name, (0, 0))[0], system - before.get(name, (0, 0))[1])
        for name, (user, system) in after.items()
    }
    total = sum(u + k for u, k in used.values())
    if not total or ms_per_request is None:
        return {}
    return {
        "threads_ms": {
            name: round(ms_per_request * (u + k) / total, 3)
            for name, (u, k) in sorted(used.items(), key=lambda item: -sum(item[1]))
            if u + k
        },
        "kernel_ms": round(ms_per_request * sum(k for _, k in used.values()) / total, 3),
    }


def top_frames(collapsed: Path, limit: int = 15) -> dict[str, Any]:
    """Shares of py-spy's samples (``-f raw``: ``frame;frame;... count`` lines) by frame: ``self``
    where the frame was the innermost one, ``inclusive`` where it was anywhere on the stack."""
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames[1:]):  # the first frame is the process/thread
            anywhere[frame] = anywhere.get(frame, 0) + count

    def shares(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
        return [(frame, round(n / total, 3)) for frame, n in ranked]

    return {"samples": total, "self": shares(own), "inclusive": shares(anywhere)} if total else {"samples": 0}


def _measure(
    children: Children, args: argparse.Namespace, spec: dict[str, Any], front: Any, label: str
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for clients, procs in ((args.clients, args.procs), (1, 1)):
        time.sleep(1.0)
        log(f"[{label}] {clients} client(s): {args.warmup:g}s warm-up + {args.duration:g}s")
        profile = None
        if args.profile and clients == args.clients:
            profile = (front.pid, Path(args.profile) / f"{label.replace(' ', '_')}.txt", "raw")
        threads_before = thread_cpu_ticks(front.pid)
        fig = run_load(
            children, target=spec["gateway_url"], workload="bench.bench_gateway:rest_get_workload",
            spec=spec, clients=clients, procs=procs, warmup=args.warmup, duration=args.duration,
            watch_pids={"front": front.pid}, profile=profile,
        )  # fmt: skip
        if profile is not None and profile[1].exists():
            figures["profile"] = {"file": str(profile[1]), **top_frames(profile[1])}
        fig["cpu_ms_per_call"] = cpu_ms_per_call(fig["cpu"], fig["rps"])
        fig["front_split"] = split_by_thread(
            threads_before, thread_cpu_ticks(front.pid), fig["cpu_ms_per_call"].get("front")
        )
        show_figures(f"{label} {clients}", fig)
        figures[f"clients_{clients}"] = fig
    figures["front_cpu_ms_per_request"] = figures[f"clients_{args.clients}"]["cpu_ms_per_call"].get("front")
    figures["front_cpu_ms_per_request_1_client"] = figures["clients_1"]["cpu_ms_per_call"].get("front")
    figures["load_average"] = _load_average()
    log(
        f"[{label}] front CPU {figures['front_cpu_ms_per_request']} ms/request at {args.clients} clients, "
        f"{figures['front_cpu_ms_per_request_1_client']} ms at 1 client "
        f"(load average {figures['load_average']}); split {figures[f'clients_{args.clients}']['front_split']}"
    )
    return figures


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.bench_gateway import _start_gateway, _start_members
    from bench.bench_members import _populate, _with_db
    from cli.devstack import DevStack, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    idle_busy = busy_cores()
    if idle_busy is not None and idle_busy > 0.3:
        log(f"warning: {idle_busy} cores already busy before starting: figures will be noisy")
    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-gateway-floor-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    db_name = f"peony_bench_gateway_floor_{int(time.time())}_{os.getpid()}"
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
            tenant="bench",
            subject="user:bench",
            roles=["hq_admin"],
            secret=os.environ.get("PEONY_JWT_SECRET") or None,
            issuer=os.environ.get("PEONY_JWT_ISSUER", "peony"),
            audience=os.environ.get("PEONY_JWT_AUDIENCE", "peony"),
        )
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
        members, port = _start_members(children, "members-1", db_url, stack.nats_url)
        names, _store, _response_bytes = asyncio.run(_populate(f"127.0.0.1:{port}", token, args.members))
        body = asyncio.run(_rendered_member(f"127.0.0.1:{port}", token, names[0]))
        body_file = tmp / "member.json"
        body_file.write_bytes(body)
        members_target = f"127.0.0.1:{port}"
        gateway_env = dict(item.split("=", 1) for item in args.gateway_env)

        windows: list[dict[str, Any]] = []
        for round_number in range(1, args.rounds + 1):
            for name in args.fronts:
                if name == "floor_gateway_core":  # the gateway's own environment (production defaults)

                    def command(port: int, name: str = name) -> list[str]:
                        return _floor_argv(name, port, body_file, members_target)

                    front, url = _start_gateway(children, members_target, gateway_env, command, name)
                elif name in FLOOR_FRONTS:
                    front, url = _start_floor(children, name, body_file, members_target)
                else:
                    front, url = _start_gateway(
                        children, members_target, {**gateway_env, **GATEWAY_FRONTS[name]}
                    )
                spec = {"token": token, "names": names, "gateway_url": url}
                try:
                    fig = _measure(children, args, spec, front, f"{name} round {round_number}")
                finally:
                    children.stop(front)
                windows.append({"front": name, "round": round_number, **fig})

        def median(name: str, key: str) -> float | None:
            values = [w[key] for w in windows if w["front"] == name and w[key] is not None]
            return round(statistics.median(values), 3) if values else None

        summary = {
            name: {
                "front_cpu_ms_per_request": median(name, "front_cpu_ms_per_request"),
                "front_cpu_ms_per_request_1_client": median(name, "front_cpu_ms_per_request_1_client"),
                "rps": median_rps(windows, name, f"clients_{args.clients}"),
                "p50_ms_1_client": median_p50(windows, name),
            }
            for name in args.fronts
        }
        machine = machine_info()
        machine["busy_cores_before"] = idle_busy
        del members
        return {
            "benchmark": "gateway_floor",
            "read": "GET /v1/members/{id} through each front (bench_gateway's REST load)",
            "clients": args.clients,
            "load_procs": args.procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "population": len(names),
            "response_bytes": len(body),
            "gateway_env": gateway_env,
            "windows": windows,
            "summary": summary,
            "target": {"gateway_cpu_ms_per_request": TARGET_GATEWAY_CPU_MS},
            "floor_grpc_under_target": (summary.get("floor_grpc", {}).get("front_cpu_ms_per_request") or 1e9)
            <= TARGET_GATEWAY_CPU_MS,
            "errors_total": sum(
                w[k]["errors"]
                for w in windows
                for k in w
                if k.startswith("clients_") and isinstance(w[k], dict)
            ),
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


def median_rps(windows: list[dict[str, Any]], name: str, key: str) -> float | None:
    values = [w[key]["rps"] for w in windows if w["front"] == name]
    return round(statistics.median(values), 1) if values else None


def median_p50(windows: list[dict[str, Any]], name: str) -> float | None:
    values = [w["clients_1"]["p50_ms"] for w in windows if w["front"] == name and w["clients_1"]["p50_ms"]]
    return round(statistics.median(values), 3) if values else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Floors under the REST gateway's CPU per request (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve", help="run one floor server (started by the benchmark)")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--mode", choices=("fixed", "grpc", "grpc_bare", "gateway_core"), required=True)
    s.add_argument("--parser", choices=("httptools", "aiohttp"), default="httptools")
    s.add_argument("--body-file", required=True, help="the fixed JSON body (mode fixed)")
    s.add_argument("--members-target", default="", help="members address (mode grpc)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per window")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each window")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients in total")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    p.add_argument("--members", type=int, default=500, help="members registered before the reads")
    p.add_argument(
        "--fronts",
        nargs="+",
        default=DEFAULT_FRONTS,
        choices=[*FLOOR_FRONTS, *GATEWAY_FRONTS],
        help="the fronts measured, in this order each round",
    )
    p.add_argument("--rounds", type=int, default=1, help="repeat the fronts this many times (interleaved)")
    p.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the gateway fronts (what-if runs; repeatable)",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="sample each front with py-spy (raw collapsed stacks into DIR) during its many-client "
        "window; the JSON gets its top frames (the profiler costs CPU: do not quote those figures)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from kit.eventloop import run as run_event_loop

        body = Path(args.body_file).read_bytes()
        run_event_loop(_serve_floor(args.port, args.mode, args.parser, body, args.members_target), "uvloop")
        return 0
    return run_benchmark(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
