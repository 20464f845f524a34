"""The stack as it runs in production: each service and the gateway its own process.

PostgreSQL and NATS come from the session `infra` fixture; every process exports its spans to
an in-test OTLP receiver so tests can follow one trace across process boundaries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.devstack import free_port
from kit.config import to_async_url
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.stack import private_nats

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    health: str  # "grpc:<addr>" or "http:<url>"
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        return self.launch().wait_healthy(timeout)

    def launch(self) -> ServiceProcess:
        """Start the process without waiting for it to be healthy (`wait_healthy`)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def wait_healthy(self, timeout: float = 60.0) -> ServiceProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        kind, _, target = self.health.partition(":")
        try:
            if kind == "grpc":
                with grpc.insecure_channel(target) as channel:
                    resp = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                    return resp.status == health_pb2.HealthCheckResponse.SERVING
            with urllib.request.urlopen(target, timeout=1) as resp:  # noqa: S310 - loopback URL built here
                return resp.status == 200
        except Exception:
            return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.wait_stopped()

    def wait_stopped(self) -> None:
        """After SIGTERM: wait for the graceful exit, SIGKILL after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    env: dict[str, str]
    members: ServiceProcess
    notify: ServiceProcess
    wallet: ServiceProcess
    booking: ServiceProcess
    gateway: ServiceProcess
    gateway_url: str
    members_addr: str
    providers_url: str  # the local provider servers: what notify "sent" is at /_sim/messages
    logs: Path
    otlp: OtlpReceiver
    extra: list[ServiceProcess] = field(default_factory=list)
    insights: ServiceProcess | None = None
    """Started only when asked (`running_stack(..., with_insights=True)`): chDB is heavy."""

    def wait_gateway_sees(self, backend: str, timeout: float = 30.0) -> None:
        """Until the gateway's ``/readyz`` reports ``backend`` SERVING: after a restart, what a
        rollout waits for before it goes on (clients reconnect on their own backoff, <= 1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.gateway_url}/readyz", timeout=5) as resp:  # noqa: S310 - loopback
                    if json.loads(resp.read())["backends"].get(backend) == "SERVING":
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"the gateway never saw {backend} SERVING again"
            time.sleep(0.2)

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))


def _service(name: str, env: dict[str, str], logs: Path, health: str, *args: str) -> ServiceProcess:
    return ServiceProcess(name, [sys.executable, "-m", "cli.main", *args], env, logs / f"{name}.log", health)


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory) -> Iterator[Stack]:
    with running_stack(infra, tmp_path_factory.mktemp("e2e")) as value:
        yield value


@contextmanager
def running_stack(infra, tmp: Path, *, with_insights: bool = False) -> Iterator[Stack]:
    """Every service and the gateway as processes of their own (also used by tests/reliability).
    `with_insights`: insights too, on a chDB of its own under `tmp` (as `peony serve insights`
    runs without PEONY_CLICKHOUSE_URL).

    NATS is a server of the stack's own (`private_nats`): the session's one carries what earlier
    tests left unacknowledged, which the stack's durables would inherit."""
    with private_nats(tmp / "nats") as nats_url:
        yield from _running_stack(infra, tmp, nats_url, with_insights=with_insights)


