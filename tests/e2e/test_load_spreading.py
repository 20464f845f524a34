"""Load that spreads and a gateway that degrades gracefully (issue 11, point 1), on the real thing:
``peony up --replicas 2`` runs two processes of members and of the wallet, each on its own port,
and the gateway balances over them (``round_robin`` over an ``ipv4:`` target, as over a headless
Service's ``dns:///`` target in Kubernetes).

Which replica served a call is read from the spans each replica exports (resource attribute
``service.instance.id=wallet-1`` / ``wallet-2``, set by ``peony up``), as an operator would.
Booking and notify are not started: their addresses point at ports nobody listens on, so they
are the backends that are down.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from cli.devstack import free_port
from kit.auth import mint_dev_token
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.stack import private_nats

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TENANT = "spread-chain"
HEADERS = {
    "Authorization": f"Bearer {mint_dev_token(tenant=TENANT, subject='user:spread', roles=['hq_admin'])}",
    "Content-Type": "application/json",
}
GET_WALLET = "peony.wallet.v1.WalletService/GetWallet"
TOP_UP_MINOR = 100
# The acceptance bound of the rolling restart: at most 0.01 % of the client's requests fail.
MAX_ERROR_RATE = 0.0001


class _Output:
    """`peony up`'s stdout, collected by a thread, waited on by pattern."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    found = rx.search(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                assert left > 0, f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[-60:])
                self._cond.wait(left)


@dataclass
class Spread:
    base: str  # the gateway's URL
    var: Path
    out: _Output
    otlp: OtlpReceiver
    wallet_db: str
    member: str = ""  # members/<id>, created once
    dead: dict[str, str] = field(default_factory=dict)  # backend -> its (unused) address

    def pid(self, replica: str) -> int:
        log = (self.var / "log" / f"{replica}.log").read_text(errors="replace")
        return int(re.findall(rf"started {re.escape(replica)} \(pid (\d+)\)", log)[-1])

    def served(self, method: str, since_ns: int = 0) -> Counter[str]:
        """SERVER spans of ``method`` per replica (service.instance.id), started after ``since_ns``."""
        spans: list[ReceivedSpan] = self.otlp.spans()
        return Counter(
            str(s.resource.get("service.instance.id", "?"))
            for s in spans
            if s.kind == "SERVER" and s.name == method and s.start_ns >= since_ns
        )


@pytest.fixture(scope="module")
def spread_nats(tmp_path_factory) -> Iterator[str]:
    """A NATS of the stack's own: the session's carries what earlier tests left unacknowledged."""
    with private_nats(tmp_path_factory.mktemp("spread_nats")) as url:
        yield url


