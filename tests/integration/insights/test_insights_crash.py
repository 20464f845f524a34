"""SIGKILL of the insights process while it ingests never double-counts: a batch inserted and not
acked comes back after the restart and is merged away (ReplacingMergeTree by event id, FINAL).

The service runs as its own process (`peony serve insights`, chDB in a temporary directory) and
the events are members' registrations published exactly as members' relay publishes them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from peony.insights.v1 import insights_service_pb2 as ipb
from peony.insights.v1 import insights_service_pb2_grpc as pb_grpc
from peony.members.v1 import events_pb2 as mev

from kit.messaging import connect, new_envelope, subject_for
from kit.messaging.outbox import HEADER_MSG_ID
from tests.support.providers import free_port
from tests.support.stack import Infra
from tests.support.wallet import md

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EVENTS = 1500


def start(infra: Infra, data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PEONY_NATS_URL": infra.nats_url,
        "PEONY_INSIGHTS_GRPC_PORT": str(port),
        "PEONY_INSIGHTS_DATA_DIR": str(data_dir),
        "PEONY_INSIGHTS_DATABASE": "crash",
        # small batches: the kill lands between inserts and acks of a long ingest
        "PEONY_INSIGHTS_CONSUMER_BATCH": "50",
        "PEONY_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "insights"],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def registered(stub, tenant: str) -> int | None:
    try:
        got = await stub.QueryMetric(
            ipb.QueryMetricRequest(metric="new_members", start_date="2020-01-01", end_date="2022-12-31"),
            metadata=md(tenant),
            timeout=10,
        )
    except grpc.aio.AioRpcError:
        return None  # not serving yet
    return int(got.rows[0].values[1].integer)


async def test_sigkill_mid_ingest_never_double_counts(infra: Infra, tmp_path: Path):
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    port = free_port()
    log = tmp_path / "insights.log"
    proc = start(infra, tmp_path / "chdb", port, log)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.InsightsServiceStub(channel)
    try:
        for _ in range(300):  # serving (its durable consumers exist from now on)
            if await registered(stub, tenant) is not None:
                break
            await asyncio.sleep(0.2)
        nc, js = await connect(infra.nats_url, name="insights-crash-test")
        try:
            when = datetime(2021, 6, 1, tzinfo=UTC)
            for i in range(EVENTS):
                member = f"members/{uuid.uuid4()}"
                envelope = new_envelope(
                    mev.MemberRegistered(member=member, home_store="stores/s1", tier_id="regular"),
                    tenant=tenant,
                    aggregate_type="member",
                    aggregate_id=member,
                    occurred_at=when + timedelta(minutes=i),
                )
                await js.publish(
                    subject_for("members", envelope.event_type),
                    envelope.SerializeToString(),
                    headers={HEADER_MSG_ID: envelope.event_id},
                    stream="PEONY_MEMBERS",
                )
        finally:
            await nc.close()
        # Kill it mid-ingest, hard (no drain, no acks of the batch in flight).
        for _ in range(600):
            count = await registered(stub, tenant)
            if count:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        print(f"killed with {count} of {EVENTS} registrations counted")
        await channel.close()

        proc = start(infra, tmp_path / "chdb", port, log)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub = pb_grpc.InsightsServiceStub(channel)
        seen = []
        for _ in range(600):
            count = await registered(stub, tenant)
            if count is not None:
                seen.append(count)
            if count == EVENTS:
                break
            await asyncio.sleep(0.2)
        assert seen and seen[-1] == EVENTS, (seen[-5:], log.read_text()[-3000:])
        assert max(seen) == EVENTS  # never more than once, at any moment
        await asyncio.sleep(2)  # redeliveries of the killed batch have come back by now
        assert await registered(stub, tenant) == EVENTS
    finally:
        await channel.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
