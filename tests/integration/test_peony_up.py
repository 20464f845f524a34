"""`peony up` supervises: a crashed child is restarted with backoff, its log survives (appended,
rotated by size), and only Ctrl-C / SIGTERM stops the stack."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.devstack import DevStack, free_port
from cli.supervisor import Backoff, Child, RotatingLog, Supervisor
from tests.support.stack import Infra

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# Crashes (exit 3) on its first two runs, then stays up. Each run prints its number.
FLAKY_CHILD = """
import pathlib, sys, time
counter = pathlib.Path(sys.argv[1])
run = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(run))
print(f"run {run} says hello", flush=True)
if run <= 2:
    print(f"run {run} crashing", file=sys.stderr, flush=True)
    sys.exit(3)
time.sleep(600)
"""


def _supervise_until(supervisor: Supervisor, child: Child, done, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out; log:\n{child.log_path.read_text()}"
        supervisor.check(child)
        time.sleep(0.02)


def test_a_crashed_child_is_restarted_with_backoff_and_its_log_is_kept(tmp_path: Path) -> None:
    log_path = tmp_path / "log" / "flaky.log"
    log_path.parent.mkdir()
    log_path.write_bytes(b"a line from the previous peony up\n")
    said: list[str] = []
    supervisor = Supervisor(
        dict(os.environ),
        backoff=Backoff(initial=0.2, factor=2.0, maximum=5.0, reset_after=60),
        say=said.append,
    )
    child = Child("flaky", [sys.executable, "-c", FLAKY_CHILD, str(tmp_path / "runs")], log_path)
    supervisor.start(child)
    try:
        _supervise_until(supervisor, child, lambda: child.restarts == 2)
        time.sleep(1.0)  # the third run stays up
        for _ in range(5):
            assert supervisor.check(child) is None
        assert child.running and child.restarts == 2
    finally:
        supervisor.stop([child], grace=5)
    assert not child.running

    exits = [s for s in said if "exited with code 3" in s]
    assert len(exits) == 2, said
    # Exponential: the second consecutive crash waits twice as long as the first.
    assert "restarting in 0.2s" in exits[0] and "restarting in 0.4s" in exits[1]
    assert [s for s in said if s.startswith("peony up: restarting flaky")] == [
        "peony up: restarting flaky (restart 1)",
        "peony up: restarting flaky (restart 2)",
    ]
    log = log_path.read_text()
    # Appended, never truncated: the earlier run's lines and every crashed run's output remain.
    assert log.startswith("a line from the previous peony up\n")
    for line in (
        "run 1 says hello",
        "run 1 crashing",
        "run 2 says hello",
        "run 2 crashing",
        "run 3 says hello",
    ):
        assert line in log
    assert log.count("exited with code 3") == 2 and "stopped flaky" in log
    assert log.index("run 1 crashing") < log.index("run 2 says hello") < log.index("run 3 says hello")


def test_backoff_grows_is_capped_and_resets_after_a_long_run(tmp_path: Path) -> None:
    b = Backoff(initial=1.0, factor=2.0, maximum=30.0, reset_after=60.0)
    assert [b.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]

    said: list[str] = []
    supervisor = Supervisor(dict(os.environ), backoff=b, say=said.append)
    child = Child("quick", [sys.executable, "-c", "import sys; sys.exit(7)"], tmp_path / "quick.log")
    supervisor.start(child)
    try:
        _supervise_until(supervisor, child, lambda: child.restart_at is not None)
        assert child.failures == 1 and child.last_exit_code == 7
        # Pretend the restarted run stayed up longer than reset_after before exiting again.
        assert child.restart_at is not None
        supervisor.check(child, now=child.restart_at)
        assert child.restarts == 1
        assert child.process is not None
        child.process.wait(10)
        supervisor.check(child, now=child.started_at + 61)
        assert child.failures == 1, "a run longer than reset_after starts the backoff over"
        supervisor.check(child, now=child.restart_at)
        child.process.wait(10)
        supervisor.check(child, now=child.started_at + 0.5)
        assert child.failures == 2
    finally:
        supervisor.stop([child], grace=5)


def test_rotating_log_rotates_by_size_without_splitting_lines(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    lines = [f"line {i:03d} {'x' * 20}\n".encode() for i in range(40)]  # 30 bytes each
    for line in lines:
        log.write(line)
    log.close()
    files = [path, path.with_name("svc.log.1"), path.with_name("svc.log.2")]
    assert all(f.exists() for f in files) and not path.with_name("svc.log.3").exists()
    for f in files:
        assert 0 < f.stat().st_size <= 100
    # Oldest backup first, then the current file: the newest lines, in order and whole.
    kept = b"".join(f.read_bytes() for f in reversed(files))
    assert kept == b"".join(lines[-len(kept.splitlines()) :])
    # Reopening appends to the current file.
    size = path.stat().st_size
    again = RotatingLog(path, max_bytes=1000, backups=2)
    again.write(b"after reopen\n")
    again.close()
    assert path.stat().st_size == size + len(b"after reopen\n")


def test_a_child_log_is_rotated_while_the_child_runs(tmp_path: Path) -> None:
    """The supervisor owns the log file (the child writes to a pipe), so rotation works under a
    running child: nothing is lost, nothing keeps writing to a rotated-away file."""
    script = (
        "import time\nfor i in range(200):\n    print(f'chatty line {i:04d}', flush=True)\ntime.sleep(600)\n"
    )
    log_path = tmp_path / "chatty.log"
    supervisor = Supervisor(dict(os.environ), say=lambda _msg: None, log_max_bytes=1024, log_backups=50)
    child = Child("chatty", [sys.executable, "-c", script], log_path)
    supervisor.start(child)
    try:
        deadline = time.monotonic() + 20
        while "chatty line 0199" not in log_path.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert child.running
    finally:
        supervisor.stop([child], grace=5)
    rotated = sorted(tmp_path.glob("chatty.log.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(rotated) >= 3
    text = "".join(p.read_text() for p in [*rotated, log_path])
    got = re.findall(r"chatty line (\d{4})", text)
    assert got == [f"{i:04d}" for i in range(200)]


# --- the real thing ------------------------------------------------------------------------------
class _Output:
    """`peony up`'s stdout, collected by a thread, waited on by pattern."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

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
                assert left > 0, f"no line matching {pattern!r} in:\n" + "\n".join(self.lines)
                self._cond.wait(left)