@pytest.fixture(scope="module")
def spread(infra, spread_nats, tmp_path_factory) -> Iterator[Spread]:
    tmp = tmp_path_factory.mktemp("spread")
    otlp = OtlpReceiver()
    endpoint = otlp.start()
    gateway_port = free_port()
    # Backends this stack does not run: their routes must fail alone (insights is not started either).
    dead = {name: f"127.0.0.1:{free_port()}" for name in ("booking", "notify", "insights")}
    wallet_db = infra.migrated_database("wallet", "spread_wallet")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_DATABASE_URL": infra.server_url,
            "PEONY_MEMBERS_DATABASE_URL": infra.migrated_database("members", "spread_members"),
            "PEONY_WALLET_DATABASE_URL": wallet_db,
            "PEONY_NATS_URL": spread_nats,
            "PEONY_MEMBERS_GRPC_PORT": str(free_port()),
            "PEONY_WALLET_GRPC_PORT": str(free_port()),
            "PEONY_BOOKING_ADDR": dead["booking"],
            "PEONY_NOTIFY_ADDR": dead["notify"],
            "PEONY_INSIGHTS_ADDR": dead["insights"],
            "PEONY_GATEWAY_ADDR": f"127.0.0.1:{gateway_port}",
            "PEONY_UP_REPLICAS": "2",
            # A replica drains for up to this long on SIGTERM (in-flight calls, then workers).
            "PEONY_SHUTDOWN_GRACE_SECONDS": "6",
            "PEONY_GATEWAY_HEALTH_INTERVAL_SECONDS": "1",
            "PEONY_GATEWAY_RATE_TENANT_RPS": "100000",
            "PEONY_GATEWAY_RATE_TOKEN_RPS": "100000",
            "PEONY_GATEWAY_RATE_ANON_IP_RPS": "100000",
            "PEONY_GATEWAY_RATE_ANON_TOTAL_RPS": "100000",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    var = tmp / "var"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--var-dir", str(var), "--services", "members", "wallet"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out = _Output(proc)
    try:
        out.wait_for(r"Peony is up", timeout=180)
        for replica in ("members-1", "members-2", "wallet-1", "wallet-2"):
            out.wait_for(rf"{replica} is ready on 127\.0\.0\.1:\d+", timeout=5)
        yield Spread(f"http://127.0.0.1:{gateway_port}", var, out, otlp, wallet_db, dead=dead)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        otlp.stop()


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: dict | None = None):
    async with session.request(method, url, json=body, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def _member(spread: Spread, session: aiohttp.ClientSession) -> str:
    """A member the wallet knows (members' event reached the wallet's projection)."""
    if spread.member:
        return spread.member
    base = spread.base
    status, body = await _call(
        session,
        "POST",
        f"{base}/v1/stores?storeId=spread&requestId={uuid.uuid4()}",
        {"displayName": "Spread store", "timeZone": "Asia/Shanghai"},
    )
    assert status in (200, 409), body
    status, body = await _call(
        session,
        "POST",
        f"{base}/v1/members",
        {
            "member": {"displayName": "Spread Member", "phone": "13577778888", "homeStore": "stores/spread"},
            "requestId": str(uuid.uuid4()),
        },
    )
    assert status == 200, body
    member = body["member"]["name"]
    deadline = time.monotonic() + 60
    while True:
        status, body = await _call(session, "GET", f"{base}/v1/{member}/wallet")
        if status == 200:
            break
        assert time.monotonic() < deadline, f"the wallet never learned about {member}: {status} {body}"
        await asyncio.sleep(0.2)
    spread.member = member
    return member


async def _wait_spans(spread: Spread, method: str, since_ns: int, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        served = spread.served(method, since_ns)
        if predicate(served) or time.monotonic() > deadline:
            return served
        await asyncio.sleep(0.2)


async def test_calls_through_the_gateway_land_on_both_wallet_replicas(spread: Spread) -> None:
    async with aiohttp.ClientSession() as session:
        member = await _member(spread, session)
        since = time.time_ns()
        calls = 200
        for _ in range(calls):  # one at a time: a spread that needs concurrency would not count
            status, body = await _call(session, "GET", f"{spread.base}/v1/{member}/wallet")
            assert status == 200, body
    served = await _wait_spans(spread, GET_WALLET, since, lambda c: sum(c.values()) >= calls)
    print(f"\nGetWallet through the gateway, {calls} sequential calls, per replica: {dict(served)}")
    assert sum(served.values()) == calls, served
    assert set(served) == {"wallet-1", "wallet-2"}, served
    # round_robin alternates: each replica gets close to half (a wide margin for a health flap).
    assert min(served.values()) >= calls * 0.3, served


async def test_a_backend_that_is_down_fails_only_its_routes(spread: Spread) -> None:
    async with aiohttp.ClientSession() as session:
        member = await _member(spread, session)
        # booking and notify are down: their routes answer 503 naming the backend ...
        for backend, path in (
            ("booking", "/v1/appointments"),
            ("notify", "/v1/messages"),
        ):
            async with session.get(f"{spread.base}{path}", headers=HEADERS) as resp:
                body = await resp.json()
                assert resp.status == 503, (path, body)
                assert body["error"]["status"] == "UNAVAILABLE"
                assert body["error"]["details"][0]["reason"] == "BACKEND_UNAVAILABLE"
                assert body["error"]["details"][0]["metadata"] == {"service": backend}
                assert spread.dead[backend] not in await resp.text()  # no internal address
                assert resp.headers.get("Retry-After")
        # ... while the others keep working,
        status, _ = await _call(session, "GET", f"{spread.base}/v1/{member}/wallet")
        assert status == 200
        status, _ = await _call(session, "GET", f"{spread.base}/v1/{member}")
        assert status == 200
        # and the gateway stays ready, reporting each backend's health.
        async with session.get(f"{spread.base}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 200, body
        assert body["status"] == "degraded"
        assert sorted(body["notReady"]) == ["booking", "insights", "notify"]
        assert body["backends"]["members"] == "SERVING" and body["backends"]["wallet"] == "SERVING"

    # The per-backend gauge, as exported: 1 for members and wallet, 0 for the backends not running.
    def gauge() -> dict[str, int]:
        latest: dict[str, int] = {}
        for request in spread.otlp.metric_requests():
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "peony.gateway.backend.serving":
                            continue
                        for point in metric.gauge.data_points:
                            attrs = {a.key: a.value.string_value for a in point.attributes}
                            latest[attrs["peony.backend"]] = int(point.as_int)
        return latest

    deadline = time.monotonic() + 30
    while len(gauge()) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert gauge() == {"members": 1, "wallet": 1, "booking": 0, "notify": 0, "insights": 0}


@dataclass
class _Load:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # top-up request ids answered 200
    failed: set[str] = field(default_factory=set)  # top-up request ids with no 200 (replayed later)


async def _steady_load(spread: Spread, member: str, stop: asyncio.Event, load: _Load, clients: int) -> None:
    url_top_up = f"{spread.base}/v1/{member}/wallet:topUp"
    url_get = f"{spread.base}/v1/{member}/wallet"
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            request_id = str(uuid.uuid4())
            body = {
                "amountMinor": str(TOP_UP_MINOR),
                "currencyCode": "CNY",
                "tender": "TENDER_WECHAT_PAY",
                "store": "stores/spread",
                "requestId": request_id,
            }
            for method, url, payload in (("POST", url_top_up, body), ("GET", url_get, None)):
                load.requests += 1
                try:
                    status, reply = await _call(session, method, url, payload)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status, reply = 0, {"exception": repr(exc)}
                if status != 200:
                    load.errors.append(f"{method} {status} {reply}")
                if payload is not None:
                    (load.accepted if status == 200 else load.failed).add(request_id)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))


async def test_rolling_restart_under_load_loses_and_duplicates_nothing(spread: Spread) -> None:
    async with aiohttp.ClientSession() as session:
        member = await _member(spread, session)
        status, body = await _call(session, "GET", f"{spread.base}/v1/{member}/wallet")
        assert status == 200
        principal_before = int(body["wallet"].get("principalMinor", "0"))

    load, stop = _Load(), asyncio.Event()
    started = time.monotonic()
    traffic = asyncio.create_task(_steady_load(spread, member, stop, load, clients=4))
    restarts = []
    try:
        await asyncio.sleep(3)  # steady state first
        for replica in ("wallet-1", "wallet-2"):
            pid = spread.pid(replica)
            restarts_before = sum(1 for line in spread.out.lines if f"{replica} is ready again" in line)
            t0 = time.monotonic()
            os.kill(pid, signal.SIGTERM)
            # peony up restarts it (as a Deployment's rollout starts the new pod) ...
            await asyncio.to_thread(
                spread.out.wait_for,
                rf"{replica} is ready again on .* \(restart {restarts_before + 1}\)",
                120,
            )
            back_ns = time.time_ns()
            # ... and the next replica goes only once this one takes traffic again (the rollout
            # waits for the new pod's readiness; here: its spans).
            served = await _wait_spans(spread, GET_WALLET, back_ns, lambda c, r=replica: c[r] > 0, 60)
            assert served[replica] > 0, f"{replica} never took traffic again: {dict(served)}"
            restarts.append((replica, round(time.monotonic() - t0, 1)))
        await asyncio.sleep(3)  # and steady state after
    finally:
        stop.set()
        await asyncio.wait_for(traffic, 60)
    duration = time.monotonic() - started

    async with aiohttp.ClientSession() as session:
        # A top-up whose answer was lost is replayed with its request id: applied at most once.
        for request_id in sorted(load.failed):
            status, body = await _call(
                session,
                "POST",
                f"{spread.base}/v1/{member}/wallet:topUp",
                {
                    "amountMinor": str(TOP_UP_MINOR),
                    "currencyCode": "CNY",
                    "tender": "TENDER_WECHAT_PAY",
                    "store": "stores/spread",
                    "requestId": request_id,
                },
            )
            assert status == 200, body
        status, body = await _call(session, "GET", f"{spread.base}/v1/{member}/wallet")
        assert status == 200
        principal_after = int(body["wallet"]["principalMinor"])

    mutations = load.accepted | load.failed
    conn = await asyncpg.connect(spread.wallet_db)
    try:
        rows = await conn.fetch(
            "SELECT request_id, count(*) AS n FROM ledger_transactions"
            " WHERE tenant_id = $1 AND member_id = $2 AND request_id = ANY($3::text[])"
            " GROUP BY request_id",
            TENANT,
            member.removeprefix("members/"),
            list(mutations),
        )
    finally:
        await conn.close()
    in_ledger = {r["request_id"]: r["n"] for r in rows}

    error_rate = len(load.errors) / max(1, load.requests)
    print(
        f"\nrolling restart of {', '.join(f'{r} ({s} s)' for r, s in restarts)} under 4 clients "
        f"through the gateway: {load.requests} requests in {duration:.1f} s, {len(load.errors)} errors "
        f"({error_rate:.4%}); top-ups: {len(mutations)} sent, {len(load.accepted)} answered 200, "
        f"{len(load.failed)} replayed; ledger: {len(in_ledger)} transactions, "
        f"{sum(1 for n in in_ledger.values() if n > 1)} duplicated; principal "
        f"{principal_before} -> {principal_after} (expected +{TOP_UP_MINOR * len(mutations)})"
    )
    for line in load.errors[:10]:
        print("  error:", line)
    assert load.requests > 200, "the load generator barely ran"
    assert error_rate <= MAX_ERROR_RATE, load.errors[:10]
    # Nothing lost, nothing twice: every top-up is exactly one ledger transaction ...
    assert set(in_ledger) == mutations, mutations - set(in_ledger)
    assert all(n == 1 for n in in_ledger.values()), {k: n for k, n in in_ledger.items() if n > 1}
    # ... and the balance moved by exactly their sum.
    assert principal_after - principal_before == TOP_UP_MINOR * len(mutations)
