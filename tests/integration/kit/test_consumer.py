"""The inbox consumer against real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.messaging import (
    EventConsumer,
    EventEnvelope,
    OutboxRelay,
    dlq_subject,
    ensure_stream,
    new_envelope,
    stream_name,
    subject_for,
    unpack,
)
from tests.integration.kit.helpers import eventually, stream_messages, write_events

pytestmark = pytest.mark.integration

Handler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


@pytest.fixture
async def effects(engine: AsyncEngine) -> AsyncEngine:
    """A table the handlers write their effect to (no unique key: a double effect would show)."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id uuid NOT NULL, value text NOT NULL)"))
    return engine


class Harness:
    """A producer stream, and consumers (of service ``<service>c``) started on demand."""

    def __init__(self, engine: AsyncEngine, js: JetStreamContext, producer: str) -> None:
        self.engine = engine
        self.js = js
        self.producer = producer
        self.service = f"{producer}c"
        self.subject = subject_for(producer, "google.protobuf.StringValue")
        self.consumers: list[EventConsumer] = []

    def consumer(self, handler: Handler, durable: str = "worker", **kwargs: object) -> EventConsumer:
        c = EventConsumer(
            self.engine,
            self.js,
            service=self.service,
            durable=durable,
            stream_service=self.producer,
            subjects=[self.subject],
            handler=handler,
            fetch_timeout=1.0,
            **kwargs,  # type: ignore[arg-type]
        )
        self.consumers.append(c)
        return c

    async def publish(self, env: EventEnvelope, msg_id: str | None = None) -> None:
        await self.js.publish(
            self.subject,
            env.SerializeToString(),
            headers={
                "Nats-Msg-Id": msg_id or env.event_id,
                "Peony-Event-Type": env.event_type,
                "Peony-Tenant": env.tenant,
            },
        )

    async def settled(self, durable: str, delivered: int) -> bool:
        """All ``delivered`` stream messages delivered to ``durable`` and answered (acked/termed)."""
        info = await self.js.consumer_info(stream_name(self.producer), durable)
        return info.delivered.stream_seq >= delivered and info.num_ack_pending == 0 and info.num_pending == 0

    async def effects(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT event_id::text, value FROM effects ORDER BY value"))
            return [(r[0], r[1]) for r in rows]

    async def inbox(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT consumer, event_id::text FROM inbox ORDER BY event_id"))
            return [(r[0], r[1]) for r in rows]


@pytest.fixture
async def harness(effects: AsyncEngine, js: JetStreamContext, service: str) -> AsyncIterator[Harness]:
    await ensure_stream(js, service)
    h = Harness(effects, js, service)
    try:
        yield h
    finally:
        for c in h.consumers:
            await c.stop()


def envelope(value: str, aggregate_id: str = "agg-1") -> EventEnvelope:
    return new_envelope(
        StringValue(value=value), tenant="t1", aggregate_type="thing", aggregate_id=aggregate_id
    )


async def record_effect(session: AsyncSession, env: EventEnvelope) -> None:
    await session.execute(
        text("INSERT INTO effects (event_id, value) VALUES (CAST(:id AS uuid), :v)"),
        {"id": env.event_id, "v": unpack(env, StringValue).value},
    )


async def test_effect_and_inbox_commit_together_and_a_duplicate_applies_once(harness: Harness) -> None:
    calls: list[str] = []

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        calls.append(env.event_id)
        await record_effect(session, env)

    first, second = envelope("first"), envelope("second", "agg-2")
    # The same event twice under different message ids: JetStream keeps both copies.
    await harness.publish(first, msg_id=str(uuid.uuid4()))
    await harness.publish(first, msg_id=str(uuid.uuid4()))
    await harness.publish(second)
    await harness.consumer(handler).start()
    await eventually(lambda: harness.settled("worker", 3), what="three messages answered")

    assert sorted(calls) == sorted([first.event_id, second.event_id])
    assert await harness.effects() == [(first.event_id, "first"), (second.event_id, "second")]
    assert await harness.inbox() == sorted(
        [("worker", first.event_id), ("worker", second.event_id)], key=lambda r: r[1]
    )


async def test_failures_retry_with_backoff_then_dead_letter(harness: Harness) -> None:
    calls: dict[str, list[float]] = defaultdict(list)

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        value = unpack(env, StringValue).value
        calls[value].append(time.monotonic())
        await record_effect(session, env)  # written, then rolled back when we raise
        if value == "poison" or (value == "flaky" and len(calls[value]) == 1):
            raise RuntimeError(f"cannot handle {value}")

    poison, flaky = envelope("poison", "agg-p"), envelope("flaky", "agg-f")
    await harness.publish(poison)
    await harness.publish(flaky)
    await harness.js.publish(harness.subject, b"garbage", headers={"Nats-Msg-Id": "junk-1"})
    consumer = harness.consumer(handler, max_deliver=3, backoff=[0.3, 0.6])
    await consumer.start()

    dlq_stream = stream_name(harness.service)

    async def two_dead_letters() -> bool:
        return (await harness.js.stream_info(dlq_stream)).state.messages >= 2

    await eventually(two_dead_letters, within=15, what="poison and garbage dead-lettered")
    await eventually(lambda: harness.settled("worker", 3), what="all answered")

    # Retried with the configured delays, three deliveries in all, then dead-lettered.
    times = calls["poison"]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.25
    assert times[2] - times[1] >= 0.5
    assert len(calls["flaky"]) == 2  # failed once, then succeeded
    # A failed attempt leaves nothing behind: the effect and the inbox row share its transaction.
    assert await harness.effects() == [(flaky.event_id, "flaky")]
    assert await harness.inbox() == [("worker", flaky.event_id)]

    dead = await stream_messages(harness.js, dlq_stream)
    assert {m.subject for m in dead} == {dlq_subject(harness.service, "worker")}
    by_origin = {m.headers.get("Peony-Dlq-Original-Msg-Id"): m for m in dead}
    poisoned = by_origin[poison.event_id]
    assert EventEnvelope.FromString(poisoned.data) == poison
    assert poisoned.headers["Peony-Dlq-Consumer"] == "worker"
    assert poisoned.headers["Peony-Dlq-Reason"].startswith("RuntimeError")
    assert poisoned.headers["Peony-Event-Type"] == "google.protobuf.StringValue"
    assert poisoned.headers["Peony-Dlq-Deliveries"] == "3"
    garbage = by_origin["junk-1"]
    assert garbage.data == b"garbage"
    assert garbage.headers["Peony-Dlq-Reason"].startswith("unparseable")
    assert garbage.headers["Peony-Dlq-Deliveries"] == "1"

    # Terminated: the original does not come back.
    await asyncio.sleep(1.2)
    assert len(calls["poison"]) == 3
    assert (await harness.js.stream_info(dlq_stream)).state.messages == 2


async def test_serialization_failure_reruns_the_transaction_within_one_delivery(harness: Harness) -> None:
    calls = 0

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        nonlocal calls
        calls += 1
        await record_effect(session, env)
        if calls == 1:
            await session.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END $$")
            )

    env = envelope("contended")
    await harness.publish(env)
    await harness.consumer(handler).start()
    await eventually(lambda: harness.settled("worker", 1), what="answered")
    assert calls == 2
    assert await harness.effects() == [(env.event_id, "contended")]
    info = await harness.js.consumer_info(stream_name(harness.producer), "worker")
    assert info.num_redelivered == 0  # retried in place, not nak'ed


async def test_stop_finishes_the_handler_in_flight(harness: Harness) -> None:
    started = asyncio.Event()

    async def slow(session: AsyncSession, env: EventEnvelope) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await record_effect(session, env)

    env = envelope("slow")
    await harness.publish(env)
    consumer = harness.consumer(slow)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop()
    assert await harness.effects() == [(env.event_id, "slow")]
    assert await harness.settled("worker", 1)


async def test_trace_continues_from_request_through_relay_to_consumer(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    seen: list[trace.SpanContext] = []

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        seen.append(trace.get_current_span().get_span_context())
        await record_effect(session, env)

    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /things") as request_span:
        [env] = await write_events(harness.engine, harness.producer, [("agg-t", "traced")])
    request = request_span.get_span_context()
    assert env.trace_parent.split("-")[1] == f"{request.trace_id:032x}"

    assert await OutboxRelay(harness.engine, harness.js, harness.producer).run_once() == 1
    await harness.consumer(handler, durable="tracer").start()
    await eventually(lambda: harness.settled("tracer", 1), what="answered")

    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == request.trace_id]
    [producer] = [s for s in mine if s.kind == SpanKind.PRODUCER]
    [consumer] = [s for s in mine if s.kind == SpanKind.CONSUMER]
    assert producer.name == f"{harness.subject} publish"
    assert producer.parent is not None and producer.parent.span_id == request.span_id
    assert producer.attributes["messaging.system"] == "nats"
    assert producer.attributes["messaging.destination.name"] == harness.subject
    assert producer.attributes["messaging.message.id"] == env.event_id
    assert consumer.name == f"{harness.subject} process"
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert consumer.attributes["messaging.consumer.group.name"] == "tracer"
    assert consumer.attributes["messaging.message.id"] == env.event_id
    # The handler runs inside the consumer span (events it emits continue the same trace).
    assert [(c.trace_id, c.span_id) for c in seen] == [(consumer.context.trace_id, consumer.context.span_id)]
    # No payload in span attributes.
    for s in (producer, consumer):
        assert all("traced" not in str(v) for v in (s.attributes or {}).values())
