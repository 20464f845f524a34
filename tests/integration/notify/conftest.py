"""The notify service in-process on a fresh database, and members events published straight to NATS.

The durable ``notify-members-events`` is one per NATS server, i.e. shared by every test of the
session: each test therefore uses a tenant of its own and only looks at that tenant's messages.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from peony.members.v1 import events_pb2 as members_events
from peony.notify.v1 import notify_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.auth import mint_dev_token
from kit.config import ServiceConfig, load_config, to_async_url
from kit.grpc_server import GrpcServiceRunner
from kit.messaging import EventEnvelope, connect, ensure_stream, new_envelope
from kit.migrations import upgrade
from services.notify.entrypoints.app import build

MEMBER_REGISTERED_SUBJECT = "peony.members.MemberRegistered"


def auth(tenant: str, roles: list[str] | None = None) -> tuple[tuple[str, str], ...]:
    token = mint_dev_token(tenant=tenant, subject="user:test", roles=roles or ["hq_admin"])
    return (("authorization", f"Bearer {token}"),)


def registration(tenant: str, *, display_name: str = "小美", member_id: str | None = None) -> EventEnvelope:
    member_id = member_id or str(uuid.uuid4())
    event = members_events.MemberRegistered(
        member=f"members/{member_id}",
        member_number=f"M{uuid.uuid4().int % 10**8:08d}",
        display_name=display_name,
        home_store="stores/s1",
        tier_id="silver",
    )
    return new_envelope(event, tenant=tenant, aggregate_type="member", aggregate_id=member_id)


async def publish(js: JetStreamContext, envelope: EventEnvelope, *, msg_id: str | None = None) -> None:
    """As the members relay would; ``msg_id`` other than the event id defeats the stream's dedupe."""
    await js.publish(
        MEMBER_REGISTERED_SUBJECT,
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": msg_id or envelope.event_id},
    )


def sink_lines(path: Path, tenant: str) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            line = json.loads(raw)
            if line["tenant"] == tenant:
                out.append(line)
    return out


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, within: float = 20.0, what: str = ""
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class NotifyUnderTest:
    """One notify database + sink file; runners (service instances) can be started and stopped on it."""

    config: ServiceConfig
    database_url: str
    sink_path: Path
    db: AsyncEngine
    nc: NATS
    js: JetStreamContext
    runners: list[GrpcServiceRunner] = field(default_factory=list)
    addr: str = ""
    channel: grpc.aio.Channel | None = None

    async def start(self) -> GrpcServiceRunner:
        runner = await build(self.config)
        port = await runner.start()
        self.runners.append(runner)
        if self.channel is not None:
            await self.channel.close()
        self.addr = f"127.0.0.1:{port}"
        self.channel = grpc.aio.insecure_channel(self.addr)
        return runner

    async def stop(self, runner: GrpcServiceRunner) -> None:
        await runner.stop()
        self.runners.remove(runner)

    @property
    def stub(self) -> pb_grpc.NotifyServiceStub:
        assert self.channel is not None
        return pb_grpc.NotifyServiceStub(self.channel)

    def lines(self, tenant: str) -> list[dict]:
        return sink_lines(self.sink_path, tenant)

    async def rows(self, tenant: str) -> list[dict]:
        async with self.db.connect() as conn:
            result = await conn.execute(
                text("SELECT * FROM messages WHERE tenant_id = :t ORDER BY create_time"), {"t": tenant}
            )
            return [dict(r._mapping) for r in result]


async def notify_under_test(infra, tmp_path: Path) -> NotifyUnderTest:
    url = to_async_url(await infra.anew_database("notify"))
    sink_path = tmp_path / "notify" / "outbox.jsonl"
    config = load_config(
        "notify",
        {
            "PEONY_NOTIFY_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_NOTIFY_GRPC_PORT": "0",
            "PEONY_NOTIFY_SINK": str(sink_path),
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    await upgrade("notify", url)
    nc, js = await connect(infra.nats_url, "notify-tests")
    await ensure_stream(js, "members")
    await ensure_stream(js, "notify")
    return NotifyUnderTest(config, url, sink_path, create_async_engine(url), nc, js)


async def close(env: NotifyUnderTest) -> None:
    for runner in list(env.runners):
        await env.stop(runner)
    if env.channel is not None:
        await env.channel.close()
    await env.db.dispose()
    await env.nc.close()


@pytest_asyncio.fixture
async def notify_env(infra, tmp_path) -> AsyncIterator[NotifyUnderTest]:
    """A database and sink, no service running yet."""
    env = await notify_under_test(infra, tmp_path)
    try:
        yield env
    finally:
        await close(env)


@pytest_asyncio.fixture(scope="module")
async def notify(infra, tmp_path_factory) -> AsyncIterator[NotifyUnderTest]:
    """A running notify service shared by the module's tests."""
    env = await notify_under_test(infra, tmp_path_factory.mktemp("notify"))
    await env.start()
    try:
        yield env
    finally:
        await close(env)
