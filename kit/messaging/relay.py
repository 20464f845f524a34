"""The outbox relay: publishes every committed outbox row to JetStream, forever, in per-aggregate order.

How it stays correct with several replicas and with failures:

* One transaction selects a batch with ``FOR UPDATE SKIP LOCKED`` on each aggregate's *head* (its
  oldest row neither published nor parked). Holding the head's lock makes the relay the aggregate's
  only publisher for the batch: another replica skips the locked head, and no later row of the
  aggregate is a head for it while that head is unpublished. The same statement then takes (and
  locks) the aggregate's following pending rows, up to ``batch_size`` rows in all, so a checkout's
  four events go out in one batch, not four.
* Rows of one aggregate are published in ``seq`` order, each after the previous one's JetStream
  ack; the rows of different aggregates are published concurrently, one *wave* per position in the
  chains, so a batch costs one database transaction and as many pipelined rounds of acks as its
  longest chain. The first row of an aggregate that fails (or is rejected, or is not due yet) stops
  that aggregate's later rows: they are not sent in this batch and stay untouched.
* Every message carries ``Nats-Msg-Id`` = event id. A crash (or lost commit) between the ack and
  the ``published_at`` update makes the row go out again; the stream's duplicate window drops the
  copy and acks it as a duplicate, which the relay counts as success.
* A failed publish bumps ``attempts`` and pushes ``next_attempt_at`` back (exponential, jittered,
  capped at ``max_backoff``); the aggregate's later rows wait behind it. A *transient* failure
  (timeout, disconnect, no stream responding, anything not known to be the row's fault) is
  retried forever: the row is fine, NATS will come back.
* A *rejection* is a failure caused by the row itself, which no retry can fix: the message (payload
  plus headers) is larger than the server's max_payload (checked before sending: NATS would close
  the connection) or the stream's max_msg_size, the subject is not on the service's stream, the
  headers or the payload are malformed (not an ``EventEnvelope``). A rejected row is retried
  ``park_after`` times on a short schedule (in case the cause was a passing misconfiguration,
  e.g. a stream being updated) and then **parked**: ``parked_at`` is set, it stops being its
  aggregate's head, so the aggregate's later events flow again (consumers see them without the
  parked one); it is counted (``peony.outbox.parked``), logged as an error and alerted on
  (``PeonyOutboxParked``). ``peony outbox retry`` un-parks it once the cause is fixed; it is then
  published after its aggregate's newer events.

It wakes on ``LISTEN peony_outbox_<service>`` (``add_to_outbox`` notifies on commit), every
``poll_interval`` seconds as a fallback, and loops immediately while it is making progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import APIError
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from peony.events.v1.envelope_pb2 import EventEnvelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.messaging.admin import outbox_stats
from kit.messaging.outbox import (
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    HEADER_TENANT,
    NATS_DEFAULT_MAX_PAYLOAD,
    message_size,
    notify_channel,
)
from kit.messaging.streams import stream_name
from kit.telemetry import OutboxStats, outbox_metrics

__all__ = ["OutboxRelay", "backoff_delay", "is_rejection"]

_log = structlog.get_logger("kit.messaging.relay")
_tracer = trace.get_tracer("kit.messaging")

_MAX_ERROR_CHARS = 1000
_OWN_HEADERS = frozenset(
    h.lower()
    for h in (HEADER_MSG_ID, HEADER_EVENT_TYPE, HEADER_TENANT, "traceparent", "tracestate", "baggage")
) | {"nats-expected-stream"}

# JetStream API errors that are the message's fault: larger than the stream's max_msg_size (10054),
# its subject bound to another stream (10060), headers over the server's limit (10097).
_REJECTING_JS_ERRORS = frozenset({10054, 10060, 10097})
# Client-side refusals of the message itself (nats-py raises them before sending anything).
_REJECTING_NATS_ERRORS = (
    nats.errors.MaxPayloadError,
    nats.errors.BadSubjectError,
    nats.errors.BadHeaderError,
)

# Parked rows are not heads: an aggregate's head is its oldest row neither published nor parked.
# The heads are locked with SKIP LOCKED (another replica owns that aggregate for now); the outer
# query adds each locked head's following pending rows (nobody else can be publishing those: their
# head is locked and unpublished) in seq order, so the rows of one aggregate form a contiguous run.
# ``due`` is only ever false for a follower (a head is selected only when due).
_SELECT_BATCH = text(
    """
    WITH heads AS (
        SELECT o.seq, o.aggregate_id
        FROM outbox o
        WHERE o.published_at IS NULL
          AND o.parked_at IS NULL
          AND o.next_attempt_at <= now()
          AND NOT EXISTS (
              SELECT 1 FROM outbox p
              WHERE p.aggregate_id = o.aggregate_id AND p.published_at IS NULL AND p.parked_at IS NULL
                AND p.seq < o.seq
          )
        ORDER BY o.seq
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    )
    SELECT o.seq, o.event_id, o.aggregate_id, o.subject, o.event_type, o.tenant_id, o.payload, o.headers,
           o.attempts, o.rejections, o.next_attempt_at <= now() AS due
    FROM outbox o
    JOIN heads h ON h.aggregate_id = o.aggregate_id AND o.seq >= h.seq
    WHERE o.published_at IS NULL AND o.parked_at IS NULL
    ORDER BY o.seq
    LIMIT :n
    FOR UPDATE OF o
    """
)
# clock_timestamp(), not now(): the batch's transaction began before the publishes (and their timeouts).
_MARK_PUBLISHED = text(
    "UPDATE outbox SET published_at = clock_timestamp(), last_error = NULL"
    " WHERE seq = ANY(CAST(:seqs AS bigint[]))"
)
_MARK_FAILED = text(
    """
    UPDATE outbox
    SET attempts = attempts + 1,
        next_attempt_at = clock_timestamp() + make_interval(secs => :delay),
        last_error = :error
    WHERE seq = :seq
    """
)
_MARK_REJECTED = text(
    """
    UPDATE outbox
    SET attempts = attempts + 1,
        rejections = rejections + 1,
        next_attempt_at = clock_timestamp() + make_interval(secs => :delay),
        last_error = :error,
        parked_at = CASE WHEN rejections + 1 >= :park_after THEN clock_timestamp() END
    WHERE seq = :seq
    RETURNING seq, parked_at IS NOT NULL AS parked
    """
)


def backoff_delay(attempts: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before retry number ``attempts`` (1 = first retry): exponential, jittered, capped.

    "Equal jitter": half the exponential step is fixed, half is random, so retries of many rows
    that failed together spread out but none comes back sooner than half its step.
    """
    step = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return min(cap, step / 2 + random.uniform(0, step / 2))


