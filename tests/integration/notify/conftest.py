"""Notify end to end: a real members service (contacts), the local provider servers, notify.

``stack`` (one per module) starts, each on a fresh database:
  - members, in process, over real gRPC (notify resolves contacts through its ResolveContact);
  - the local provider servers (``services.notify.devproviders``): the SMS / WeChat / FCM HTTP
    APIs and an SMTP server, verifying signatures and recording what they accepted;
  - notify, in process, with its providers pointed at those servers.
Events of wallet and booking are published straight to JetStream in the services' own format
(``publish``); members' come from members itself. Each test uses a tenant of its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest_asyncio
from aiohttp import web
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message as ProtoMessage
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from peony.members.v1 import member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc
from peony.notify.v1 import notify_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.app import build_app as build_gateway
from kit.auth import mint_dev_token
from kit.config import ServiceConfig, load_config, to_async_url
from kit.grpc_server import GrpcServiceRunner
from kit.messaging import EventEnvelope, connect, ensure_stream, new_envelope
from services.members.entrypoints.app import build as build_members
from services.notify.adapters.providers import load_registry
from services.notify.adapters.providers.config import dev_document, ensure_dev_service_account, parse_config
from services.notify.devproviders.server import DevProviders
from services.notify.entrypoints.app import build as build_notify


def auth(tenant: str, roles: list[str] | None = None, stores: list[str] | None = None) -> tuple:
    token = mint_dev_token(tenant=tenant, subject="user:test", roles=roles or ["hq_admin"], stores=stores)
    return (("authorization", f"Bearer {token}"),)


def rid() -> str:
    return str(uuid.uuid4())


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


_phones = iter(range(10_000_000))


def new_phone() -> str:
    return f"+86137{next(_phones) + 10_000_000:08d}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any], *, within: float = 30.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(0.1)


@dataclass
class Stack:
    infra: Any
    tmp: Path
    members_addr: str
    gateway_url: str
    members: mpb_grpc.MembersServiceStub
    members_db: AsyncEngine
    sim: DevProviders
    provider_doc: dict[str, Any]
    notify_url: str
    notify_db: AsyncEngine
    nc: NATS
    js: JetStreamContext
    env: dict[str, str]
    runners: list[GrpcServiceRunner] = field(default_factory=list)
    channel: grpc.aio.Channel | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    # --- notify ------------------------------------------------------------------------------
    def notify_config(self, **overrides: str) -> ServiceConfig:
        return load_config("notify", {**self.env, **overrides})

    async def start_notify(self, **overrides: str) -> GrpcServiceRunner:
        doc = overrides.pop("provider_doc", None) or self.provider_doc
        registry = load_registry(parse_config(doc, {}))
        runner = await build_notify(self.notify_config(**overrides), registry=registry)
        port = await runner.start()
        self.runners.append(runner)
        if self.channel is not None:
            await self.channel.close()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return runner

    async def stop_notify(self, runner: GrpcServiceRunner) -> None:
        await runner.stop()
        self.runners.remove(runner)

    @property
    def notify_addr(self) -> str:
        return f"127.0.0.1:{self.env['PEONY_NOTIFY_GRPC_PORT']}"

    @property
    def notify(self) -> pb_grpc.NotifyServiceStub:
        assert self.channel is not None
        return pb_grpc.NotifyServiceStub(self.channel)

    async def rows(self, tenant: str, trigger: str | None = None) -> list[dict]:
        sql = (
            "SELECT * FROM messages WHERE tenant_id = :t AND (CAST(:g AS text) IS NULL OR trigger = :g)"
            " ORDER BY create_time"
        )
        async with self.notify_db.connect() as conn:
            result = await conn.execute(text(sql), {"t": tenant, "g": trigger})
            return [{**r._mapping, "message_id": str(r.message_id)} for r in result]

    # --- members -----------------------------------------------------------------------------
    async def store(self, tenant: str, tz: str = "Asia/Shanghai", store_id: str = "") -> str:
        store_id = store_id or f"s-{uuid.uuid4().hex[:8]}"
        await self.members.CreateStore(
            mpb.CreateStoreRequest(
                store_id=store_id,
                store=store_pb2.Store(display_name=f"Store {store_id}", time_zone=tz),
                request_id=rid(),
            ),
            metadata=auth(tenant),
        )
        return f"stores/{store_id}"

    async def member(
        self,
        tenant: str,
        store: str,
        *,
        name: str = "王静怡",
        phone: str | None = None,
        locale: str = "",
        email: str = "",
        openid: str = "",
        consent: member_pb2.Consent | None = None,
    ) -> member_pb2.Member:
        """Registers a member (members publishes MemberRegistered), then sets contacts if given."""
        created = (
            await self.members.RegisterMember(
                mpb.RegisterMemberRequest(
                    member=member_pb2.Member(
                        display_name=name, phone=phone or new_phone(), home_store=store, locale=locale
                    ),
                    request_id=rid(),
                ),
                metadata=auth(tenant),
            )
        ).member
        paths, patch = [], member_pb2.Member(name=created.name)
        if email:
            patch.email, paths = email, [*paths, "email"]
        if openid:
            patch.wechat_openid, paths = openid, [*paths, "wechat_openid"]
        if consent is not None:
            patch.consent.CopyFrom(consent)
            paths.append("consent")
        if paths:
            return (
                await self.members.UpdateMember(
                    mpb.UpdateMemberRequest(
                        member=patch, update_mask=field_mask_pb2.FieldMask(paths=paths), request_id=rid()
                    ),
                    metadata=auth(tenant),
                )
            ).member
        return created

    # --- events and providers ----------------------------------------------------------------
    async def publish(
        self, tenant: str, event: ProtoMessage, *, aggregate_id: str | None = None
    ) -> EventEnvelope:
        """As the producing service's relay would: subject ``peony.<service>.<Event>``."""
        full = event.DESCRIPTOR.full_name  # peony.<service>.v1.<Event>
        service, name = full.split(".")[1], full.rsplit(".", 1)[1]
        envelope = new_envelope(
            event, tenant=tenant, aggregate_type=service, aggregate_id=aggregate_id or str(uuid.uuid4())
        )
        await self.js.publish(
            f"peony.{service}.{name}",
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.event_id},
        )
        return envelope

    async def sent(self, provider: str | None = None) -> list[dict[str, Any]]:
        url = f"{self.sim.url}/_sim/messages" + (f"?provider={provider}" if provider else "")
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return (await r.json())["messages"]

    async def sent_for(self, message_ids: set[str]) -> list[dict[str, Any]]:
        return [m for m in await self.sent() if m.get("message_id") in message_ids]

    async def fault(self, **body: Any) -> None:
        async with aiohttp.ClientSession() as s, s.post(f"{self.sim.url}/_sim/faults", json=body) as r:
            assert r.status == 200, await r.text()

    async def clear_faults(self) -> None:
        async with aiohttp.ClientSession() as s, s.delete(f"{self.sim.url}/_sim/faults") as r:
            assert r.status == 200


