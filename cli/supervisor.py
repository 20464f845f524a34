"""Child-process supervision for ``peony up``: restart with backoff, logs appended and rotated.

A crashed service must not take the development stack down with it, and its last words must
survive the restart. So:

* each child's stdout/stderr is a pipe the supervisor drains (one thread per child) into
  ``var/log/<name>.log``, opened for appending; the supervisor owns that file, so it can rotate it
  by size (``<name>.log.1`` .. ``.N``) without the child noticing — a child writing to an
  inherited fd could not be rotated under it;
* a child that exits while the stack is up is restarted after an exponential backoff (capped),
  and the backoff resets once a run has stayed up for a while; every exit and restart is printed
  and written into the child's log with its exit code;
* only :meth:`Supervisor.stop` (Ctrl-C / SIGTERM in ``peony up``) stops children for good.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cli.devstack import parent_death_signal

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3


class RotatingLog:
    """An append-only log file rotated by size: ``path`` -> ``path.1`` -> ... -> ``path.<backups>``.

    Rotation happens only between whole writes (the drain writes line by line), so no line is
    split across files. Thread-safe: the drain thread and the supervisor's notes share it.
    """

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._size > 0 and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def note(self, text: str) -> None:
        """A line from the supervisor itself, marked so it stands out among the child's JSON."""
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.write(f"--- peony up {stamp}: {text}\n".encode())

    def _rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            self._file = open(self.path, "ab")  # noqa: SIM115
        else:
            self._file = open(self.path, "wb")  # noqa: SIM115 - no backups: start over
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass(frozen=True)
class Backoff:
    """Delay before restart n (1-based): ``initial * factor**(n-1)``, at most ``maximum``.

    A run that stayed up ``reset_after`` seconds counts as healthy: the next crash starts over at
    ``initial``.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    reset_after: float = 60.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * self.factor ** max(0, attempt - 1)))


@dataclass
class Child:
    name: str
    cmd: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: RotatingLog | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0  # restarts so far (for the banner and tests)
    failures: int = 0  # consecutive short-lived runs: the backoff exponent
    restart_at: float | None = None  # set while waiting to restart
    last_exit_code: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # this child's variables over the shared ones
    _drain: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _drain(stream: IO[bytes], log: RotatingLog) -> None:
    with contextlib.suppress(ValueError, OSError):
        for line in iter(stream.readline, b""):
            log.write(line)
    stream.close()


class Supervisor:
    """Starts children, restarts the ones that exit, stops them all on request."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        backoff: Backoff | None = None,
        say: Callable[[str], None] = print,
        log_max_bytes: int = LOG_MAX_BYTES,
        log_backups: int = LOG_BACKUPS,
    ):
        self.env = env
        self.backoff = backoff or Backoff()
        self.say = say
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self.stopping = False

    def start(self, child: Child) -> None:
        if child.log is None:
            child.log = RotatingLog(child.log_path, self.log_max_bytes, self.log_backups)
        child.process = subprocess.Popen(
            child.cmd,
            env={**self.env, **child.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: a terminal Ctrl-C reaches only us; we stop the children in order.
            start_new_session=True,
            # If we are killed outright, the kernel sends the child SIGTERM.
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.log.note(f"started {child.name} (pid {child.process.pid}): {' '.join(child.cmd)}")
        assert child.process.stdout is not None
        child._drain = threading.Thread(
            target=_drain, args=(child.process.stdout, child.log), name=f"log-{child.name}", daemon=True
        )
        child._drain.start()

    def check(self, child: Child, now: float | None = None) -> int | None:
        """Notice an exit (and schedule the restart) or perform a due restart.

        Returns the exit code when this call noticed the child exiting, else None.
        """
        if self.stopping:
            return None
        now = time.monotonic() if now is None else now
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                self.say(f"peony up: restarting {child.name} (restart {child.restarts})")
                self.start(child)
            return None
        if child.process is None:
            return None
        code = child.process.poll()
        if code is None:
            return None
        self._join_drain(child)
        uptime = now - child.started_at
        child.failures = 1 if uptime >= self.backoff.reset_after else child.failures + 1
        delay = self.backoff.delay(child.failures)
        child.last_exit_code = code
        child.restart_at = now + delay
        what = f"{child.name} (pid {child.process.pid}) exited with code {code} after {uptime:.1f}s"
        assert child.log is not None
        child.log.note(f"{what}; restarting in {delay:.1f}s")
        self.say(f"peony up: {what}; restarting in {delay:.1f}s (log {child.log_path})")
        return code

    def stop(self, children: list[Child], grace: float) -> None:
        """SIGTERM, wait up to ``grace`` seconds, SIGKILL; no restarts from here on."""
        self.stopping = True
        running = [c for c in children if c.running]
        for child in running:
            assert child.process is not None
            self.say(f"peony up: stopping {child.name} (pid {child.process.pid})")
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"peony up: {child.name} did not stop within {grace:.0f}s, killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait(10)
        for child in children:
            if child.process is not None:
                self._join_drain(child)
                if child.log is not None and child.process.returncode is not None:
                    child.log.note(f"stopped {child.name} (exit code {child.process.returncode})")
            if child.log is not None:
                child.log.close()
                child.log = None

    @staticmethod
    def _join_drain(child: Child) -> None:
        # The pipe reaches EOF once the child (and anything it forked) closed it; a grandchild
        # still holding it must not hang us.
        if child._drain is not None:
            child._drain.join(5.0)
            child._drain = None
