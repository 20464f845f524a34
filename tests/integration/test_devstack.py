"""The test infrastructure is the real thing: PostgreSQL and NATS JetStream, not fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import DevStack, drop_database, ensure_database, start_postgres
from kit.config import to_async_url
from tests.support.stack import Infra

pytestmark = pytest.mark.integration


async def test_postgres_is_real(infra: Infra) -> None:
    url = infra.new_database("devstack")
    assert url.startswith("postgresql://")
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SELECT version()")
        assert "PostgreSQL" in version
        await conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)")
        async with conn.transaction():
            await conn.execute("INSERT INTO t VALUES (1, 'kept')")
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.execute("INSERT INTO t VALUES (2, 'rolled back')")
                raise RuntimeError("abort")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO t VALUES (1, 'duplicate')")
        assert await conn.fetch("SELECT id, v FROM t ORDER BY id") == [(1, "kept")]
    finally:
        await conn.close()


async def test_sqlalchemy_async_url(infra: Infra) -> None:
    url = await infra.anew_database("sqla")
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT current_database()"))).scalar_one() == url.rsplit("/", 1)[
                1
            ]
    finally:
        await engine.dispose()


async def test_databases_are_isolated_and_ensure_is_idempotent(infra: Infra) -> None:
    a = infra.new_database("iso")
    b = infra.new_database("iso")
    assert a != b
    name = f"t_ensure_{uuid.uuid4().hex[:8]}"
    # Concurrent creators must all succeed.
    await asyncio.gather(*(ensure_database(infra.server_url, name) for _ in range(6)))
    conn = await asyncpg.connect(infra.server_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
    finally:
        await conn.close()
    await drop_database(infra.server_url, name)
    await drop_database(infra.server_url, name)  # dropping a missing database is fine


async def test_jetstream_is_real(infra: Infra) -> None:
    suffix = uuid.uuid4().hex[:8]
    stream = f"T_DEVSTACK_{suffix.upper()}"
    subject = f"t.devstack.{suffix}"
    nc = await nats.connect(infra.nats_url, connect_timeout=5)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{subject}.>"], duplicate_window=120.0))
        try:
            first = await js.publish(f"{subject}.MemberRegistered", b"one", headers={"Nats-Msg-Id": "evt-1"})
            again = await js.publish(f"{subject}.MemberRegistered", b"one", headers={"Nats-Msg-Id": "evt-1"})
            other = await js.publish(f"{subject}.MemberRegistered", b"two", headers={"Nats-Msg-Id": "evt-2"})
            assert first.stream == stream and not first.duplicate
            assert again.duplicate and again.seq == first.seq
            assert not other.duplicate and other.seq == first.seq + 1
            assert (await js.stream_info(stream)).state.messages == 2

            sub = await js.pull_subscribe(
                f"{subject}.>",
                durable="devstack-worker",
                stream=stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
            )
            msgs = await sub.fetch(2, timeout=5)
            assert [m.data for m in msgs] == [b"one", b"two"]
            assert msgs[0].headers is not None and msgs[0].headers["Nats-Msg-Id"] == "evt-1"
            for m in msgs:
                await m.ack_sync()
            info = await js.consumer_info(stream, "devstack-worker")
            assert info.num_pending == 0 and info.num_ack_pending == 0
            await sub.unsubscribe()
        finally:
            await js.delete_stream(stream)
    finally:
        await nc.close()


def test_postgres_restarts_after_being_killed(tmp_path: Path) -> None:
    """A stale postmaster.pid from a SIGKILLed server must not block the next start."""
    data = tmp_path / "pg"
    pg = start_postgres(data, fast=True)
    os.kill(pg.pid, signal.SIGKILL)
    pg.process.wait(10)
    assert (data / "postmaster.pid").exists()
    pg2 = start_postgres(data, pg.port, fast=True)
    try:
        assert pg2.url == f"postgresql://peony@127.0.0.1:{pg.port}/postgres"

        async def check() -> str:
            conn = await asyncpg.connect(pg2.url)
            try:
                return str(await conn.fetchval("SELECT current_user"))
            finally:
                await conn.close()

        assert asyncio.run(check()) == "peony"
    finally:
        pg2.stop()
    assert pg2.process.returncode == 0


def test_devstack_uses_external_servers_from_environment(tmp_path: Path) -> None:
    env = {"PEONY_DATABASE_URL": "postgresql://x@db:5432/postgres", "PEONY_NATS_URL": "nats://mq:4222"}
    with DevStack(tmp_path, environ=env) as stack:
        assert stack.database_url == env["PEONY_DATABASE_URL"]
        assert stack.nats_url == env["PEONY_NATS_URL"]
        assert not stack.started_postgres and not stack.started_nats
    assert not (tmp_path / "postgres").exists()
