"""The inbox consumer against real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
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
from tests.support.metrics import metric_points

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


# ---------------------------------------------------------------- batch apply


@pytest.fixture
async def applied(engine: AsyncEngine) -> AsyncEngine:
    """Effects that say which transaction wrote them (``txid``) and in which order (``seq``)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE applied (seq bigserial, event_id uuid NOT NULL, aggregate text NOT NULL,"
                " value text NOT NULL, txid bigint NOT NULL)"
            )
        )
    return engine


async def record_applied(session: AsyncSession, env: EventEnvelope) -> None:
    await session.execute(
        text(
            "INSERT INTO applied (event_id, aggregate, value, txid)"
            " VALUES (CAST(:id AS uuid), :agg, :v, txid_current())"
        ),
        {"id": env.event_id, "agg": env.aggregate_id, "v": unpack(env, StringValue).value},
    )


async def applied_rows(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    """``(aggregate, value, txid)`` in the order they were written."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT aggregate, value, txid FROM applied ORDER BY seq"))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_a_fetched_batch_commits_once_and_applies_a_redelivered_or_copied_event_once(
    harness: Harness, applied: AsyncEngine
) -> None:
    calls: list[str] = []

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        calls.append(unpack(env, StringValue).value)
        await record_applied(session, env)

    done_before = envelope("done before", "agg-0")
    # Applied earlier, but its ack was lost: the inbox has it, JetStream delivers it again.
    async with harness.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO inbox (consumer, event_id) VALUES ('worker', CAST(:id AS uuid))"),
            {"id": done_before.event_id},
        )
    fresh = [envelope(f"e{i}", f"agg-{i % 3}") for i in range(1, 6)]
    await harness.publish(done_before)
    for env in fresh:
        await harness.publish(env)
    await harness.publish(fresh[2], msg_id=str(uuid.uuid4()))  # a second copy of e3 in the batch
    await harness.consumer(handler, concurrency=1).start()
    await eventually(lambda: harness.settled("worker", 7), what="seven messages answered")

    assert calls == ["e1", "e2", "e3", "e4", "e5"]
    rows = await applied_rows(harness.engine)
    assert [value for _, value, _ in rows] == ["e1", "e2", "e3", "e4", "e5"]
    assert len({txid for _, _, txid in rows}) == 1  # one transaction, one commit for the batch
    assert len(await harness.inbox()) == 6
    info = await harness.js.consumer_info(stream_name(harness.producer), "worker")
    assert info.num_redelivered == 0


async def test_a_poison_event_fails_alone_and_the_rest_of_its_batch_commits_together(
    harness: Harness, applied: AsyncEngine
) -> None:
    poison_calls = 0

    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        nonlocal poison_calls
        await record_applied(session, env)  # rolled back with the batch when the poison raises
        if unpack(env, StringValue).value == "poison":
            poison_calls += 1
            raise RuntimeError("cannot handle poison")

    batch = [envelope("g1", "a"), envelope("g2", "b"), envelope("poison", "p"), envelope("g3", "c")]
    for env in batch:
        await harness.publish(env)
    reader = InMemoryMetricReader()
    consumer = harness.consumer(
        handler,
        concurrency=1,
        max_deliver=2,
        backoff=[0.2],
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    await consumer.start()
    dlq_stream = stream_name(harness.service)

    async def dead_lettered() -> bool:
        return (await harness.js.stream_info(dlq_stream)).state.messages >= 1

    await eventually(dead_lettered, within=15, what="poison dead-lettered")
    await eventually(lambda: harness.settled("worker", 4), what="all answered")

    rows = await applied_rows(harness.engine)
    assert [value for _, value, _ in rows] == ["g1", "g2", "g3"]
    assert len({txid for _, _, txid in rows}) == 1  # the good ones still share one commit
    assert poison_calls == 2  # once per delivery, not once per re-applied batch
    assert sorted(event_id for _, event_id in await harness.inbox()) == sorted(
        e.event_id for e in batch if e is not batch[2]
    )
    [dead] = await stream_messages(harness.js, dlq_stream)
    assert EventEnvelope.FromString(dead.data) == batch[2]
    assert dead.headers["Peony-Dlq-Deliveries"] == "2"
    mine = {"peony.service": harness.service, "peony.consumer": "worker"}
    assert [p.value for p in metric_points(reader, "peony.consumer.dlq", **mine)] == [1]


async def test_a_batch_handler_applies_a_run_at_once_and_a_failing_one_falls_back_per_event(
    harness: Harness, applied: AsyncEngine
) -> None:
    batches: list[list[str]] = []

    async def one(session: AsyncSession, env: EventEnvelope) -> None:
        if unpack(env, StringValue).value.startswith("bad"):
            raise ValueError("bad event")
        await record_applied(session, env)

    async def many(session: AsyncSession, envs: Sequence[EventEnvelope]) -> None:
        values = [unpack(e, StringValue).value for e in envs]
        batches.append(values)
        if any(v.startswith("bad") for v in values):
            raise ValueError("a bad event somewhere in the batch")
        for env in envs:
            await record_applied(session, env)

    event_type = envelope("x").event_type
    good = [envelope(f"g{i}", f"agg-{i}") for i in range(3)]
    for env in good:
        await harness.publish(env)
    consumer = harness.consumer(
        one, durable="batcher", concurrency=1, max_deliver=1, batch_handlers={event_type: many}
    )
    await consumer.start()
    await eventually(lambda: harness.settled("batcher", 3), what="good batch answered")
    assert batches == [["g0", "g1", "g2"]]
    await consumer.stop()

    mixed = [envelope("m1", "agg-m1"), envelope("bad", "agg-bad"), envelope("m2", "agg-m2")]
    for env in mixed:
        await harness.publish(env)
    await harness.consumer(
        one, durable="batcher", concurrency=1, max_deliver=1, batch_handlers={event_type: many}
    ).start()
    await eventually(lambda: harness.settled("batcher", 6), what="mixed batch answered")

    assert batches[1] == ["m1", "bad", "m2"]
    rows = await applied_rows(harness.engine)
    assert [value for _, value, _ in rows] == ["g0", "g1", "g2", "m1", "m2"]
    # The fallback: one transaction per event of the failed batch.
    assert len({txid for _, value, txid in rows if value.startswith("m")}) == 2
    assert (await harness.js.stream_info(stream_name(harness.service))).state.messages == 1  # "bad"


async def test_events_of_one_aggregate_apply_in_stream_order_while_shards_run_concurrently(
    harness: Harness, applied: AsyncEngine
) -> None:
    async def handler(session: AsyncSession, env: EventEnvelope) -> None:
        await record_applied(session, env)
        await asyncio.sleep(0.001)  # let the other shards' transactions interleave

    published: dict[str, list[str]] = defaultdict(list)
    for i in range(40):
        aggregate = f"agg-{(i * 7) % 5}"
        published[aggregate].append(f"v{i:02d}")
        await harness.publish(envelope(f"v{i:02d}", aggregate))
    await harness.consumer(handler, concurrency=3).start()
    await eventually(lambda: harness.settled("worker", 40), what="all answered")

    rows = await applied_rows(harness.engine)
    seen: dict[str, list[str]] = defaultdict(list)
    for aggregate, value, _ in rows:
        seen[aggregate].append(value)
    assert seen == published
    assert len({txid for _, _, txid in rows}) == 3  # three shards, one transaction each


async def test_lag_gauge_reports_the_backlog_of_a_real_durable(harness: Harness) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    consumer = harness.consumer(record_effect, durable="lagger", meter_provider=provider, stats_interval=0.2)
    # The durable exists but nothing consumes it yet: a backlog builds up.
    await harness.js.add_consumer(stream_name(harness.producer), config=consumer.consumer_config())
    for i in range(7):
        await harness.publish(envelope(f"b{i}", f"agg-{i}"))
    await consumer.refresh_stats()
    mine = {"peony.service": harness.service, "peony.consumer": "lagger"}
    assert [p.value for p in metric_points(reader, "peony.consumer.lag", **mine)] == [7]
    assert [p.value for p in metric_points(reader, "peony.consumer.ack_pending", **mine)] == [0]

    await consumer.start()
    await eventually(lambda: harness.settled("lagger", 7), what="backlog consumed")

    async def caught_up() -> bool:
        return [p.value for p in metric_points(reader, "peony.consumer.lag", **mine)] == [0]

    await eventually(caught_up, what="lag gauge back to 0")
    processed = metric_points(
        reader, "peony.consumer.events", **mine, **{"peony.messaging.outcome": "processed"}
    )
    assert [p.value for p in processed] == [7]
    [batches] = metric_points(reader, "peony.consumer.batch_events", **mine)
    assert batches.sum == 7


class _DiesBeforeAcking(EventConsumer):
    """A consumer process killed right after its batch committed: no ack ever leaves it."""

    async def _ack(self, delivery):  # type: ignore[no-untyped-def]
        return "unanswered"


async def test_a_batch_committed_but_never_acked_is_redelivered_and_applied_once(
    harness: Harness, applied: AsyncEngine
) -> None:
    batch = [envelope(f"k{i}", f"agg-{i % 4}") for i in range(12)]
    for env in batch:
        await harness.publish(env)
    options = {"durable": "killed", "ack_wait": 1.0, "concurrency": 1}
    dying = _DiesBeforeAcking(
        harness.engine,
        harness.js,
        service=harness.service,
        stream_service=harness.producer,
        subjects=[harness.subject],
        handler=record_applied,
        fetch_timeout=1.0,
        **options,  # type: ignore[arg-type]
    )
    harness.consumers.append(dying)
    await dying.start()

    async def all_applied() -> bool:
        return len(await applied_rows(harness.engine)) == len(batch)

    await eventually(all_applied, what="the batch committed")
    await dying.stop()  # "killed": every message still unacked on the server

    reader = InMemoryMetricReader()
    restarted = harness.consumer(
        record_applied, meter_provider=MeterProvider(metric_readers=[reader]), **options
    )
    await restarted.start()
    await eventually(lambda: harness.settled("killed", len(batch)), within=15, what="redelivered, acked")

    # Every message came back (ack_wait) and was only acked: each effect exists once.
    rows = await applied_rows(harness.engine)
    assert sorted(value for _, value, _ in rows) == sorted(f"k{i}" for i in range(12))
    mine = {"peony.service": harness.service, "peony.consumer": "killed"}
    duplicates = metric_points(
        reader, "peony.consumer.events", **mine, **{"peony.messaging.outcome": "duplicate"}
    )
    assert [p.value for p in duplicates] == [len(batch)]