def _serving(addr: str) -> bool:
    with grpc.insecure_channel(addr) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError:
            return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def test_peony_up_restarts_a_killed_service_and_stops_on_sigterm(infra: Infra, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PEONY_DATABASE_URL": infra.server_url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_MEMBERS_GRPC_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    var = tmp_path / "var"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "up",
            "--var-dir",
            str(var),
            "--services",
            "members",
            "--no-gateway",
        ],
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
        out.wait_for(r"Peony is up", timeout=120)
        log_path = var / "log" / "members.log"
        first_pid = int(re.findall(r"started members \(pid (\d+)\)", log_path.read_text())[-1])
        addr = f"127.0.0.1:{port}"
        assert _serving(addr)

        os.kill(first_pid, signal.SIGKILL)
        out.wait_for(rf"members \(pid {first_pid}\) exited with code -9 .*restarting in", timeout=30)
        out.wait_for(r"members is ready again on .* \(restart 1\)", timeout=120)
        assert proc.poll() is None, "the stack must survive a child's crash"
        assert _serving(addr)

        log = log_path.read_text()
        pids = [int(p) for p in re.findall(r"started members \(pid (\d+)\)", log)]
        assert pids[0] == first_pid and len(pids) == 2 and pids[1] != first_pid
        # The killed run's own output is still there, before the restart.
        first_run = log[: log.index(f"started members (pid {pids[1]})")]
        assert "exited with code -9" in first_run and "grpc server started" in first_run

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0
        out.wait_for(r"peony up: stopped", timeout=5)
        assert not any("restarting members (restart 2)" in line for line in out.lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """Not under pytest's basetemp: that is root-only and shared by concurrent sessions, while the
    embedded PostgreSQL runs as an unprivileged user that must reach its data directory."""
    path = Path(tempfile.mkdtemp(prefix="peony-revive-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_devstack_revives_a_dead_postgres_and_nats_on_their_ports(server_dir: Path) -> None:
    with DevStack(server_dir, environ={}, fast=True, pg_port=free_port(), nats_port=free_port()) as stack:
        assert stack.revive() == []  # nothing died
        pg_url, nats_url = stack.database_url, stack.nats_url
        assert stack.postgres is not None and stack.nats is not None
        os.kill(stack.postgres.pid, signal.SIGKILL)
        os.kill(stack.nats.pid, signal.SIGKILL)
        stack.postgres.process.wait(10)
        stack.nats.process.wait(10)

        assert stack.revive() == ["PostgreSQL", "NATS"]
        assert (stack.database_url, stack.nats_url) == (pg_url, nats_url)

        async def check() -> None:
            conn = await asyncpg.connect(pg_url)
            try:
                assert await conn.fetchval("SELECT 1") == 1
            finally:
                await conn.close()
            nc = await nats.connect(nats_url, connect_timeout=5)
            await nc.close()

        asyncio.run(check())


def test_a_child_that_never_comes_up_fails_startup_with_its_log(tmp_path: Path) -> None:
    """Restarts do not hide a broken service: crashing MAX_START_CRASHES times in a row before
    ever answering its health check stops `peony up` with the child's last log lines."""
    from cli.up import MAX_START_CRASHES, UpError, _Child, _wait_healthy

    script = "import sys; print('PEONY_PII_KEY is not base64', flush=True); sys.exit(78)"
    child = _Child(
        "members",
        [sys.executable, "-c", script],
        tmp_path / "members.log",
        kind="service",
        addr=f"127.0.0.1:{free_port()}",
    )
    supervisor = Supervisor(dict(os.environ), backoff=Backoff(initial=0.1, maximum=0.2), say=lambda _m: None)
    supervisor.start(child)
    try:
        with pytest.raises(UpError) as err:
            _wait_healthy(supervisor, [child], timeout=60)
    finally:
        supervisor.stop([child], grace=5)
    assert f"exited with code 78 while starting, {MAX_START_CRASHES} times in a row" in str(err.value)
    assert "PEONY_PII_KEY is not base64" in str(err.value)
    assert child.restarts == MAX_START_CRASHES - 1
