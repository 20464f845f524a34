"""The ClickHouse the facts live in: chDB in-process (default) or a ClickHouse server.

One interface, two backends, the same SQL. Queries bind parameters server-side with ClickHouse's
own ``{name:Type}`` placeholders (both chDB and the HTTP interface support them), so no value is
ever spliced into SQL text. Inserts are one ``JSONEachRow`` block per batch.

chDB runs ClickHouse inside this process: one session per process, calls that block the thread
for the whole query. Every chDB call therefore runs on ONE dedicated worker thread (a
single-thread executor): the event loop never blocks, and calls never run concurrently on the
session (chDB's session is not safe for concurrent use). See docs/architecture.md, "Insights".
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = ["ChdbWarehouse", "ServerWarehouse", "Warehouse", "open_warehouse"]

Row = tuple[Any, ...]


class Warehouse(Protocol):
    """What the service needs from ClickHouse."""

    backend: str
    database: str

    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    async def close(self) -> None: ...


def _chdb_param(value: Any) -> Any:
    """chDB takes parameter values as ClickHouse text: arrays must be written as literals."""
    if isinstance(value, list | tuple):
        escaped = (str(v).replace("\\", "\\\\").replace("'", "\\'") for v in value)
        return "[" + ",".join(f"'{v}'" for v in escaped) + "]"
    return value


def _json_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) for row in rows)


class _ChdbProcessSession:
    """chDB allows one session per process: every ChdbWarehouse of the process shares it, and its
    single worker thread. Warehouses are isolated by database name (tests run several)."""

    lock = threading.Lock()
    session: Any = None
    path: str = ""
    users = 0
    executor: ThreadPoolExecutor | None = None

    @classmethod
    def acquire(cls, path: str) -> ThreadPoolExecutor:
        with cls.lock:
            if cls.session is None:
                cls.path = path
                cls.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
            elif cls.path != path:
                raise RuntimeError(f"chDB already has a session on {cls.path} in this process")
            cls.users += 1
            assert cls.executor is not None
            return cls.executor

    @classmethod
    def open_sync(cls) -> Any:
        if cls.session is None:
            from chdb import session as chdb_session

            Path(cls.path).mkdir(parents=True, exist_ok=True)
            cls.session = chdb_session.Session(cls.path)
        return cls.session

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.users -= 1
            if cls.users > 0:
                return
            session, cls.session = cls.session, None
            executor, cls.executor = cls.executor, None
        if executor is not None:
            if session is not None:
                executor.submit(session.close).result()
            executor.shutdown(wait=True)


class ChdbWarehouse:
    """ClickHouse in-process (chDB): data under ``path``, tables in ``database``."""

    backend = "chdb"

    def __init__(self, path: str | Path, database: str = "peony_insights") -> None:
        self.path = str(path)
        self.database = database
        self._executor: ThreadPoolExecutor | None = None
        self._session: Any = None

    async def open(self) -> ChdbWarehouse:
        self._executor = _ChdbProcessSession.acquire(self.path)
        self._session = await self._run(_ChdbProcessSession.open_sync)
        await self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        return self

    async def _run(self, fn: Any, *args: Any) -> Any:
        assert self._executor is not None, "open() the warehouse first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _query_sync(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Any:
        bound = {k: _chdb_param(v) for k, v in params.items()} if params else None
        result = self._session.query(sql, fmt, params=bound)
        if hasattr(result, "has_error") and result.has_error():  # older chDB versions
            raise RuntimeError(result.error_message())
        return result

    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._run(self._query_sync, sql, params, "CSV")

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        def run() -> list[Row]:
            raw = self._query_sync(sql, params, "JSONCompactEachRow").bytes()
            return [tuple(json.loads(line)) for line in raw.splitlines() if line.strip()]

        return await self._run(run)

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        body = _json_rows(columns, rows)
        cols = ", ".join(columns)
        await self._run(
            self._query_sync, f"INSERT INTO {table} ({cols}) FORMAT JSONEachRow\n{body}", None, "CSV"
        )

    async def close(self) -> None:
        if self._executor is not None:
            self._executor = None
            await asyncio.to_thread(_ChdbProcessSession.release)


class ServerWarehouse:
    """A ClickHouse server or cluster through ``clickhouse-connect`` (HTTP), from
    ``PEONY_CLICKHOUSE_URL`` = ``http[s]://user:password@host:8123/database``."""

    backend = "server"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.database = (parts.path or "/").strip("/") or "peony_insights"
        self._url = parts
        self._client: Any = None

    async def open(self) -> ServerWarehouse:
        import clickhouse_connect

        parts = self._url
        admin = await clickhouse_connect.get_async_client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=parts.username or "default",
            password=parts.password or "",
            secure=parts.scheme == "https",
        )
        await admin.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        await admin.close()
        self._client = await clickhouse_connect.get_async_client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=parts.username or "default",
            password=parts.password or "",
            secure=parts.scheme == "https",
            database=self.database,
        )
        return self

    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._client.command(sql, parameters=dict(params) if params else None)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        result = await self._client.raw_query(
            sql, parameters=dict(params) if params else None, fmt="JSONCompactEachRow"
        )
        return [tuple(json.loads(line)) for line in result.splitlines() if line.strip()]

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        await self._client.raw_insert(
            table, list(columns), insert_block=_json_rows(columns, rows).encode(), fmt="JSONEachRow"
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


async def open_warehouse(
    clickhouse_url: str, chdb_path: str | Path, database: str = "peony_insights"
) -> ChdbWarehouse | ServerWarehouse:
    """The server when ``clickhouse_url`` is set (its URL names the database), else chDB under
    ``chdb_path`` in ``database``."""
    if clickhouse_url:
        return await ServerWarehouse(clickhouse_url).open()
    return await ChdbWarehouse(chdb_path, database).open()
