"""A real members service (in-process gRPC server) on a fresh database, for the tests here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest_asyncio
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from peony.members.v1 import store_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from services.members.entrypoints.app import build


@dataclass
class MembersUnderTest:
    addr: str
    stub: pb_grpc.MembersServiceStub
    channel: grpc.aio.Channel
    db: AsyncEngine
    database_url: str
    nats_url: str

    @staticmethod
    def auth(
        tenant: str = "acme", roles: list[str] | None = None, subject: str = "user:test", stores=None, **kw
    ):
        token = mint_dev_token(
            tenant=tenant, subject=subject, roles=roles or ["hq_admin"], stores=stores, **kw
        )
        return (("authorization", f"Bearer {token}"),)

    async def create_store(
        self, tenant: str = "acme", store_id: str | None = None, tz: str = "Asia/Shanghai"
    ) -> str:
        store_id = store_id or f"s-{uuid.uuid4().hex[:8]}"
        await self.stub.CreateStore(
            pb.CreateStoreRequest(
                store_id=store_id,
                store=store_pb2.Store(display_name=f"Store {store_id}", time_zone=tz),
                request_id=str(uuid.uuid4()),
            ),
            metadata=self.auth(tenant),
        )
        return f"stores/{store_id}"


@pytest_asyncio.fixture(scope="module")
async def members(infra) -> AsyncIterator[MembersUnderTest]:
    url = to_async_url(await infra.amigrated_database("members"))
    config = load_config(
        "members",
        {
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_MEMBERS_GRPC_PORT": "0",
            "PEONY_MAX_MESSAGE_BYTES": str(64 * 1024),
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    runner = await build(config)
    port = await runner.start()
    addr = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(addr)
    db = create_async_engine(url)
    try:
        yield MembersUnderTest(addr, pb_grpc.MembersServiceStub(channel), channel, db, url, infra.nats_url)
    finally:
        await channel.close()
        await db.dispose()
        await runner.stop()
