"""Durable JetStream consumers with an inbox: each event's effect is committed exactly once.

For every message: a CONSUMER span continuing the producer's trace, then ONE database transaction
that inserts ``(consumer, event_id)`` into ``inbox`` (``ON CONFLICT DO NOTHING``) and, when the row
is new, runs the handler with the same session, then commit, then ack. A redelivery or a second copy
of the event finds the inbox row and is only acked. Serialization failures and deadlocks re-run the
whole transaction; other failures are nak'ed with a growing delay and, once ``max_deliver``
deliveries have failed, published to ``peony.<service>.dlq.<durable>`` and terminated.
Messages that are not an ``EventEnvelope`` go to the dead-letter subject at once.

Messages of one aggregate within a fetched batch are handled one after the other, in stream order;
different aggregates run concurrently (bounded by ``concurrency``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence

import nats.errors
import structlog
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from peony.events.v1.envelope_pb2 import EventEnvelope
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import kit.db as _db  # module import: kit.db itself imports kit.messaging.tables
from kit.messaging.outbox import HEADER_MSG_ID
from kit.messaging.streams import dlq_subject, ensure_stream, stream_name
from kit.messaging.tables import inbox_table

__all__ = [
    "HEADER_DLQ_CONSUMER",
    "HEADER_DLQ_REASON",
    "EventConsumer",
    "EventHandler",
    "UnparseableEvent",
]

EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]

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


class EventConsumer:
    """A durable pull consumer of ``stream_service``'s events, handled by ``service``."""

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
        max_deliver: int = 6,
        backoff: Sequence[float] = (1, 5, 15, 60, 300),
        batch: int = 32,
        ack_wait: float = 30,
        concurrency: int = 8,
        fetch_timeout: float = 5.0,
        publish_timeout: float = 5.0,
    ) -> None:
        if not subjects:
            raise ValueError("a consumer needs at least one subject")
        if max_deliver < 1 or batch < 1 or concurrency < 1:
            raise ValueError("max_deliver, batch and concurrency must be at least 1")
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
        self.max_deliver = max_deliver
        self.backoff = [float(b) for b in backoff]
        self.batch = batch
        self.ack_wait = ack_wait
        self.fetch_timeout = fetch_timeout
        self.publish_timeout = publish_timeout
        self._sessions = _db.session_factory(engine)
        self._limit = asyncio.Semaphore(concurrency)
        self._stop = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
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
            max_ack_pending=max(1000, self.batch * 4),
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
        self._log.info("consumer.started", subjects=self.subjects)

    async def stop(self) -> None:
        """Stop fetching, let the handlers in flight finish (commit and ack), then return."""
        self._stop.set()
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

    # ---------------------------------------------------------------- handling

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Handle fetched messages: one aggregate's in order, different aggregates concurrently."""
        groups: dict[object, list[tuple[Msg, EventEnvelope | UnparseableEvent]]] = {}
        for msg in msgs:
            try:
                parsed: EventEnvelope | UnparseableEvent = _parse(msg.data)
                key: object = (parsed.aggregate_type, parsed.aggregate_id)
            except UnparseableEvent as exc:
                parsed = exc
                key = id(msg)
            groups.setdefault(key, []).append((msg, parsed))
        await asyncio.gather(*(self._process_group(group) for group in groups.values()))

    async def _process_group(self, group: list[tuple[Msg, EventEnvelope | UnparseableEvent]]) -> None:
        async with self._limit:
            for msg, parsed in group:
                try:
                    await self._process_one(msg, parsed)
                except Exception as exc:  # NATS gone while acking: the server redelivers later
                    self._log.warning(
                        "consumer.message_failed", subject=msg.subject, error=f"{type(exc).__name__}: {exc}"
                    )

    async def _process_one(self, msg: Msg, parsed: EventEnvelope | UnparseableEvent) -> None:
        headers = msg.headers or {}
        message_id = parsed.event_id if isinstance(parsed, EventEnvelope) else headers.get(HEADER_MSG_ID, "")
        with _tracer.start_as_current_span(
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
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if isinstance(parsed, UnparseableEvent):
                span.set_status(Status(StatusCode.ERROR, "unparseable"))
                span.set_attribute("peony.messaging.outcome", "dead_lettered")
                await self._dead_letter(msg, f"unparseable: {parsed}")
                return
            envelope = parsed
            try:
                fresh = await _db.retry_transaction(lambda: self._transaction(envelope))
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                outcome = await self._failed(msg, envelope, exc)
                span.set_attribute("peony.messaging.outcome", outcome)
                return
            await msg.ack()
            span.set_attribute("peony.messaging.outcome", "processed" if fresh else "duplicate")
            if not fresh:
                self._log.info("consumer.duplicate_skipped", event_id=envelope.event_id, subject=msg.subject)

    async def _transaction(self, envelope: EventEnvelope) -> bool:
        """Inbox row + handler effect in one transaction; False when the event was already handled."""
        async with self._sessions() as session, session.begin():
            inserted = await session.execute(
                pg_insert(_inbox)
                .values(consumer=self.durable, event_id=uuid.UUID(envelope.event_id))
                .on_conflict_do_nothing()
                .returning(_inbox.c.event_id)
            )
            if inserted.first() is None:
                return False
            await self._handler(session, envelope)
        return True

    async def _failed(self, msg: Msg, envelope: EventEnvelope, exc: Exception) -> str:
        delivered = msg.metadata.num_delivered or 1
        reason = _describe(exc)
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
        self._log.error(
            "consumer.dead_lettered",
            subject=msg.subject,
            dlq_subject=self.dlq_subject,
            message_id=original.get(HEADER_MSG_ID, ""),
            stream_seq=meta.sequence.stream,
            deliveries=meta.num_delivered,
            reason=reason,
        )
