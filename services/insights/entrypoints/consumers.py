"""One durable JetStream consumer per upstream stream, writing facts (kit.messaging.SinkConsumer)."""

from __future__ import annotations

from nats.js import JetStreamContext

from kit.config import ConfigError, ServiceConfig
from kit.messaging.consumer import SinkConsumer
from services.insights.entrypoints.sink import FactSink

SERVICE = "insights"
STREAMS = ("members", "wallet", "booking", "notify")


def durable_name(stream: str) -> str:
    return f"insights-{stream}-events"


DEFAULT_BATCH = 1000


def fact_consumers(config: ServiceConfig, js: JetStreamContext, sink: FactSink) -> list[SinkConsumer]:
    options = config.consumer.options()
    # One shard per fetch: one insert per batch. ClickHouse prefers few large inserts (each makes
    # a part), and a fetch returns what is there at once, so a large batch adds no latency:
    # PEONY_INSIGHTS_CONSUMER_BATCH (default 1000) instead of PEONY_CONSUMER_BATCH.
    options["concurrency"] = 1
    raw = config.extra.get("PEONY_INSIGHTS_CONSUMER_BATCH") or str(DEFAULT_BATCH)
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise ConfigError([f"PEONY_INSIGHTS_CONSUMER_BATCH={raw!r} must be an integer in 1..10000"])
    batch = int(raw)
    options["batch"] = batch
    options["max_ack_pending"] = max(int(options["max_ack_pending"]), 4 * batch)
    # Dead letters of upstream consumers live in the same streams: only the events themselves.
    return [
        SinkConsumer(
            js,
            prepare=sink.prepare,
            sink=sink.write,
            service=SERVICE,
            durable=durable_name(stream),
            stream_service=stream,
            subjects=[f"peony.{stream}.>"],
            **options,
        )
        for stream in STREAMS
    ]