@dataclass(frozen=True)
class _Outcome:
    seq: int
    attempts: int
    error: str | None
    rejected: bool = False  # the row itself is at fault (see the module docstring)
    rejections: int = 0
    event_type: str = ""
    event_id: str = ""
    aggregate_id: str = ""
    size: int = 0


class RowRejected(Exception):
    """A row the relay will not send as it is (checked before publishing; the name shows in
    ``last_error`` and ``peony outbox parked``)."""


def is_rejection(exc: BaseException) -> bool:
    """True when a publish failed because of the message itself (retrying cannot help); False for
    transient failures (timeouts, disconnects, no responders, server errors, anything unknown)."""
    if isinstance(exc, (RowRejected, *_REJECTING_NATS_ERRORS)):
        return True
    return isinstance(exc, APIError) and exc.err_code in _REJECTING_JS_ERRORS


class OutboxRelay:
    """Publishes ``service``'s outbox to its JetStream stream. ``start()`` / ``stop()`` run the loop;
    ``run_once()`` publishes one batch (tests, tools)."""

    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        service: str,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        base_backoff: float = 0.5,
        publish_timeout: float = 5.0,
        listen: bool = True,
        park_after: int = 5,
        rejection_backoff: float = 0.05,
        max_payload: int = NATS_DEFAULT_MAX_PAYLOAD,
        stats_interval: float = 15.0,
        meter_provider: metrics.MeterProvider | None = None,
        listen_url: str | None = None,
    ) -> None:
        """``listen_url``: a direct, session-mode connection for LISTEN (PEONY_DATABASE_SESSION_URL)
        when the engine goes through a transaction-mode pooler; default: the engine's URL.
        ``park_after``: rejections before a row is parked; ``rejection_backoff``: base delay of
        their retries (capped at 1 s: a rejection is not a load problem); ``max_payload``: the NATS
        server's (``nc.max_payload``); ``stats_interval``: how often the backlog gauges refresh."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if park_after < 1:
            raise ValueError("park_after must be at least 1")
        self._engine = engine
        self._js = js
        self.service = service
        self.channel = notify_channel(service)
        self._stream = stream_name(service)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.base_backoff = base_backoff
        self.publish_timeout = publish_timeout
        self.park_after = park_after
        self.rejection_backoff = rejection_backoff
        self.max_payload = max_payload
        self.stats_interval = stats_interval
        self._subject_prefix = f"peony.{service}."
        self._metrics = outbox_metrics(meter_provider)
        self._stats: OutboxStats | None = None
        self._stats_at = -float("inf")
        self._next_due: float | None = None  # monotonic time the earliest failed row is due again
        self._listen = listen
        self._listen_url = listen_url
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._log = _log.bind(service=service)

    # ---------------------------------------------------------------- lifecycle

    @property
    def listening(self) -> bool:
        """True while the LISTEN connection is up (notifications wake the relay)."""
        return self._listening.is_set()

    async def wait_listening(self, within: float = 10.0) -> None:
        """Wait until the LISTEN connection is up (tests)."""
        await asyncio.wait_for(self._listening.wait(), within)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._wake.set()  # first sweep right away
        if self._listen:
            self._listen_task = asyncio.create_task(self._listen_loop(), name=f"outbox-listen-{self.service}")
        self._task = asyncio.create_task(self._run_loop(), name=f"outbox-relay-{self.service}")
        self._log.info("outbox.relay_started")

    async def stop(self) -> None:
        """Stop polling; the batch in flight is finished (published and marked) before this returns."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        listen_task, self._listen_task = self._listen_task, None
        if listen_task is not None:
            listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listen_task
        if task is not None:
            await task
            self._metrics.unwatch(self.service, self.stats)
            self._log.info("outbox.relay_stopped")

    async def _run_loop(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                if time.monotonic() - self._stats_at >= self.stats_interval:
                    await self.refresh_stats()
                progressed = await self._run_batch()
                failures = 0
            except Exception as exc:  # the database is unreachable, say: keep trying
                failures += 1
                delay = backoff_delay(failures, base=self.base_backoff, cap=self.max_backoff)
                self._log.warning(
                    "outbox.relay_batch_failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay
                )
                await self._sleep(delay)
                continue
            if progressed:
                # Progress: the aggregates' next rows are selectable now; go again at once.
                await asyncio.sleep(0)
                continue
            # Idle until the earliest failed row is due again (rejections come back within a
            # second), a notification, or the poll interval.
            wait = self.poll_interval
            if self._next_due is not None:
                wait = max(0.0, min(wait, self._next_due - time.monotonic()))
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """Sleep until ``seconds`` pass, a notification arrives or ``stop()`` is called."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # ---------------------------------------------------------------- LISTEN

    def _listen_dsn(self) -> str:
        if self._listen_url:
            return self._listen_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def _listen_loop(self) -> None:
        delay = 0.5
        while not self._stopping:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._listen_dsn(),
                    timeout=10,
                    server_settings={"application_name": f"peony-{self.service}-outbox-listen"},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, ev=lost: ev.set())
                await conn.add_listener(self.channel, self._on_notify)
                self._listening.set()
                self._wake.set()  # rows committed while we were not listening
                delay = 0.5
                while not self._stopping and not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), 30)
                    except TimeoutError:
                        # A connection dropped without a FIN is only noticed by using it.
                        await conn.fetchval("SELECT 1", timeout=10)
                if lost.is_set() and not self._stopping:
                    self._log.warning("outbox.listen_connection_lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning(
                    "outbox.listen_failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay
                )
            finally:
                self._listening.clear()
                if conn is not None:
                    conn.terminate()
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # ---------------------------------------------------------------- one batch

    async def run_once(self) -> int:
        """Publish one batch of aggregate heads; returns how many were published (acked)."""
        published, _parked = await self._run_batch_counts()
        return published

    async def _run_batch(self) -> bool:
        published, parked = await self._run_batch_counts()
        if parked:
            await self.refresh_stats()  # the parked gauge shows it now, not at the next refresh
        return bool(published or parked)

    async def _run_batch_counts(self) -> tuple[int, int]:
        """One batch: (rows published, rows parked)."""
        if self._next_due is not None and self._next_due <= time.monotonic():
            self._next_due = None  # this batch takes whatever was due
        async with self._engine.connect() as conn, conn.begin():
            rows = (await conn.execute(_SELECT_BATCH, {"n": self.batch_size})).all()
            if not rows:
                return 0, 0
            outcomes = await self._publish_chains(rows)
            parked = await self._record(conn, outcomes)
        for o in parked:
            # After the commit: the row really is parked.
            self._metrics.parked.add(1, {"peony.service": self.service, "peony.event_type": o.event_type})
            self._log.error(
                "outbox.row_parked",
                seq=o.seq,
                event_id=o.event_id,
                event_type=o.event_type,
                aggregate_id=o.aggregate_id,
                size=o.size,
                rejections=o.rejections + 1,
                error=o.error,
                hint=f"peony outbox show {self.service} {o.event_id}",
            )
        return sum(1 for o in outcomes if o.error is None), len(parked)

    async def _publish_chains(self, rows: Sequence[Any]) -> list[_Outcome]:
        """Publish each aggregate's run of rows in seq order, the aggregates side by side (one wave
        per position); an aggregate stops at its first failure or at a row not due yet."""
        chains: dict[str, list[Any]] = {}
        for row in rows:  # in seq order
            chains.setdefault(row.aggregate_id, []).append(row)
        active = [due for chain in chains.values() if (due := _while_due(chain))]
        outcomes: list[_Outcome] = []
        wave = 0
        while active:
            results = await asyncio.gather(*(self._publish(chain[wave]) for chain in active))
            outcomes += results
            wave += 1
            active = [c for c, o in zip(active, results, strict=True) if o.error is None and len(c) > wave]
        return outcomes

    async def _record(self, conn: AsyncConnection, outcomes: Sequence[_Outcome]) -> list[_Outcome]:
        """Mark the batch's rows published, failed or rejected (committed with the batch's
        transaction); returns the rows this parked."""
        done = [o.seq for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None and not o.rejected]
        rejected = [o for o in outcomes if o.error is not None and o.rejected]
        delays: list[float] = []
        if done:
            await conn.execute(_MARK_PUBLISHED, {"seqs": done})
        if failed:
            params = [
                {
                    "seq": o.seq,
                    "delay": backoff_delay(o.attempts + 1, base=self.base_backoff, cap=self.max_backoff),
                    "error": o.error,
                }
                for o in failed
            ]
            await conn.execute(_MARK_FAILED, params)
            delays += [p["delay"] for p in params]
            self._log.warning(
                "outbox.publish_failed", failed=len(failed), published=len(done), error=failed[0].error
            )
        parked: list[_Outcome] = []
        for o in rejected:
            delay = backoff_delay(o.rejections + 1, base=self.rejection_backoff, cap=1.0)
            row = (
                await conn.execute(
                    _MARK_REJECTED,
                    {"seq": o.seq, "delay": delay, "error": o.error, "park_after": self.park_after},
                )
            ).one()
            if row.parked:
                parked.append(o)
            else:
                delays.append(delay)
                self._log.warning(
                    "outbox.publish_rejected",
                    seq=o.seq,
                    event_id=o.event_id,
                    rejections=o.rejections + 1,
                    park_after=self.park_after,
                    error=o.error,
                )
        if delays:
            # Measured after the UPDATEs, so the rows are due (by the database's clock) by then.
            due = time.monotonic() + min(delays)
            self._next_due = due if self._next_due is None else min(self._next_due, due)
        return parked

    # ---------------------------------------------------------------- backlog gauges

    def stats(self) -> OutboxStats | None:
        """The last backlog snapshot (what the gauges report); None before the first refresh."""
        return self._stats

    async def refresh_stats(self) -> OutboxStats:
        """Count what is waiting (pending, oldest pending, parked) for the gauges."""
        self._stats = await outbox_stats(self._engine)
        self._stats_at = time.monotonic()
        self._metrics.watch(self.service, self.stats)  # the gauges report this relay's snapshots
        return self._stats

    def _check(self, row: Any, envelope: EventEnvelope | None, size: int) -> None:
        """Refuse a row the stream or the server would refuse, or that is not an event."""
        subject = str(row.subject)
        rest = subject.removeprefix(self._subject_prefix)
        if rest == subject or not rest or any(c in rest for c in " \t\r\n.*>"):
            raise RowRejected(f"subject {subject[:200]!r} is not an event subject of stream {self._stream}")
        if envelope is None:
            raise RowRejected("payload is not a peony.events.v1.EventEnvelope")
        if size > self.max_payload:
            # Sending it would make the server close the connection ("Maximum Payload Violation").
            raise RowRejected(
                f"message of {size} bytes exceeds the NATS server's max_payload {self.max_payload}"
            )

    async def _publish(self, row: Any) -> _Outcome:
        event_id = str(row.event_id)
        envelope = _parse(row.payload)
        parent = propagate.extract(_trace_carrier(envelope))
        with _tracer.start_as_current_span(
            f"{row.subject} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "publish",
                "messaging.operation.name": "publish",
                "messaging.destination.name": row.subject,
                "messaging.message.id": event_id,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            # Extra headers the producer stored are kept; trace and identity headers are ours.
            headers = {
                str(k): str(v) for k, v in (row.headers or {}).items() if str(k).lower() not in _OWN_HEADERS
            }
            headers[HEADER_MSG_ID] = event_id
            headers[HEADER_EVENT_TYPE] = row.event_type
            headers[HEADER_TENANT] = row.tenant_id
            propagate.inject(headers)  # this PRODUCER span's context
            # As the server counts it: nats-py adds the expected-stream header.
            size = message_size(bytes(row.payload), {**headers, "Nats-Expected-Stream": self._stream})

            def outcome(error: str | None, rejected: bool = False) -> _Outcome:
                return _Outcome(
                    row.seq,
                    row.attempts,
                    error,
                    rejected=rejected,
                    rejections=row.rejections,
                    event_type=row.event_type,
                    event_id=event_id,
                    aggregate_id=row.aggregate_id,
                    size=size,
                )

            try:
                self._check(row, envelope, size)
                ack = await self._js.publish(
                    row.subject,
                    bytes(row.payload),
                    timeout=self.publish_timeout,
                    stream=self._stream,
                    headers=headers,
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                rejected = is_rejection(exc)
                span.set_attribute("peony.messaging.rejected", rejected)
                return outcome(error or type(exc).__name__, rejected)
            if ack.duplicate:
                span.set_attribute("peony.messaging.duplicate", True)
            return outcome(None)


def _while_due(chain: list[Any]) -> list[Any]:
    """The chain up to (not including) its first row whose retry is not due yet."""
    for i, row in enumerate(chain):
        if not row.due:
            return chain[:i]
    return chain


def _parse(payload: bytes) -> EventEnvelope | None:
    try:
        envelope = EventEnvelope.FromString(bytes(payload))
    except Exception:  # not an envelope: the row is rejected (and parked), never published
        return None
    return envelope if envelope.event_id else None


def _trace_carrier(envelope: EventEnvelope | None) -> dict[str, str]:
    """The W3C context stored in the envelope (the request that wrote the event)."""
    carrier: dict[str, str] = {}
    if envelope is None:
        return carrier
    if envelope.trace_parent:
        carrier["traceparent"] = envelope.trace_parent
    if envelope.trace_state:
        carrier["tracestate"] = envelope.trace_state
    return carrier
