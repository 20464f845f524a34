"""`peony demo`: a demo chain through the public gRPC API (so it exercises the real path)."""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import grpc
from peony.members.v1 import member_pb2, members_service_pb2, members_service_pb2_grpc, store_pb2

from kit.auth import mint_dev_token
from kit.grpc_client import client_target

STORES = [
    ("shanghai-jingan", "Peony 静安店", "Asia/Shanghai", "上海市静安区南京西路 1 号"),
    ("shanghai-xuhui", "Peony 徐汇店", "Asia/Shanghai", "上海市徐汇区衡山路 2 号"),
    ("newyork-soho", "Peony SoHo", "America/New_York", "120 Prince St, New York, NY"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "静丽敏燕芳娜秀英华慧巧美娟霞玲桂兰梅琳雪"


def _hours() -> list[store_pb2.OpeningHours]:
    return [store_pb2.OpeningHours(day_of_week=d, open_time="10:00", close_time="21:00") for d in range(1, 8)]


async def _load(addr: str, tenant: str, count: int) -> tuple[int, int]:
    token = mint_dev_token(
        tenant=tenant,
        subject="user:demo-loader",
        roles=["hq_admin"],
        secret=os.environ.get("PEONY_JWT_SECRET"),
    )
    metadata = (("authorization", f"Bearer {token}"),)
    rng = random.Random(20261123)
    async with grpc.aio.insecure_channel(client_target(addr)) as channel:  # any PEONY_<SVC>_ADDR form
        stub = members_service_pb2_grpc.MembersServiceStub(channel)
        for store_id, name, tz, address in STORES:
            try:
                await stub.CreateStore(
                    members_service_pb2.CreateStoreRequest(
                        store_id=store_id,
                        store=store_pb2.Store(
                            display_name=name, time_zone=tz, address=address, opening_hours=_hours()
                        ),
                        request_id=f"demo-store-{store_id}",
                    ),
                    metadata=metadata,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
        created = existing = 0
        for i in range(count):
            store_id = STORES[i % len(STORES)][0]
            member = member_pb2.Member(
                display_name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                phone=f"139{20261123 + i:08d}",
                gender=member_pb2.GENDER_FEMALE if rng.random() < 0.85 else member_pb2.GENDER_MALE,
                birthday=f"{rng.randint(1965, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                home_store=f"stores/{store_id}",
                registration_channel=member_pb2.REGISTRATION_CHANNEL_STORE,
                consent=member_pb2.Consent(marketing_sms=rng.random() < 0.6),
                tags=["demo"],
            )
            try:
                await stub.RegisterMember(
                    members_service_pb2.RegisterMemberRequest(
                        member=member,
                        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"peony-demo/{tenant}/{i}")),
                    ),
                    metadata=metadata,
                )
                created += 1
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                existing += 1
        return created, existing


async def publish_history(nats_url: str, tenant: str, members: int, days: int) -> int:
    """``peony demo --history``: cli/history.py's events, published as the relays publish them
    (the stores and members exist only as events: for insights' dashboards, not the other
    services' databases)."""
    from cli.history import history
    from kit.messaging import connect, subject_for
    from kit.messaging.outbox import HEADER_MSG_ID

    nc, js = await connect(nats_url, name="peony-demo-history")
    count = 0
    try:
        for p in history(tenant, stores=5, members=members, days=days):
            await js.publish(
                subject_for(p.service, p.envelope.event_type),
                p.envelope.SerializeToString(),
                headers={HEADER_MSG_ID: p.envelope.event_id},
                stream=f"PEONY_{p.service.upper()}",
            )
            count += 1
    finally:
        await nc.close()
    return count


def run_demo(args) -> int:
    if getattr(args, "history", False):
        import os

        nats_url = os.environ.get("PEONY_NATS_URL", "nats://127.0.0.1:4222")
        count = asyncio.run(publish_history(nats_url, args.tenant, args.members, args.days))
        print(f"demo tenant {args.tenant!r}: {count} history events published ({args.days} days)")
        return 0
    created, existing = asyncio.run(_load(args.addr, args.tenant, args.members))
    summary = f"{len(STORES)} stores, {created} members registered ({existing} already there)"
    print(f"demo tenant {args.tenant!r}: {summary}")
    return 0
