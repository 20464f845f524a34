"""Two replicas of the members service share one database: their read caches stay honest."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc

from kit.config import load_config
from services.members.entrypoints.app import build

pytestmark = pytest.mark.integration


async def test_writes_on_one_replica_are_seen_by_the_other(members):
    config = load_config(
        "members",
        {
            "PEONY_MEMBERS_DATABASE_URL": members.database_url,
            "PEONY_NATS_URL": members.nats_url,
            "PEONY_MEMBERS_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    replica_b = await build(config)
    port_b = await replica_b.start()
    channel_b = grpc.aio.insecure_channel(f"127.0.0.1:{port_b}")
    stub_a, stub_b = members.stub, pb_grpc.MembersServiceStub(channel_b)
    md = members.auth("replicas")
    try:
        store = await members.create_store("replicas")
        created = (
            await stub_a.RegisterMember(
                pb.RegisterMemberRequest(
                    member=member_pb2.Member(display_name="旧名", phone="13712340000", home_store=store),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
            )
        ).member
        # Both replicas read (and cache) the member.
        for stub in (stub_a, stub_b):
            assert (
                await stub.GetMember(pb.GetMemberRequest(name=created.name), metadata=md)
            ).member.display_name == "旧名"

        async def rename(stub, name: str) -> None:
            await stub.UpdateMember(
                pb.UpdateMemberRequest(
                    member=member_pb2.Member(name=created.name, display_name=name),
                    update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
            )

        # Read-your-writes on the replica that wrote: no waiting at all.
        await rename(stub_b, "新名")
        assert (
            await stub_b.GetMember(pb.GetMemberRequest(name=created.name), metadata=md)
        ).member.display_name == "新名"

        # The other replica learns through the event stream, promptly.
        started = time.monotonic()
        while True:
            got = (await stub_a.GetMember(pb.GetMemberRequest(name=created.name), metadata=md)).member
            if got.display_name == "新名":
                break
            assert time.monotonic() - started < 3, "replica A still serves the old name"
            await asyncio.sleep(0.02)

        # Staff tier override on A is visible on B too.
        await stub_a.SetMemberTier(
            pb.SetMemberTierRequest(
                name=created.name, tier_id="silver", reason="gift", request_id=str(uuid.uuid4())
            ),
            metadata=md,
        )
        started = time.monotonic()
        while (
            await stub_b.GetMember(pb.GetMemberRequest(name=created.name), metadata=md)
        ).member.tier.tier_id != "silver":
            assert time.monotonic() - started < 3
            await asyncio.sleep(0.02)
    finally:
        await channel_b.close()
        await replica_b.stop()
