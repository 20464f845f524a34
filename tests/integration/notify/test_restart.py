"""Notify across restarts and crashes: still exactly one welcome per registration.

A module of its own: the service's durable consumer is shared by every notify instance on the NATS
server, so no other instance (like test_welcome's module-wide one) may run while these tests do.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kit.db import create_engine
from kit.messaging import EventConsumer
from services.notify.adapters.sinks import Delivery, FileSink
from services.notify.entrypoints.consumers import MEMBERS_SUBJECTS, members_events_handler
from tests.integration.notify.conftest import NotifyUnderTest, eventually, publish, registration

pytestmark = pytest.mark.integration


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _by_event(lines: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["trigger_event_id"]] = counts.get(line["trigger_event_id"], 0) + 1
    return counts


async def test_restart_in_the_middle_of_a_burst(notify_env: NotifyUnderTest):
    tenant = _tenant()
    envelopes = [registration(tenant) for _ in range(60)]
    runner = await notify_env.start()
    for env in envelopes:
        await publish(notify_env.js, env)
    await eventually(lambda: len(notify_env.lines(tenant)) >= 5, what="the burst under way")
    await notify_env.stop(runner)
    stopped_at = len(notify_env.lines(tenant))
    # Copies of events the first instance may already have handled arrive while it is down.
    for env in envelopes[:10]:
        await publish(notify_env.js, env, msg_id=f"copy-{uuid.uuid4()}")
    await notify_env.start()
    await eventually(lambda: len(notify_env.lines(tenant)) >= len(envelopes), within=60, what="every welcome")
    await asyncio.sleep(0.5)
    counts = _by_event(notify_env.lines(tenant))
    assert counts == {env.event_id: 1 for env in envelopes}, f"stopped after {stopped_at} lines"
    rows = await notify_env.rows(tenant)
    assert len(rows) == len(envelopes) and {r["state"] for r in rows} == {"sent"}


class _DiesAfterDelivery:
    """Delivers ``tenant``'s first message through a FileSink, then "dies" before the transaction
    commits; from then on deliveries go through a NEW FileSink on the same file (its memory loaded
    from the file), as they would in the restarted process."""

    def __init__(self, path, tenant: str):
        self.path = path
        self.tenant = tenant
        self.died = 0
        self.current = FileSink(path)

    async def deliver(self, delivery: Delivery) -> bool:
        if delivery.tenant == self.tenant and not self.died:
            await self.current.deliver(delivery)
            self.died += 1
            self.current = FileSink(self.path)
            raise RuntimeError("killed between the sink write and the commit")
        return await self.current.deliver(delivery)

    async def close(self) -> None:
        return None


async def test_crash_between_sink_write_and_commit_delivers_once(notify_env: NotifyUnderTest):
    """The window the deterministic message id closes: the line is written, the transaction is not."""
    tenant = _tenant()
    sink = _DiesAfterDelivery(notify_env.sink_path, tenant)
    engine = create_engine(notify_env.database_url, service="notify-test")
    # A durable of its own, so only this consumer sees the events (not the service's shared one).
    consumer = EventConsumer(
        engine,
        notify_env.js,
        service="notify",
        durable=f"notify-crash-test-{uuid.uuid4().hex[:8]}",
        stream_service="members",
        subjects=MEMBERS_SUBJECTS,
        handler=members_events_handler(sink),
        backoff=(0.2,),
        fetch_timeout=0.5,
    )
    env = registration(tenant)
    await publish(notify_env.js, env)
    await consumer.start()
    try:
        await eventually(
            lambda: _sent(notify_env, tenant), within=20, what="the redelivered event recorded as sent"
        )
    finally:
        await consumer.stop()
        await engine.dispose()
    assert sink.died == 1
    assert _by_event(notify_env.lines(tenant)) == {env.event_id: 1}
    rows = await notify_env.rows(tenant)
    assert len(rows) == 1 and rows[0]["state"] == "sent" and rows[0]["attempts"] == 1


async def _sent(env: NotifyUnderTest, tenant: str) -> bool:
    rows = await env.rows(tenant)
    return bool(rows) and rows[0]["state"] == "sent"
