"""``peony insights rebuild``: replay the streams from their start into a fresh table set and swap
it in. The figures after a rebuild equal the figures before (facts are a pure function of the
events), as long as the streams still hold every event (JetStream ``max_age``; see
docs/architecture.md "Insights" for the retention trade-off)."""

from __future__ import annotations

import time

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


async def replay_stream(js: JetStreamContext, service: str, sink: FactSink, batch: int = 1000) -> int:
    """Every event of one stream, from the first, through ``sink``; returns the events written."""
    stream = stream_name(service)
    try:
        info = await js.stream_info(stream)
    except Exception:  # a stream that does not exist yet holds no events
        return 0
    last = info.state.last_seq
    if not info.state.messages:
        return 0
    durable = f"insights-rebuild-{service}-{int(time.time())}"
    await js.add_consumer(
        stream,
        config=ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            filter_subject=f"peony.{service}.>",
            inactive_threshold=300,
        ),
    )
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    written = 0
    try:
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=2)
            except TimeoutError:
                break
            prepared = []
            done = False
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if ".dlq." not in msg.subject:
                    try:
                        envelope = EventEnvelope.FromString(msg.data)
                        prepared.append(sink.prepare(envelope, seq))
                    except Exception as exc:  # what the live consumer dead-letters is skipped here too
                        log.warning("rebuild.event_skipped", stream=stream, seq=seq, error=type(exc).__name__)
                done = done or seq >= last
            await sink.write(prepared)
            written += len(prepared)
            if done:
                break
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, durable)
    return written


async def rebuild(warehouse: Warehouse, js: JetStreamContext, services: tuple[str, ...]) -> int:
    await drop_tables(warehouse, REBUILD_SUFFIX)
    await create_tables(warehouse, REBUILD_SUFFIX)
    sink = FactSink(warehouse, REBUILD_SUFFIX)
    total = 0
    for service in services:
        total += await replay_stream(js, service, sink)
    await swap_in(warehouse, REBUILD_SUFFIX)
    log.info("rebuild.done", events=total)
    return total