@pytest_asyncio.fixture(scope="module")
async def stack(infra, tmp_path_factory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("notify")
    closers: list[Callable[[], Awaitable[None]]] = []
    # members
    members_url = to_async_url(await infra.amigrated_database("members"))
    members_runner = await build_members(
        load_config(
            "members",
            {
                "PEONY_MEMBERS_DATABASE_URL": members_url,
                "PEONY_NATS_URL": infra.nats_url,
                "PEONY_MEMBERS_GRPC_PORT": "0",
                "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            },
        )
    )
    members_port = await members_runner.start()
    closers.append(members_runner.stop)
    members_channel = grpc.aio.insecure_channel(f"127.0.0.1:{members_port}")
    closers.append(members_channel.close)
    members_db = create_async_engine(members_url)
    closers.append(members_db.dispose)
    # the gateway, in process: providers post their receipts to its public route, which forwards
    # them to notify (on a port chosen now, so restarted notify instances keep it)
    notify_port = _free_port()
    gateway_config = load_config(
        "gateway",
        {
            "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
            "PEONY_NOTIFY_ADDR": f"127.0.0.1:{notify_port}",
            "PEONY_WALLET_ADDR": "127.0.0.1:1",  # not used here
            "PEONY_BOOKING_ADDR": "127.0.0.1:1",
        },
    )
    gateway_runner = web.AppRunner(build_gateway(gateway_config), access_log=None)
    await gateway_runner.setup()
    gateway_site = web.TCPSite(gateway_runner, "127.0.0.1", 0)
    await gateway_site.start()
    gateway_port = gateway_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    closers.append(gateway_runner.cleanup)
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    # the local provider servers, posting receipts to the gateway
    http_port, smtp_port = _free_port(), _free_port()
    doc = dev_document(
        f"http://127.0.0.1:{http_port}", smtp_port, ensure_dev_service_account(tmp / "fcm.json")
    )
    sim = DevProviders(parse_config(doc, {}), receipt_url=f"{gateway_url}/v1/notify/receipts/{{provider}}")
    await sim.start("127.0.0.1", http_port, smtp_port)
    closers.append(sim.stop)
    # notify
    notify_url = to_async_url(await infra.amigrated_database("notify"))
    env = {
        "PEONY_NOTIFY_DATABASE_URL": notify_url,
        "PEONY_NATS_URL": infra.nats_url,
        "PEONY_NOTIFY_GRPC_PORT": str(notify_port),
        "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
        "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        "PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS": "0.05",
        "PEONY_NOTIFY_RETRY_BACKOFF_SECONDS": "0.2,0.4",
        "PEONY_NOTIFY_QUIET_HOURS": "off",
        "PEONY_NOTIFY_SEND_TIMEOUT_SECONDS": "3",
    }
    notify_db = create_async_engine(notify_url)
    closers.append(notify_db.dispose)
    nc, js = await connect(infra.nats_url, "notify-tests")
    closers.append(nc.close)
    for stream in ("members", "wallet", "booking", "notify"):
        await ensure_stream(js, stream)
    stack = Stack(
        infra=infra,
        tmp=tmp,
        members_addr=f"127.0.0.1:{members_port}",
        gateway_url=gateway_url,
        members=mpb_grpc.MembersServiceStub(members_channel),
        members_db=members_db,
        sim=sim,
        provider_doc=json.loads(json.dumps(doc)),
        notify_url=notify_url,
        notify_db=notify_db,
        nc=nc,
        js=js,
        env=env,
    )
    try:
        yield stack
    finally:
        for runner in list(stack.runners):
            await stack.stop_notify(runner)
        if stack.channel is not None:
            await stack.channel.close()
        for close in reversed(closers):
            await close()
