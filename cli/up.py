"""``peony up``: the whole platform on one machine, for development.

Starts PostgreSQL and NATS JetStream from the pip wheels (or uses ``PEONY_DATABASE_URL`` /
``PEONY_NATS_URL``), creates each service's database, runs every service and the REST gateway
as child processes (``peony serve <svc>`` / ``peony gateway``), waits until they are healthy,
prints where everything is and a development token, and then stays in the foreground.

``--replicas N`` (or ``PEONY_UP_REPLICAS``) runs N processes of each service, ``<svc>-1`` ..
``<svc>-N``, each on its own port (the first on the service's usual port), and gives every client
the target ``ipv4:127.0.0.1:p1,127.0.0.1:p2,...``: the same client-side ``round_robin`` balancing
as ``dns:///`` on a headless Service in Kubernetes (kit/grpc_client.py). Separate ports, not
``SO_REUSEPORT`` on one: the kernel would spread *connections*, and a client keeps one connection
per address for its whole life, so each client would stick to one replica. Each replica's
telemetry carries ``service.instance.id=<svc>-<i>``.

A child that exits is restarted with backoff and ``peony up`` says so, with its exit code (see
``cli/supervisor.py``); an embedded PostgreSQL or NATS that dies is restarted too. Logs go to
``var/log/<child>.log``, appended across restarts and runs, rotated at 10 MiB (3 old files kept).
Only Ctrl-C (or SIGTERM) stops everything, in order: gateway, services, NATS, PostgreSQL.
State lives under ``var/`` (``postgres/``, ``nats/``, ``log/``, ``notify/``, ``pii.key``).
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.devstack import (
    DevStack,
    DevStackError,
    ensure_database,
    free_port,
    port_is_free,
    run_coro_sync,
    tail,
)
from cli.supervisor import Backoff, Child, Supervisor
from kit.config import DEFAULT_GATEWAY_ADDR, DEFAULT_GRPC_PORTS, WITHOUT_DATABASE

# The services `peony up` runs by default.
SERVICES: tuple[str, ...] = ("members", "wallet", "booking", "notify", "insights")

STARTUP_TIMEOUT_SECONDS = 90.0
MAX_REPLICAS = 8
REPLICAS_VAR = "PEONY_UP_REPLICAS"
# A crashed child is restarted after 1, 2, 4, ... 30 s; a run of 60 s resets the backoff.
RESTART_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=30.0, reset_after=60.0)
# A child that crashes this many times in a row before it ever became healthy is broken: give up.
MAX_START_CRASHES = 3
REVIVE_RETRY_SECONDS = 5.0
STOP_GRACE_SECONDS = 25.0
LOG_TAIL_LINES = 20
DEV_TENANT = "demo"
DEV_SUBJECT = "user:dev-admin"
DEV_ROLES = ("hq_admin",)
# The REST call the banner suggests (adjust when the members HTTP routes change).
EXAMPLE_PATH = "/v1/members?page_size=10"


def service_command(svc: str) -> list[str]:
    """How a service process is started (same interpreter, so the same venv)."""
    return [sys.executable, "-m", "cli.main", "serve", svc]


def gateway_command() -> list[str]:
    return [sys.executable, "-m", "cli.main", "gateway"]


def dev_providers_child(var_dir: Path, gateway_addr: str) -> _Child | None:
    """The local SMS/e-mail/WeChat/push provider servers notify's dev config points at, unless
    ``PEONY_NOTIFY_PROVIDERS_FILE`` names real ones. Health-checked on ``/healthz`` like the gateway."""
    if os.environ.get("PEONY_NOTIFY_PROVIDERS_FILE"):
        return None
    from services.notify.adapters.providers.config import DEV_PROVIDERS_URL, DEV_PROVIDERS_URL_VAR

    url = os.environ.get(DEV_PROVIDERS_URL_VAR) or DEV_PROVIDERS_URL
    receipts = f"http://{gateway_addr}/v1/notify/receipts/{{provider}}"
    return _Child(
        name="dev-providers",
        kind="providers",
        addr=url.removeprefix("http://").rstrip("/"),
        cmd=[sys.executable, "-m", "cli.main", "dev-providers", "--receipt-url", receipts],
        log_path=var_dir / "log" / "dev-providers.log",
    )


class UpError(Exception):
    """Startup failed; the message says what and where to look."""


class _Stop(BaseException):
    """SIGTERM/SIGHUP: leave the wait loop and shut down like Ctrl-C."""


@dataclass
class _Child(Child):
    kind: str = "service"  # "service" | "gateway"
    addr: str = ""  # host:port
    ready: bool = False  # answered its health check since it last (re)started
    service: str = ""  # the service a replica runs ("wallet" for wallet-2)

    @property
    def label(self) -> str:
        return self.name

    def log_tail(self) -> str:
        return f"last {LOG_TAIL_LINES} lines of {self.log_path}:\n{tail(self.log_path, LOG_TAIL_LINES)}"


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host or "127.0.0.1"), int(port)


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _pii_key(var_dir: Path) -> str:
    """``var/pii.key``: created once (base64 of 32 random bytes, mode 0600), then reused.

    Development data in ``var/postgres`` is encrypted with it, so it must not change between runs.
    """
    path = var_dir / "pii.key"
    if not path.exists():
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another `peony up` wrote it first: use theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
    value = path.read_text().strip()
    try:
        if len(base64.b64decode(value, validate=True)) != 32:
            raise ValueError("not 32 bytes")
    except ValueError as exc:
        raise UpError(f"{path} is not base64 of 32 bytes ({exc}); delete it to generate a new key") from None
    return value


def _child_env(
    stack: DevStack,
    var_dir: Path,
    pii_key: str,
    services: list[str],
    ports: dict[str, list[int]],
    gateway_addr: str,
) -> dict[str, str]:
    """The user's environment (PATH, OTEL_*, PEONY_LOG_LEVEL, ...) plus what `peony up` decides.

    ``ports`` lists each service's replica ports; clients get a target naming all of them."""
    env = dict(os.environ)
    env.pop("PEONY_GRPC_PORT", None)  # one port for every service cannot work here
    env.update(
        {
            "PEONY_ENV": "dev",
            "PEONY_DATABASE_URL": stack.database_url,
            "PEONY_NATS_URL": stack.nats_url,
            "PEONY_PII_KEY": pii_key,
            "PEONY_GATEWAY_ADDR": gateway_addr,
            "PEONY_INSIGHTS_DATA_DIR": str(var_dir / "insights" / "chdb"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for svc in services:
        env[f"PEONY_{svc.upper()}_GRPC_PORT"] = str(ports[svc][0])
        env[f"PEONY_{svc.upper()}_ADDR"] = service_target(ports[svc])
    return env


def service_target(ports: list[int]) -> str:
    """The address clients of a service get: one replica's ``host:port``, or an ``ipv4:`` list
    of every replica (a valid gRPC target: ``round_robin`` spreads calls over all of them)."""
    if len(ports) == 1:
        return f"127.0.0.1:{ports[0]}"
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


def replica_env(svc: str, name: str, port: int) -> dict[str, str]:
    """One replica's own variables: its port, and its name in every span and metric it exports."""
    attributes = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip(",")
    instance = f"service.instance.id={name}"
    return {
        f"PEONY_{svc.upper()}_GRPC_PORT": str(port),
        "OTEL_RESOURCE_ATTRIBUTES": f"{attributes},{instance}" if attributes else instance,
    }


def replica_count(args: Any) -> int:
    """``--replicas``, else ``PEONY_UP_REPLICAS``, else 1; UpError when not in 1..MAX_REPLICAS."""
    raw: Any = getattr(args, "replicas", None)
    if raw is None:
        raw = os.environ.get(REPLICAS_VAR) or "1"
    try:
        count = int(raw)
    except ValueError:
        raise UpError(f"{REPLICAS_VAR}={raw!r} is not a number") from None
    if not 1 <= count <= MAX_REPLICAS:
        raise UpError(f"replicas must be between 1 and {MAX_REPLICAS}, got {count}")
    return count


def _grpc_serving(addr: str, cache: dict[str, Any]) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if addr not in cache:
        channel = grpc.insecure_channel(addr)
        cache[addr] = (channel, health_pb2_grpc.HealthStub(channel))
    _, stub = cache[addr]
    try:
        resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
    except grpc.RpcError:
        return False
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - local http URL we built
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _healthy(child: _Child, channels: dict[str, Any]) -> bool:
    if child.kind == "service":
        return _grpc_serving(child.addr, channels)
    return _http_ok(f"http://{child.addr}/healthz")


def _close_channels(channels: dict[str, Any]) -> None:
    for channel, _ in channels.values():
        channel.close()
    channels.clear()


def _wait_healthy(supervisor: Supervisor, children: list[_Child], timeout: float) -> None:
    """Until every child answers its health check. A child that crashes while starting is
    restarted like any other, but one that crashed MAX_START_CRASHES times in a row without
    becoming healthy is broken (bad config, bad code): give up and show its log."""
    pending = list(children)
    channels: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while pending:
            for child in list(pending):
                if supervisor.check(child) is not None and child.failures >= MAX_START_CRASHES:
                    raise UpError(
                        f"{child.label} exited with code {child.last_exit_code} while starting, "
                        f"{child.failures} times in a row; {child.log_tail()}"
                    )
                if child.running and _healthy(child, channels):
                    child.ready = True
                    pending.remove(child)
                    _say(f"peony up: {child.label} is ready on {child.addr}")
            if not pending:
                return
            if time.monotonic() > deadline:
                child = pending[0]
                check = (
                    "grpc.health.v1.Health/Check did not answer SERVING"
                    if child.kind == "service"
                    else "GET /healthz did not answer 200"
                )
                raise UpError(
                    f"{child.label} did not become healthy within {timeout:.0f}s on {child.addr} ({check}); "
                    f"{child.log_tail()}"
                )
            time.sleep(0.5)
    finally:
        _close_channels(channels)


def _supervise(supervisor: Supervisor, children: list[_Child], stack: DevStack) -> None:
    """Until Ctrl-C / SIGTERM: restart children that exit and say when they are back; revive an
    embedded PostgreSQL or NATS that died (same port and data, so the children reconnect)."""
    channels: dict[str, Any] = {}
    next_revive = 0.0
    try:
        while True:
            if time.monotonic() >= next_revive:
                try:
                    for name in stack.revive():
                        _say(f"peony up: {name} had exited; restarted it on the same port")
                except DevStackError as exc:
                    _say(
                        f"peony up: could not restart a server ({exc}); retry in {REVIVE_RETRY_SECONDS:.0f}s"
                    )
                    next_revive = time.monotonic() + REVIVE_RETRY_SECONDS
            for child in children:
                if supervisor.check(child) is not None:
                    child.ready = False
                elif not child.ready and child.running and _healthy(child, channels):
                    child.ready = True
                    _say(f"peony up: {child.label} is ready again on {child.addr} (restart {child.restarts})")
            time.sleep(0.5)
    finally:
        _close_channels(channels)


def _banner(
    stack: DevStack, services: list[_Child], gateway: _Child | None, var_dir: Path, env: dict[str, str]
) -> None:
    from kit.auth import mint_dev_token

    token = mint_dev_token(
        tenant=DEV_TENANT,
        subject=DEV_SUBJECT,
        roles=list(DEV_ROLES),
        secret=env.get("PEONY_JWT_SECRET") or None,
        issuer=env.get("PEONY_JWT_ISSUER") or "peony",
        audience=env.get("PEONY_JWT_AUDIENCE") or "peony",
    )
    with_database = [c.service for c in services if c.kind == "service" and c.service not in WITHOUT_DATABASE]
    dbs = ", ".join(dict.fromkeys(f"peony_{s}" for s in with_database))
    width = max([len(c.name) for c in services] + [8])
    lines = ["", "Peony is up (PEONY_ENV=dev). Press Ctrl-C to stop everything.", ""]
    for c in services:
        if c.kind == "service":
            lines.append(f"  {c.name:<{width}}  grpc   {c.addr}")
        else:  # the dev provider servers: what notify "sent" is shown at their root page
            lines.append(f"  {c.name:<{width}}  http   http://{c.addr}/  (messages notify sent)")
    if gateway is not None:
        lines.append(
            f"  {'gateway':<{width}}  http   http://{gateway.addr}  (API docs: /docs, /openapi.json)"
        )
    own = " (embedded)"
    lines += [
        f"  {'postgres':<{width}}  {stack.database_url}{own if stack.started_postgres else ''}  [{dbs}]",
        f"  {'nats':<{width}}  {stack.nats_url}{own if stack.started_nats else ''}",
        f"  {'logs':<{width}}  {var_dir / 'log'}/",
        "",
        f"Development token (tenant {DEV_TENANT}, {DEV_SUBJECT}, roles {','.join(DEV_ROLES)}, valid 24 h):",
        f"  export TOKEN={token}",
        "",
    ]
    if gateway is not None:
        lines += [
            "Try:",
            f'  curl -s -H "Authorization: Bearer $TOKEN" "http://{gateway.addr}{EXAMPLE_PATH}"',
            "",
        ]
    _say("\n".join(lines))


def _install_signal_handlers() -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def _on_signal(signum: int, _frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, _on_signal)
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    return previous


def _ignore_signals_during_shutdown() -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def _note(_signum: int, _frame: object) -> None:
        _say("peony up: already shutting down, please wait")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _note)


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def run_up(args: Any) -> int:
    """Body of ``peony up``. ``args``: ``var_dir`` (default ``var``), ``services`` (default
    :data:`SERVICES`), ``no_gateway`` (default False), ``replicas`` (default ``PEONY_UP_REPLICAS``
    or 1). Returns the process exit code."""
    var_dir = Path(getattr(args, "var_dir", None) or "var").absolute()
    services = list(getattr(args, "services", None) or SERVICES)
    no_gateway = bool(getattr(args, "no_gateway", False))

    unknown = [s for s in services if s not in DEFAULT_GRPC_PORTS]
    if unknown:
        _say(f"peony up: unknown service(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_GRPC_PORTS)}")
        return 2
    try:
        replicas = replica_count(args)
    except UpError as exc:
        _say(f"peony up: {exc}")
        return 2

    ports = {
        svc: int(os.environ.get(f"PEONY_{svc.upper()}_GRPC_PORT") or DEFAULT_GRPC_PORTS[svc])
        for svc in services
    }
    gateway_addr = os.environ.get("PEONY_GATEWAY_ADDR") or DEFAULT_GATEWAY_ADDR
    busy = [f"{svc} ({port})" for svc, port in ports.items() if not port_is_free(port)]
    if not no_gateway and not port_is_free(_split_addr(gateway_addr)[1], _split_addr(gateway_addr)[0]):
        busy.append(f"gateway ({gateway_addr})")
    if busy:
        _say(
            f"peony up: port(s) already in use: {', '.join(busy)}. Is another `peony up` running? "
            "Stop it, or set PEONY_<SVC>_GRPC_PORT / PEONY_GATEWAY_ADDR."
        )
        return 1

    for sub in ("log", "notify"):
        (var_dir / sub).mkdir(parents=True, exist_ok=True)

    stack = DevStack(var_dir)
    # Replica 1 on the service's usual port, the others on free ports.
    replica_ports = {svc: [port] + [free_port() for _ in range(replicas - 1)] for svc, port in ports.items()}
    children: list[_Child] = []
    for svc in services:
        for index, port in enumerate(replica_ports[svc], start=1):
            name = svc if replicas == 1 else f"{svc}-{index}"
            children.append(
                _Child(
                    name=name,
                    kind="service",
                    addr=f"127.0.0.1:{port}",
                    cmd=service_command(svc),
                    log_path=var_dir / "log" / f"{name}.log",
                    env=replica_env(svc, name, port),
                    service=svc,
                )
            )
    gateway: _Child | None = None
    if not no_gateway:
        gateway = _Child(
            name="gateway",
            kind="gateway",
            addr=gateway_addr,
            cmd=gateway_command(),
            log_path=var_dir / "log" / "gateway.log",
        )

    providers = dev_providers_child(var_dir, gateway_addr) if "notify" in services else None
    if providers is not None:
        children.append(providers)  # started, health-checked and stopped with the services

    previous = _install_signal_handlers()
    exit_code = 0
    supervisor: Supervisor | None = None
    try:
        what = []
        if not os.environ.get("PEONY_DATABASE_URL"):
            what.append(f"PostgreSQL ({var_dir / 'postgres'})")
        if not os.environ.get("PEONY_NATS_URL"):
            what.append(f"NATS JetStream ({var_dir / 'nats'})")
        if what:
            _say(f"peony up: starting {' and '.join(what)}")
        stack.start()
        _say(f"peony up: PostgreSQL at {stack.database_url}, NATS at {stack.nats_url}")
        for svc in services:
            if svc not in WITHOUT_DATABASE:  # insights keeps its facts in chDB under var/insights
                run_coro_sync(lambda s=svc: ensure_database(stack.database_url, f"peony_{s}"))
        env = _child_env(stack, var_dir, _pii_key(var_dir), services, replica_ports, gateway_addr)

        supervisor = Supervisor(env, backoff=RESTART_BACKOFF, say=_say)
        everything = children + ([gateway] if gateway is not None else [])
        for child in everything:
            _say(f"peony up: starting {child.label}: {' '.join(child.cmd[1:])} (log {child.log_path})")
            supervisor.start(child)
        _wait_healthy(supervisor, everything, STARTUP_TIMEOUT_SECONDS)
        _banner(stack, children, gateway, var_dir, env)
        _supervise(supervisor, everything, stack)
    except (KeyboardInterrupt, _Stop):
        _say("\npeony up: shutting down")
        exit_code = 0
    except (UpError, DevStackError) as exc:
        _say(f"peony up: {exc}")
        exit_code = 1
    finally:
        _ignore_signals_during_shutdown()
        try:
            if supervisor is not None:
                if gateway is not None:
                    supervisor.stop([gateway], STOP_GRACE_SECONDS)
                supervisor.stop(list(children), STOP_GRACE_SECONDS)
        finally:
            stopping = [
                n for n, on in (("NATS", stack.started_nats), ("PostgreSQL", stack.started_postgres)) if on
            ]
            if stopping:
                _say(f"peony up: stopping {' and '.join(stopping)}")
            stack.stop()
            _restore_signal_handlers(previous)
    _say("peony up: stopped")
    return exit_code
