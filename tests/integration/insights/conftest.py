"""A real insights service (in-process gRPC server, its JetStream consumers, chDB) per test module,
in its own chDB database, beside the real services the tests seed through."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from peony.insights.v1 import insights_service_pb2_grpc as pb_grpc

from cli.history import history
from kit.config import load_config
from kit.messaging import connect, subject_for
from kit.messaging.outbox import HEADER_MSG_ID
from services.insights.domain.facts import PAYLOADS
from services.insights.entrypoints.app import build
from tests.support.stack import Infra

# One chDB session per process: every test of this process shares the path (isolated by database
# name); another test process (another engineer's run) gets its own, chDB locks a path to one process.
CHDB_DIR = f"/tmp/peony-test-chdb-{os.getpid()}"


@dataclass
class Insights:
    stub: pb_grpc.InsightsServiceStub
    runner: object
    database: str
    addr: str


@asynccontextmanager
async def running_insights(infra: Infra, database: str, **env: str) -> AsyncIterator[Insights]:
    config = load_config(
        "insights",
        {
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_INSIGHTS_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            "PEONY_INSIGHTS_DATA_DIR": CHDB_DIR,
            "PEONY_INSIGHTS_DATABASE": database,
            "PEONY_CONSUMER_STATS_INTERVAL_SECONDS": "1",
            **env,
        },
    )
    runner = await build(config)
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Insights(pb_grpc.InsightsServiceStub(channel), runner, database, f"127.0.0.1:{port}")
    finally:
        await channel.close()
        await runner.stop()


@pytest.fixture(scope="module")
async def insights(infra: Infra) -> AsyncIterator[Insights]:
    async with running_insights(infra, f"insights_{uuid.uuid4().hex[:8]}") as value:
        yield value


async def publish_history(infra: Infra, client_name: str, tenant: str, **history_args) -> list[tuple]:
    """A seeded history (`cli.history`) published on the services' own streams, as the services
    would; returns its (envelope, payload) pairs for the test's own expectations."""
    published = list(history(tenant, **history_args))
    nc, js = await connect(infra.nats_url, name=client_name)
    try:
        for p in published:
            await js.publish(
                subject_for(p.service, p.envelope.event_type),
                p.envelope.SerializeToString(),
                headers={HEADER_MSG_ID: p.envelope.event_id},
                stream=f"PEONY_{p.service.upper()}",
            )
    finally:
        await nc.close()
    events = []
    for p in published:
        payload = PAYLOADS[p.envelope.event_type]()
        p.envelope.payload.Unpack(payload)
        events.append((p.envelope, payload))
    return events