def _running_stack(infra, tmp: Path, nats_url: str, *, with_insights: bool) -> Iterator[Stack]:
    otlp = OtlpReceiver()
    endpoint = otlp.start()
    members_port, notify_port, wallet_port, gateway_port = free_port(), free_port(), free_port(), free_port()
    booking_port, providers_port, smtp_port = free_port(), free_port(), free_port()
    insights_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_ENV": "test",
            "PEONY_MEMBERS_DATABASE_URL": to_async_url(infra.migrated_database("members", "e2e_members")),
            "PEONY_NOTIFY_DATABASE_URL": to_async_url(infra.migrated_database("notify", "e2e_notify")),
            "PEONY_WALLET_DATABASE_URL": to_async_url(infra.migrated_database("wallet", "e2e_wallet")),
            "PEONY_WALLET_GRPC_PORT": str(wallet_port),
            "PEONY_WALLET_ADDR": f"127.0.0.1:{wallet_port}",
            "PEONY_BOOKING_DATABASE_URL": to_async_url(infra.migrated_database("booking", "e2e_booking")),
            "PEONY_BOOKING_GRPC_PORT": str(booking_port),
            "PEONY_BOOKING_ADDR": f"127.0.0.1:{booking_port}",
            "PEONY_NATS_URL": nats_url,
            "PEONY_MEMBERS_GRPC_PORT": str(members_port),
            "PEONY_NOTIFY_GRPC_PORT": str(notify_port),
            "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
            "PEONY_NOTIFY_ADDR": f"127.0.0.1:{notify_port}",
            "PEONY_GATEWAY_ADDR": f"127.0.0.1:{gateway_port}",
            "PEONY_INSIGHTS_GRPC_PORT": str(insights_port),
            "PEONY_INSIGHTS_ADDR": f"127.0.0.1:{insights_port}",
            "PEONY_INSIGHTS_DATA_DIR": str(tmp / "insights-chdb"),
            # notify's development provider configuration points at the local provider servers
            "PEONY_DEV_PROVIDERS_URL": f"http://127.0.0.1:{providers_port}",
            "PEONY_DEV_SMTP_PORT": str(smtp_port),
            "PEONY_SHUTDOWN_GRACE_SECONDS": "10",
            # The default quiet hours (21:00-09:00 in the stores' Asia/Shanghai = 13:00-01:00 UTC)
            # would defer every message the tests wait for during half of the day.
            "PEONY_NOTIFY_QUIET_HOURS": "off",
            # The gateway verifies tokens for its rate limits, but the tests' bursts (and the
            # fuzz's unauthenticated cases) must reach the services: limits far above them.
            "PEONY_GATEWAY_RATE_TENANT_RPS": "100000",
            "PEONY_GATEWAY_RATE_TOKEN_RPS": "100000",
            "PEONY_GATEWAY_RATE_ANON_IP_RPS": "100000",
            "PEONY_GATEWAY_RATE_ANON_TOTAL_RPS": "100000",
            "PEONY_LOG_LEVEL": "INFO",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
    )
    logs = tmp / "logs"
    logs.mkdir()
    # The provider servers stand outside Peony (their log is the "carrier's"): not under logs/,
    # whose files the privacy checks read.
    providers = ServiceProcess(
        "dev-providers",
        [sys.executable, "-m", "cli.main", "dev-providers", "--receipt-url", "none"],
        env,
        tmp / "dev-providers.log",
        f"http:http://127.0.0.1:{providers_port}/_sim/stats",
    )
    members = _service("members", env, logs, f"grpc:127.0.0.1:{members_port}", "serve", "members")
    notify = _service("notify", env, logs, f"grpc:127.0.0.1:{notify_port}", "serve", "notify")
    wallet = _service("wallet", env, logs, f"grpc:127.0.0.1:{wallet_port}", "serve", "wallet")
    booking = _service("booking", env, logs, f"grpc:127.0.0.1:{booking_port}", "serve", "booking")
    gateway = _service("gateway", env, logs, f"http:http://127.0.0.1:{gateway_port}/healthz", "gateway")
    insights = None
    if with_insights:
        insights = _service("insights", env, logs, f"grpc:127.0.0.1:{insights_port}", "serve", "insights")
    started: list[ServiceProcess] = []
    try:
        for proc in (providers, members, notify, wallet, booking, *([insights] if insights else []), gateway):
            # One after the other, each healthy before the next: a client (the gateway's, booking's
            # to the wallet) that dials a backend not yet listening goes into gRPC's reconnect
            # backoff and fails calls for seconds after (launched all at once, the gateway
            # answered 503 for booking in test_erasure_e2e; and it saved nothing on 2 cores).
            started.append(proc.start())
        yield Stack(
            env,
            members,
            notify,
            wallet,
            booking,
            gateway,
            f"http://127.0.0.1:{gateway_port}",
            f"127.0.0.1:{members_port}",
            f"http://127.0.0.1:{providers_port}",
            logs,
            otlp,
            insights=insights,
        )
    finally:
        # SIGTERM to every process first, then wait: their graceful shutdowns overlap.
        for proc in reversed(started):
            if proc.proc is not None and proc.proc.poll() is None:
                proc.signal(signal.SIGTERM)
        for proc in reversed(started):
            proc.wait_stopped()
        otlp.stop()
