"""PostgreSQL access for every service: async engine, the kit's own tables, transaction retry.

Connections go back to their pool without a reset round trip where that is safe:

* SQLAlchemy's pool (``create_engine``) resets a returned connection with a rollback, and its
  asyncpg adapter sends ``ROLLBACK`` only when a transaction is still open: a connection whose
  transaction was committed goes back with no round trip at all. That reset is kept: it is what
  ends a transaction a caller forgot (or an exception interrupted).
* asyncpg's own ``Pool`` (``create_pg_pool``, for hot paths that bypass the ORM) runs
  ``Connection.reset()`` on every release by default: ``pg_advisory_unlock_all(); CLOSE ALL;
  UNLISTEN *; RESET ALL`` -- one more round trip per request. Peony keeps no session state on
  pooled connections: advisory locks are transaction-scoped (``pg_try_advisory_xact_lock``; the
  migration lock is on a connection of its own), the relay LISTENs on a dedicated connection, no
  ``WITH HOLD`` cursors, no plain ``SET`` (server settings are given at connect time, per-request
  ones with ``SET LOCAL``). So ``create_pg_pool`` releases with only a ``ROLLBACK``, and only when
  a transaction was left open. Code that does keep session state must not use these pools.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from kit.messaging.tables import inbox_table, outbox_table

T = TypeVar("T")

# Serialization failure and deadlock: the whole transaction is safe to run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


# PostgreSQL's own ceiling on any one statement of a pooled connection (PEONY_DB_STATEMENT_TIMEOUT_MS).
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000


def _server_settings(service: str, statement_timeout_ms: int, *, pgbouncer: bool = False) -> dict[str, str]:
    # JIT compilation only slows short OLTP queries down.
    # statement_timeout: set once per connection, at connect, so it costs no round trip. A request's
    # own, shorter deadline needs no `SET LOCAL` per transaction either (one more round trip: +1 ms of
    # CPU on a one-INSERT ORM transaction, measured; docs/architecture.md): at the deadline the server
    # interceptor cancels the handler's task (kit.grpc_server), asyncpg sends PostgreSQL a cancel
    # request for the statement in flight, and the unit of work rolls back. The ceiling catches
    # what has no deadline (consumers, jobs).
    # client_connection_check_interval (PostgreSQL 14+): a statement whose client went away without
    # a cancel request (a connection dropped mid-query, a killed pod) stops within a second instead
    # of waiting on its locks, or running, until it finishes; checked only while a query runs.
    # PgBouncer (transaction mode) refuses startup parameters it does not track: behind it only
    # application_name is sent, and jit / statement_timeout come from the role (ALTER ROLE ... SET).
    if pgbouncer:
        return {"application_name": f"peony-{service}"}
    return {
        "application_name": f"peony-{service}",
        "jit": "off",
        "statement_timeout": str(statement_timeout_ms),
        "client_connection_check_interval": "1000",
    }


def create_engine(
    url: str,
    *,
    service: str,
    pool_size: int = 10,
    max_overflow: int = 20,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    pool_timeout_s: float = 10.0,
    pool_recycle_s: int = 1800,
    pgbouncer: bool = False,
) -> AsyncEngine:
    """The service's pool: at most ``pool_size + max_overflow`` connections; a checkout waits at
    most ``pool_timeout_s`` (PEONY_DB_POOL_TIMEOUT_SECONDS) before failing."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_recycle=pool_recycle_s,
        pool_pre_ping=False,
        connect_args={
            "server_settings": _server_settings(service, statement_timeout_ms, pgbouncer=pgbouncer)
        },
    )


async def _rollback_if_open(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: end a transaction left open, nothing else (see the module doc)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pg_pool(
    url: str,
    *,
    service: str,
    min_size: int = 2,
    max_size: int = 10,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    pgbouncer: bool = False,
) -> asyncpg.Pool:
    """A plain asyncpg pool for hot paths (prepared statements, no ORM); ``url`` may be
    SQLAlchemy's ``postgresql+asyncpg://`` form. Releasing a connection costs no round trip."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=1800,
        reset=_rollback_if_open,
        server_settings=_server_settings(service, statement_timeout_ms, pgbouncer=pgbouncer),
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def idempotency_table(metadata: MetaData) -> Table:
    if "idempotency_keys" in metadata.tables:
        return metadata.tables["idempotency_keys"]
    return Table(
        "idempotency_keys",
        metadata,
        Column("tenant_id", Text, nullable=False),
        Column("method", Text, nullable=False),
        Column("request_id", Text, nullable=False),
        Column("request_hash", LargeBinary, nullable=False),
        # The original response, sealed: it may hold personal data the caller was allowed to see.
        Column("response", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("tenant_id", "method", "request_id", name="pk_idempotency_keys"),
    )


def kit_metadata_tables(metadata: MetaData) -> None:
    """Adds the kit's tables (idempotency keys, outbox, inbox) to a service's metadata."""
    idempotency_table(metadata)
    outbox_table(metadata)
    inbox_table(metadata)


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_retryable(exc: BaseException) -> bool:
    """A serialization failure or deadlock, through SQLAlchemy or straight from asyncpg (the hot
    paths on ``create_pg_pool``)."""
    return isinstance(exc, DBAPIError | asyncpg.PostgresError) and sqlstate(exc) in RETRYABLE_SQLSTATES


async def retry_transaction(fn: Callable[[], Awaitable[T]], *, attempts: int = 6) -> T:
    """Runs `fn` (which opens, does and commits one whole transaction) again on 40001/40P01."""
    for attempt in range(attempts):
        try:
            return await fn()
        except (DBAPIError, asyncpg.PostgresError) as exc:
            if not is_retryable(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def is_invalid_input(exc: BaseException) -> bool:
    """True when the database refused a value as data: SQLSTATE class 22 (invalid text
    representation, character not in repertoire — NUL —, numeric out of range, ...) or asyncpg's
    client-side DataError for a query argument it cannot encode (e.g. a malformed UUID)."""
    if not isinstance(exc, DBAPIError):
        return False
    code = sqlstate(exc)
    if code is not None:
        return code.startswith("22")
    orig = getattr(exc, "orig", None)
    return any(
        isinstance(candidate, asyncpg.exceptions.DataError)
        for candidate in (orig, getattr(orig, "__cause__", None), exc.__cause__)
    )
