"""The outbox relay against real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cli.devstack import free_port, start_nats
from kit.db import session_factory
from kit.messaging import (
    EventEnvelope,
    OutboxRelay,
    add_to_outbox,
    connect,
    ensure_stream,
    new_envelope,
    purge_published,
    stream_name,
    subject_for,
    unpack,
)
from kit.messaging.relay import _Outcome
from tests.integration.kit.helpers import eventually, outbox_rows, stream_messages, write_events
from tests.support.stack import Infra

pytestmark = pytest.mark.integration


async def drain(relay: OutboxRelay, *, limit: int = 1000) -> int:
    total = 0
    for _ in range(limit):
        n = await relay.run_once()
        if n == 0:
            return total
        total += n
    raise AssertionError("relay never ran dry")


class JitteryRelay(OutboxRelay):
    """Publishes after a random network-like delay, so concurrent publishes can overtake each other."""

    async def _publish(self, row: Any) -> _Outcome:
        await asyncio.sleep(random.uniform(0, 0.004))
        return await super()._publish(row)


class SimulatedCrash(Exception):
    pass


class CrashBeforeMark(OutboxRelay):
    """Publishes (and gets the acks) but dies before recording it: the transaction rolls back."""

    async def _record(self, conn: AsyncConnection, outcomes: Sequence[_Outcome]) -> None:
        assert all(o.error is None for o in outcomes)
        raise SimulatedCrash


async def test_publishes_every_row_once_and_survives_a_crash_before_marking(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    await ensure_stream(js, service)
    stream = stream_name(service)
    envs = await write_events(engine, service, [(f"agg-{i % 3}", f"v{i}") for i in range(12)])

    relay = OutboxRelay(engine, js, service, batch_size=5)
    assert await drain(relay) == 12

    msgs = await stream_messages(js, stream)
    assert len(msgs) == 12
    assert sorted(m.headers["Nats-Msg-Id"] for m in msgs) == sorted(e.event_id for e in envs)
    by_id = {e.event_id: e for e in envs}
    for m in msgs:
        env = EventEnvelope.FromString(m.data)
        assert env == by_id[m.headers["Nats-Msg-Id"]]
        assert m.subject == subject_for(service, "google.protobuf.StringValue")
        assert m.headers["Peony-Event-Type"] == "google.protobuf.StringValue"
        assert m.headers["Peony-Tenant"] == "tenant-1"
        assert unpack(env, StringValue).value.startswith("v")
    rows = await outbox_rows(engine)
    assert all(r["published_at"] is not None and r["attempts"] == 0 for r in rows)
    assert await relay.run_once() == 0  # nothing is published twice
    assert (await js.stream_info(stream)).state.messages == 12

    # A crash between the JetStream ack and the UPDATE: every row goes out again...
    more = await write_events(engine, service, [("agg-x", "c1"), ("agg-y", "c2"), ("agg-z", "c3")])
    with pytest.raises(SimulatedCrash):
        await CrashBeforeMark(engine, js, service).run_once()
    assert (await js.stream_info(stream)).state.messages == 15
    assert sum(r["published_at"] is None for r in await outbox_rows(engine)) == 3
    # ...and JetStream's duplicate window drops the copies; the relay takes the duplicate acks as success.
    assert await drain(relay) == 3
    assert (await js.stream_info(stream)).state.messages == 15
    ids = Counter(m.headers["Nats-Msg-Id"] for m in await stream_messages(js, stream))
    assert set(ids.values()) == {1}
    assert {e.event_id for e in more} <= set(ids)
    assert all(r["published_at"] is not None for r in await outbox_rows(engine))

    # Housekeeping: published rows go once they are old enough, unpublished ones never.
    await write_events(engine, service, [("agg-late", "late")])
    assert await purge_published(engine, older_than=timedelta(hours=1)) == 0
    assert await purge_published(engine, older_than=timedelta(0)) == 15
    assert [r["aggregate_id"] for r in await outbox_rows(engine)] == ["agg-late"]


async def test_two_relays_publish_each_event_once_in_per_aggregate_order(
    engine: AsyncEngine, js: JetStreamContext, infra: Infra, service: str
) -> None:
    await ensure_stream(js, service)
    aggregates, per_aggregate = 4, 30
    plan = [(f"agg-{a}", f"agg-{a}:{i}") for i in range(per_aggregate) for a in range(aggregates)]
    await write_events(engine, service, plan)

    # Two replicas: each its own NATS connection (and its own database connections).
    nc2, js2 = await connect(infra.nats_url, "relay-replica-2")
    relays = [
        JitteryRelay(engine, js, service, batch_size=10),
        JitteryRelay(engine, js2, service, batch_size=10),
    ]
    published = [0, 0]

    async def run(i: int) -> None:
        # Both replicas hammer the same outbox at the same time.
        idle = 0
        while idle < 3:
            n = await relays[i].run_once()
            published[i] += n
            idle = idle + 1 if n == 0 else 0
            await asyncio.sleep(0)

    try:
        await asyncio.gather(run(0), run(1))
    finally:
        await nc2.close()
    assert sum(published) == aggregates * per_aggregate
    msgs = await stream_messages(js, stream_name(service))
    assert len(msgs) == aggregates * per_aggregate
    assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == len(msgs)
    seen: dict[str, list[int]] = {}
    for m in msgs:
        env = EventEnvelope.FromString(m.data)
        agg, index = unpack(env, StringValue).value.split(":")
        assert agg == env.aggregate_id
        seen.setdefault(agg, []).append(int(index))
    assert seen == {f"agg-{a}": list(range(per_aggregate)) for a in range(aggregates)}


async def test_nats_outage_backs_off_then_publishes(
    engine: AsyncEngine, service: str, tmp_path: Path
) -> None:
    port = free_port()
    server = start_nats(tmp_path / "nats", port)
    nc = None
    try:
        nc, js = await connect(server.url, "relay-outage", reconnect_time_wait=0.1)
        await ensure_stream(js, service)
        await write_events(engine, service, [("a", "1"), ("a", "2"), ("b", "3")])
        relay = OutboxRelay(engine, js, service, publish_timeout=0.5, base_backoff=0.4, max_backoff=1.0)

        server.stop()
        assert await relay.run_once() == 0  # the heads of "a" and "b" fail
        rows = await outbox_rows(engine)
        heads = [r for r in rows if r["attempts"] > 0]
        assert {r["aggregate_id"] for r in heads} == {"a", "b"}
        for r in rows:
            assert r["published_at"] is None
        for r in heads:
            assert r["last_error"]
            assert 0.05 < r["due_in_s"] <= 1.0  # pushed back, within the cap
        # Backing off: an immediate second pass does not retry them (and "a"'s 2nd waits behind its head).
        assert await relay.run_once() == 0
        assert [r["attempts"] for r in await outbox_rows(engine)] == [1, 0, 1]
        # NATS being away is transient: never a rejection, never parked.
        assert [(r["rejections"], r["parked_at"]) for r in await outbox_rows(engine)] == [(0, None)] * 3

        server = start_nats(tmp_path / "nats", port)
        await eventually(lambda: asyncio.sleep(0, nc.is_connected), within=10, what="client reconnected")

        async def all_published() -> bool:
            await relay.run_once()
            return all(r["published_at"] is not None for r in await outbox_rows(engine))

        await eventually(all_published, within=10, interval=0.1, what="rows published after the outage")
        # Requests buffered while disconnected may have reached the server after the reconnect:
        # the duplicate window keeps the stream at one copy per event.
        assert (await js.stream_info(stream_name(service))).state.messages == 3
    finally:
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        server.stop()


async def test_listen_notify_wakes_the_relay(engine: AsyncEngine, js: JetStreamContext, service: str) -> None:
    await ensure_stream(js, service)
    relay = OutboxRelay(engine, js, service, poll_interval=30)
    await relay.start()
    try:
        await relay.wait_listening()
        await asyncio.sleep(0.3)  # the sweeps at start are over; only a notification wakes it now
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            await add_to_outbox(
                session,
                service,
                new_envelope(StringValue(value="hi"), tenant="t", aggregate_type="thing", aggregate_id="n1"),
            )

        async def published() -> bool:
            return all(r["published_at"] is not None for r in await outbox_rows(engine))

        took = await eventually(published, within=5, what="published after NOTIFY")
        assert took < 2.0

        # The LISTEN connection dies: the relay reconnects and is woken again.
        async with engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"peony-{service}-outbox-listen"},
            )
        assert killed == 1
        await eventually(lambda: asyncio.sleep(0, not relay.listening), within=5, what="drop noticed")
        await relay.wait_listening()
        await asyncio.sleep(0.3)
        async with sessions() as session, session.begin():
            await add_to_outbox(
                session,
                service,
                new_envelope(
                    StringValue(value="again"), tenant="t", aggregate_type="thing", aggregate_id="n2"
                ),
            )
        took = await eventually(published, within=5, what="published after NOTIFY on the new connection")
        assert took < 2.0
    finally:
        started = time.monotonic()
        await relay.stop()
        assert time.monotonic() - started < 2.0
    assert (await js.stream_info(stream_name(service))).state.messages == 2


def _values(msgs: list[Any]) -> list[tuple[str, str]]:
    envs = [EventEnvelope.FromString(m.data) for m in msgs]
    return [(e.aggregate_id, unpack(e, StringValue).value) for e in envs]


async def test_one_batch_publishes_an_aggregates_run_of_rows_in_order(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    await ensure_stream(js, service)
    # A checkout writes several events of one aggregate in one transaction: one batch takes them all.
    plan = [("a", "a0"), ("b", "b0"), ("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3")]
    await write_events(engine, service, plan)

    relay = OutboxRelay(engine, js, service, batch_size=100)
    assert await relay.run_once() == 6
    assert all(r["published_at"] is not None for r in await outbox_rows(engine))
    values = _values(await stream_messages(js, stream_name(service)))
    assert [v for a, v in values if a == "a"] == ["a0", "a1", "a2", "a3"]
    assert [v for a, v in values if a == "b"] == ["b0", "b1"]

    # batch_size bounds the rows, not only the aggregates; the cut keeps each run a prefix.
    await write_events(engine, service, [("c", f"c{i}") for i in range(5)])
    small = OutboxRelay(engine, js, service, batch_size=2)
    assert [await small.run_once() for _ in range(4)] == [2, 2, 1, 0]
    values = _values(await stream_messages(js, stream_name(service)))
    assert [v for a, v in values if a == "c"] == [f"c{i}" for i in range(5)]


async def test_a_failed_row_stops_its_aggregates_later_rows_in_the_batch(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    await ensure_stream(js, service)
    await write_events(engine, service, [("a", "a0"), ("a", "a1"), ("a", "a2"), ("b", "b0"), ("b", "b1")])
    async with engine.begin() as conn:  # a1 is off the stream: rejected before it is sent
        await conn.execute(
            text(
                "UPDATE outbox SET subject = 'peony.elsewhere.StringValue'"
                " WHERE seq = (SELECT min(seq) + 1 FROM outbox)"
            )
        )

    relay = OutboxRelay(engine, js, service, batch_size=100, park_after=5)
    assert await relay.run_once() == 3  # a0, b0, b1
    rows = await outbox_rows(engine)
    published = [r["published_at"] is not None for r in rows]
    assert published == [True, False, False, True, True]
    a1, a2 = rows[1], rows[2]
    assert (a1["rejections"], a1["attempts"]) == (1, 1) and "is not an event subject" in a1["last_error"]
    assert (a2["rejections"], a2["attempts"], a2["last_error"]) == (0, 0, None)  # never tried
    assert _values(await stream_messages(js, stream_name(service))) == [("a", "a0"), ("b", "b0"), ("b", "b1")]
