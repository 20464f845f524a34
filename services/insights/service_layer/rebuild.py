"""``peony insights rebuild``: replay the streams from their start into a fresh table set and swap
it in. The figures after a rebuild equal the figures before (facts are a pure function of the
events), as long as the streams still hold every event (JetStream ``max_age``; see
docs/architecture.md "Insights" for the retention trade-off)."""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kit.logging import get_logger
from kit.messaging.envelope import EventEnvelope
from kit.messaging.streams import stream_name
from services.insights.adapters.schema import create_tables, drop_tables, swap_in
from services.insights.adapters.warehouse import Warehouse
from services.insights.entrypoints.sink import FactSink

REBUILD_SUFFIX = "_rebuild"
log = get_logger("peony.insights.rebuild")


async def replay_stream(
    js: JetStreamContext, service: str, sink: FactSink, *, after_seq: int = 0, batch: int = 1000
) -> tuple[int, int]:
    """The events of one stream after ``after_seq``, up to its current end, through ``sink``;
    returns (events written, last stream sequence read)."""
    stream = stream_name(service)
    try:
        info = await js.stream_info(stream)
    except Exception:  # a stream that does not exist yet holds no events
        return 0, after_seq
    last = info.state.last_seq
    if not info.state.messages or last <= after_seq:
        return 0, after_seq
    durable = f"insights-rebuild-{service}-{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.NONE,
        filter_subject=f"peony.{service}.>",
        inactive_threshold=300,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after_seq else DeliverPolicy.ALL,
        opt_start_seq=after_seq + 1 if after_seq else None,
    )
    await js.add_consumer(stream, config=config)
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    written, seen = 0, after_seq
    try:
        while seen < last:
            try:
                msgs = await sub.fetch(batch, timeout=2)
            except TimeoutError:
                break  # the rest of the range is other subjects (or deleted): nothing more for us
            prepared = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                seen = max(seen, seq)
                if ".dlq." in msg.subject:
                    continue
                try:
                    prepared.append(sink.prepare(EventEnvelope.FromString(msg.data), seq))
                except Exception as exc:  # what the live consumer dead-letters is skipped here too
                    log.warning("rebuild.event_skipped", stream=stream, seq=seq, error=type(exc).__name__)
            await sink.write(prepared)
            written += len(prepared)
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, durable)
    return written, max(seen, last)


async def rebuild(warehouse: Warehouse, js: JetStreamContext, services: tuple[str, ...]) -> int:
    """Replay into the ``_rebuild`` tables, swap them in, then replay the tail that arrived
    meanwhile into the live tables (the live consumers may have written it to the old tables;
    an event written twice is one row once merged, and counted once: queries read FINAL)."""
    await drop_tables(warehouse, REBUILD_SUFFIX)
    await create_tables(warehouse, REBUILD_SUFFIX)
    total, ends = 0, {}
    fresh = FactSink(warehouse, REBUILD_SUFFIX)
    for service in services:
        written, ends[service] = await replay_stream(js, service, fresh)
        total += written
    await swap_in(warehouse, REBUILD_SUFFIX)
    live = FactSink(warehouse)
    for service in services:
        written, _ = await replay_stream(js, service, live, after_seq=ends[service])
        total += written
    log.info("rebuild.done", events=total)
    return total
