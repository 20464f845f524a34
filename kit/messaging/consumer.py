"""Durable JetStream consumers with an inbox: each event's effect is committed exactly once.

A fetched batch (up to ``batch`` messages) is applied in as few transactions as possible. The
messages are split by aggregate into at most ``concurrency`` shards (one aggregate's events always
land in one shard, in stream order); each shard is ONE database transaction that

1. inserts every event id of the shard into ``inbox`` in one statement
   (``INSERT ... SELECT unnest(ids) ON CONFLICT DO NOTHING RETURNING event_id``: the fresh ones),
2. runs the handler for each fresh event, in stream order, on the same session — or, for a run of
   consecutive events of a type with a *batch handler* (``batch_handlers``), that handler once with
   the whole run (a projection's upsert of all its rows in one round trip),
3. commits (one fsync for the shard), then acks every message of the shard.

A redelivery or a second copy of an event finds its inbox row and is only acked. Serialization
failures and deadlocks re-run the whole shard transaction. When a handler raises for one event,
the transaction rolls back, that event alone takes the failure path (nak with a growing delay and,
once ``max_deliver`` deliveries have failed, a copy to ``peony.<service>.dlq.<durable>`` and term)
and the shard is applied again without it, so the good events still commit. A failure that cannot
be pinned on one event (a batch handler, the commit) falls back to one transaction per event.
Messages that are not an ``EventEnvelope`` go to the dead-letter subject at once. A lost ack only
means a redelivery, which the inbox drops.

Every message keeps its own CONSUMER span continuing the producer's trace; a per-event handler
runs inside it, a batch handler inside a span linked to each message's.

Lag: every ``stats_interval`` seconds the consumer reads its JetStream consumer info and reports
``peony.consumer.lag`` (messages not yet delivered), ``peony.consumer.ack_pending`` and
``peony.consumer.redelivered`` (see ``kit.telemetry.ConsumerMetrics``); it logs
``consumer.lagging`` (warning) when the lag crosses ``lag_warn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import nats.errors
import structlog
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from peony.events.v1.envelope_pb2 import EventEnvelope
from sqlalchemy import MetaData, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import kit.db as _db  # module import: kit.db itself imports kit.messaging.tables
from kit.messaging.outbox import HEADER_MSG_ID
from kit.messaging.streams import dlq_subject, ensure_stream, stream_name
from kit.messaging.tables import inbox_table
from kit.telemetry import ConsumerStats, consumer_metrics

__all__ = [
    "HEADER_DLQ_CONSUMER",
    "HEADER_DLQ_REASON",
    "BatchHandler",
    "EventConsumer",
    "EventHandler",
    "SinkConsumer",
    "UnparseableEvent",
]

EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]
# Applies several events of one type at once (in stream order), e.g. one upsert of many rows.
BatchHandler = Callable[[AsyncSession, Sequence[EventEnvelope]], Awaitable[None]]

HEADER_DLQ_REASON = "Peony-Dlq-Reason"
HEADER_DLQ_CONSUMER = "Peony-Dlq-Consumer"
HEADER_DLQ_STREAM = "Peony-Dlq-Stream"
HEADER_DLQ_STREAM_SEQ = "Peony-Dlq-Stream-Seq"
HEADER_DLQ_SUBJECT = "Peony-Dlq-Subject"
HEADER_DLQ_DELIVERIES = "Peony-Dlq-Deliveries"
HEADER_DLQ_ORIGINAL_MSG_ID = "Peony-Dlq-Original-Msg-Id"

_MAX_REASON_CHARS = 500

_log = structlog.get_logger("kit.messaging.consumer")
_tracer = trace.get_tracer("kit.messaging")
_inbox = inbox_table(MetaData())

# One statement for any number of ids (a constant SQL text: compiled and prepared once).
_INSERT_INBOX = (
    pg_insert(_inbox)
    .from_select(
        ["consumer", "event_id"],
        select(
            bindparam("consumer", type_=Text),
            func.unnest(bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True)))),
        ),
    )
    .on_conflict_do_nothing()
    .returning(_inbox.c.event_id)
)


class UnparseableEvent(ValueError):
    """The message is not a usable ``EventEnvelope``; it is dead-lettered without retries."""


def _parse(data: bytes) -> EventEnvelope:
    try:
        envelope = EventEnvelope.FromString(data)
    except DecodeError as exc:
        raise UnparseableEvent(f"not an EventEnvelope: {exc}") from None
    try:
        uuid.UUID(envelope.event_id)
    except ValueError:
        raise UnparseableEvent("envelope without a UUID event_id") from None
    if not envelope.event_type or not envelope.payload.type_url:
        raise UnparseableEvent("envelope without an event type or payload")
    return envelope


def _describe(exc: BaseException) -> str:
    """``Type: message`` for logs and the dead-letter header, scrubbed of PII and truncated."""
    text = f"{type(exc).__name__}: {exc}"
    try:
        from kit.logging import scrub_text

        text = scrub_text(text)
    except Exception:  # logging helpers unavailable: keep just the type
        text = type(exc).__name__
    return text[:_MAX_REASON_CHARS]


@dataclass(eq=False)
class _Delivery:
    """One fetched message on its way through the consumer, with its CONSUMER span."""

    index: int  # position in the fetched batch (stream order)
    msg: Msg
    envelope: EventEnvelope | None  # None: unparseable (``unparseable`` says why)
    unparseable: UnparseableEvent | None
    span: Span
    outcome: str = "unanswered"

    @property
    def aggregate(self) -> object:
        if self.envelope is None:
            return ("unparseable", self.index)
        return (self.envelope.aggregate_type, self.envelope.aggregate_id)


class _HandlerFailed(Exception):
    """The handler of one event of a shard raised (not retryable): that event, and only it, failed."""

    def __init__(self, delivery: _Delivery, error: Exception) -> None:
        super().__init__(str(error))
        self.delivery, self.error = delivery, error


def shard_by_aggregate(items: Sequence[_Delivery], shards: int) -> list[list[_Delivery]]:
    """Split ``items`` into at most ``shards`` lists, every aggregate's items in one list, each list
    in the original (stream) order; aggregates are spread so the lists are about even."""
    groups: dict[object, list[_Delivery]] = {}
    for item in items:
        groups.setdefault(item.aggregate, []).append(item)
    count = max(1, min(shards, len(groups)))
    out: list[list[_Delivery]] = [[] for _ in range(count)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(out, key=len).extend(group)
    for shard in out:
        shard.sort(key=lambda d: d.index)
    return out


class EventConsumer:
    """A durable pull consumer of ``stream_service``'s events, handled by ``service``.

    ``handler`` applies one event; ``batch_handlers`` (event type -> handler of a run of that
    type's events) optionally apply several at once. ``batch``: messages per fetch;
    ``concurrency``: shard transactions of one fetch in flight at once; ``max_ack_pending``:
    messages delivered and not yet answered the server allows (0 = ``4 * batch``, at least 1000).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        service: str,
        durable: str,
        stream_service: str,
        subjects: list[str],
        handler: EventHandler,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        max_deliver: int = 6,
        backoff: Sequence[float] = (1, 5, 15, 60, 300),
        batch: int = 128,
        ack_wait: float = 30,
        concurrency: int = 2,
        max_ack_pending: int = 0,
        fetch_timeout: float = 5.0,
        publish_timeout: float = 5.0,
        stats_interval: float = 5.0,
        lag_warn: int = 10_000,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if not subjects:
            raise ValueError("a consumer needs at least one subject")
        if max_deliver < 1 or batch < 1 or concurrency < 1:
            raise ValueError("max_deliver, batch and concurrency must be at least 1")
        if max_ack_pending and max_ack_pending < batch:
            raise ValueError("max_ack_pending must be at least batch")
        if not backoff:
            raise ValueError("backoff needs at least one delay")
        self._engine = engine
        self._js = js
        self.service = service
        self.durable = durable
        self.stream = stream_name(stream_service)
        self.subjects = list(subjects)
        self.dlq_subject = dlq_subject(service, durable)
        self._dlq_stream = stream_name(service)
        self._handler = handler
        self._batch_handlers = dict(batch_handlers or {})
        self.max_deliver = max_deliver
        self.backoff = [float(b) for b in backoff]
        self.batch = batch
        self.concurrency = concurrency
        self.max_ack_pending = max_ack_pending or max(1000, batch * 4)
        self.ack_wait = ack_wait
        self.fetch_timeout = fetch_timeout
        self.publish_timeout = publish_timeout
        self.stats_interval = stats_interval
        self.lag_warn = lag_warn
        self._sessions = _db.session_factory(engine)
        self._limit = asyncio.Semaphore(concurrency)
        self._stop = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._stats: ConsumerStats | None = None
        self._lagging = False
        self._metrics = consumer_metrics(meter_provider)
        self._metric_attrs = {"peony.service": service, "peony.consumer": durable}
        self._log = _log.bind(service=service, consumer=durable, stream=self.stream)

    # ---------------------------------------------------------------- lifecycle

    def consumer_config(self) -> ConsumerConfig:
        config = ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # One delivery more than we attempt: when the last attempt dies without an answer
            # (process killed, ack_wait expired) the message comes back once more and is then
            # dead-lettered instead of silently dropped by the server.
            max_deliver=self.max_deliver + 1,
            max_ack_pending=self.max_ack_pending,
        )
        if len(self.subjects) == 1:
            config.filter_subject = self.subjects[0]
        else:
            config.filter_subjects = self.subjects
        return config

    async def start(self) -> None:
        if self._task is not None:
            return
        await ensure_stream(self._js, self.service)  # the dead-letter subject lives there
        # Creates the durable consumer, or updates it when our settings changed.
        await self._js.add_consumer(self.stream, config=self.consumer_config())
        self._sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name=f"consumer-{self.durable}")
        self._stats_task = asyncio.create_task(self._stats_loop(), name=f"consumer-stats-{self.durable}")
        self._log.info(
            "consumer.started", subjects=self.subjects, batch=self.batch, concurrency=self.concurrency
        )

    async def stop(self) -> None:
        """Stop fetching, let the batch in flight finish (commit and ack), then return."""
        self._stop.set()
        stats_task, self._stats_task = self._stats_task, None
        if stats_task is not None:
            stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stats_task
        self._metrics.unwatch(self.service, self.durable, self.stats)
        task, self._task = self._task, None
        if task is not None:
            await task
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._log.info("consumer.stopped")

    async def _loop(self) -> None:
        assert self._sub is not None
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            while not self._stop.is_set():
                fetch = asyncio.create_task(self._sub.fetch(self.batch, timeout=self.fetch_timeout))
                await asyncio.wait({fetch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    # Stopping while idle: whatever the server sends now is redelivered after ack_wait.
                    fetch.cancel()
                    with contextlib.suppress(BaseException):
                        await fetch
                    break
                try:
                    msgs = fetch.result()
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except Exception as exc:
                    self._log.warning("consumer.fetch_failed", error=f"{type(exc).__name__}: {exc}")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(stop_wait), 1.0)
                    continue
                await self.process(msgs)
        finally:
            stop_wait.cancel()

    # ---------------------------------------------------------------- lag

    def stats(self) -> ConsumerStats | None:
        """The last consumer info read (None before the first)."""
        return self._stats

    async def refresh_stats(self) -> ConsumerStats:
        """Read the durable's pending / ack-pending / redelivered counts from JetStream now."""
        info = await self._js.consumer_info(self.stream, self.durable)
        self._stats = ConsumerStats(
            lag=info.num_pending or 0,
            ack_pending=info.num_ack_pending or 0,
            redelivered=info.num_redelivered or 0,
        )
        self._metrics.watch(self.service, self.durable, self.stats)
        lagging = self._stats.lag >= self.lag_warn
        if lagging and not self._lagging:
            self._log.warning("consumer.lagging", lag=self._stats.lag, threshold=self.lag_warn)
        elif self._lagging and not lagging:
            self._log.info("consumer.caught_up", lag=self._stats.lag)
        self._lagging = lagging
        return self._stats

    async def _stats_loop(self) -> None:
        while True:
            try:
                await self.refresh_stats()
            except Exception as exc:  # NATS unreachable for a moment: the gauges keep the last values
                self._log.debug("consumer.stats_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.stats_interval)

    # ---------------------------------------------------------------- handling

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Handle fetched messages: see the module doc (shards by aggregate, one transaction each)."""
        deliveries = [self._receive(index, msg) for index, msg in enumerate(msgs)]
        try:
            events = []
            for d in deliveries:
                if d.envelope is None:
                    await self._answer(d, self._dead_letter_unparseable(d))
                else:
                    events.append(d)
            shards = shard_by_aggregate(events, self.concurrency) if events else []
            await asyncio.gather(*(self._apply_shard(shard) for shard in shards))
        finally:
            self._finish(deliveries)

    def _receive(self, index: int, msg: Msg) -> _Delivery:
        headers = msg.headers or {}
        envelope: EventEnvelope | None
        unparseable: UnparseableEvent | None = None
        try:
            envelope = _parse(msg.data)
            message_id = envelope.event_id
        except UnparseableEvent as exc:
            envelope, unparseable, message_id = None, exc, headers.get(HEADER_MSG_ID, "")
        span = _tracer.start_span(
            f"{msg.subject} process",
            context=propagate.extract(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": msg.subject,
                "messaging.message.id": message_id,
                "messaging.consumer.group.name": self.durable,
            },
        )
        return _Delivery(index, msg, envelope, unparseable, span)

    def _finish(self, deliveries: Sequence[_Delivery]) -> None:
        counts: dict[str, int] = {}
        for d in deliveries:
            counts[d.outcome] = counts.get(d.outcome, 0) + 1
            d.span.set_attribute("peony.messaging.outcome", d.outcome)
            d.span.end()
        for outcome, count in counts.items():
            self._metrics.events.add(count, {**self._metric_attrs, "peony.messaging.outcome": outcome})

    async def _answer(self, delivery: _Delivery, answer: Awaitable[str]) -> None:
        """Await the ack / nak / dead letter of one message; NATS gone: the server redelivers later."""
        try:
            delivery.outcome = await answer
        except Exception as exc:
            self._log.warning(
                "consumer.message_failed", subject=delivery.msg.subject, error=f"{type(exc).__name__}: {exc}"
            )

    async def _apply_shard(self, shard: list[_Delivery]) -> None:
        async with self._limit:
            pending = shard
            while pending:
                try:
                    fresh = await _db.retry_transaction(lambda: self._transaction(pending))  # noqa: B023
                except _HandlerFailed as failed:
                    # Isolate the event whose handler raised; apply the others again without it.
                    await self._answer(failed.delivery, self._failed(failed.delivery, failed.error))
                    pending = [d for d in pending if d is not failed.delivery]
                    continue
                except Exception as exc:
                    if len(pending) == 1:
                        await self._answer(pending[0], self._failed(pending[0], exc))
                        return
                    self._log.warning(
                        "consumer.batch_failed",
                        events=len(pending),
                        error=_describe(exc),
                        fallback="per_event",
                    )
                    for delivery in pending:
                        await self._apply_alone(delivery)
                    return
                await self._applied(pending, fresh)
                return

    async def _apply_alone(self, delivery: _Delivery) -> None:
        """One event, one transaction (the fallback when a shard's failure names no event)."""
        try:
            fresh = await _db.retry_transaction(lambda: self._transaction([delivery]))
        except _HandlerFailed as failed:
            await self._answer(delivery, self._failed(delivery, failed.error))
            return
        except Exception as exc:
            await self._answer(delivery, self._failed(delivery, exc))
            return
        await self._applied([delivery], fresh)

    async def _applied(self, committed: list[_Delivery], fresh: set[_Delivery]) -> None:
        """After the commit: ack every message and record what happened. An ack is a publish
        without a reply (no round trip); a lost one is a redelivery, which the inbox drops."""
        self._metrics.batch_events.record(len(committed), self._metric_attrs)
        for d in committed:
            d.outcome = "processed" if d in fresh else "duplicate"
            if d.outcome == "duplicate":
                assert d.envelope is not None
                self._log.info(
                    "consumer.duplicate_skipped", event_id=d.envelope.event_id, subject=d.msg.subject
                )
            await self._answer(d, self._ack(d))

    async def _ack(self, delivery: _Delivery) -> str:
        await delivery.msg.ack()
        return delivery.outcome

    async def _transaction(self, deliveries: Sequence[_Delivery]) -> set[_Delivery]:
        """Inbox rows + the handlers' effects of ``deliveries`` in one transaction; returns the
        deliveries that were applied (the others were handled before, or are copies)."""
        async with self._sessions() as session, session.begin():
            ids = [uuid.UUID(d.envelope.event_id) for d in deliveries]  # type: ignore[union-attr]
            inserted = set(
                (await session.execute(_INSERT_INBOX, {"consumer": self.durable, "event_ids": ids})).scalars()
            )
            fresh: list[_Delivery] = []
            for d, event_id in zip(deliveries, ids, strict=True):
                if event_id in inserted:
                    inserted.discard(event_id)  # a second copy in the same batch is a duplicate
                    fresh.append(d)
            await self._run_handlers(session, fresh)
        return set(fresh)

    async def _run_handlers(self, session: AsyncSession, fresh: list[_Delivery]) -> None:
        """Each event's handler in stream order; a run of consecutive events of a type with a batch
        handler goes to that handler at once."""
        i = 0
        while i < len(fresh):
            envelope = fresh[i].envelope
            assert envelope is not None
            batch_handler = self._batch_handlers.get(envelope.event_type)
            if batch_handler is None:
                await self._run_one(session, fresh[i])
                i += 1
                continue
            j = i + 1
            while j < len(fresh) and fresh[j].envelope.event_type == envelope.event_type:  # type: ignore[union-attr]
                j += 1
            run = fresh[i:j]
            if len(run) == 1:
                await self._run_one(session, run[0])
            else:
                links = [Link(d.span.get_span_context()) for d in run]
                with _tracer.start_as_current_span(
                    f"{self.durable} apply {envelope.event_type}",
                    links=links,
                    attributes={"messaging.batch.message_count": len(run)},
                ):
                    await batch_handler(session, [d.envelope for d in run])  # type: ignore[misc]
            i = j

    async def _run_one(self, session: AsyncSession, delivery: _Delivery) -> None:
        assert delivery.envelope is not None
        with trace.use_span(delivery.span, record_exception=False, set_status_on_exception=False):
            try:
                await self._handler(session, delivery.envelope)
            except Exception as exc:
                if _db.is_retryable(exc):
                    raise  # the whole transaction runs again
                raise _HandlerFailed(delivery, exc) from exc

    async def _dead_letter_unparseable(self, delivery: _Delivery) -> str:
        delivery.span.set_status(Status(StatusCode.ERROR, "unparseable"))
        with trace.use_span(delivery.span):
            await self._dead_letter(delivery.msg, f"unparseable: {delivery.unparseable}")
        return "dead_lettered"

    async def _failed(self, delivery: _Delivery, exc: Exception) -> str:
        envelope = delivery.envelope
        assert envelope is not None
        msg = delivery.msg
        delivery.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        delivery.span.set_attribute("error.type", type(exc).__name__)
        delivered = msg.metadata.num_delivered or 1
        reason = _describe(exc)
        with trace.use_span(delivery.span):  # the log lines carry the message's trace
            if delivered < self.max_deliver:
                delay = self.backoff[min(delivered - 1, len(self.backoff) - 1)]
                self._log.warning(
                    "consumer.handler_failed",
                    event_id=envelope.event_id,
                    event_type=envelope.event_type,
                    delivery=delivered,
                    retry_in_s=delay,
                    error=reason,
                )
                await msg.nak(delay=delay)
                return "retry"
            await self._dead_letter(msg, reason)
        return "dead_lettered"

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        """Copy the message (data and headers) to the dead-letter subject, then terminate it."""
        meta = msg.metadata
        original = dict(msg.headers or {})
        # Nats-* headers steer the server (dedupe id, expected stream): never carry them over.
        headers = {k: v for k, v in original.items() if not k.lower().startswith("nats-")}
        headers.update(
            {
                # One dead letter per original message, however often this is retried.
                HEADER_MSG_ID: f"dlq.{self.durable}.{meta.stream}.{meta.sequence.stream}",
                HEADER_DLQ_REASON: reason[:_MAX_REASON_CHARS],
                HEADER_DLQ_CONSUMER: self.durable,
                HEADER_DLQ_STREAM: str(meta.stream),
                HEADER_DLQ_STREAM_SEQ: str(meta.sequence.stream),
                HEADER_DLQ_SUBJECT: msg.subject,
                HEADER_DLQ_DELIVERIES: str(meta.num_delivered),
            }
        )
        if HEADER_MSG_ID in original:
            headers[HEADER_DLQ_ORIGINAL_MSG_ID] = original[HEADER_MSG_ID]
        try:
            await self._js.publish(
                self.dlq_subject,
                msg.data,
                timeout=self.publish_timeout,
                stream=self._dlq_stream,
                headers=headers,
            )
        except Exception as exc:
            # Not dead-lettered yet: let the server bring the message back later.
            self._log.error(
                "consumer.dead_letter_failed",
                subject=msg.subject,
                stream_seq=meta.sequence.stream,
                error=f"{type(exc).__name__}: {exc}",
            )
            await msg.nak(delay=self.backoff[-1])
            return
        await msg.term()
        self._metrics.dlq.add(1, self._metric_attrs)
        self._log.error(
            "consumer.dead_lettered",
            subject=msg.subject,
            dlq_subject=self.dlq_subject,
            message_id=original.get(HEADER_MSG_ID, ""),
            stream_seq=meta.sequence.stream,
            deliveries=meta.num_delivered,
            reason=reason,
        )


# Prepares one event (and its stream sequence) for a sink; raising fails that event alone.
Prepare = Callable[[EventEnvelope, int], object]
# Writes the prepared values of a batch at once; must itself be idempotent by event id.
Sink = Callable[[Sequence[object]], Awaitable[None]]


class SinkConsumer(EventConsumer):
    """An :class:`EventConsumer` whose store is not PostgreSQL (no inbox): each shard's events are
    prepared one by one (``prepare``; an event whose preparation raises alone is naked / dead
    lettered as usual) and written with ONE ``sink`` call, then acked. Exactly-once is the sink's
    duty: it must make a second write of an event id a no-op (e.g. a ClickHouse
    ReplacingMergeTree keyed by event id and read with FINAL). Used by insights."""

    def __init__(self, js: JetStreamContext, *, prepare: Prepare, sink: Sink, **kwargs) -> None:
        async def no_handler(session: AsyncSession, envelope: EventEnvelope) -> None:
            raise AssertionError("SinkConsumer applies through its sink")

        super().__init__(None, js, handler=no_handler, **kwargs)  # type: ignore[arg-type]
        self._prepare = prepare
        self._sink = sink

    async def _transaction(self, deliveries: Sequence[_Delivery]) -> set[_Delivery]:
        prepared = []
        for d in deliveries:
            assert d.envelope is not None
            with trace.use_span(d.span, record_exception=False, set_status_on_exception=False):
                try:
                    prepared.append(self._prepare(d.envelope, d.msg.metadata.sequence.stream))
                except Exception as exc:
                    raise _HandlerFailed(d, exc) from exc
        with _tracer.start_as_current_span(
            f"{self.durable} sink",
            links=[Link(d.span.get_span_context()) for d in deliveries],
            attributes={"messaging.batch.message_count": len(deliveries)},
        ):
            await self._sink(prepared)
        return set(deliveries)
