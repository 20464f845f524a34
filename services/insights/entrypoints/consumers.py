"""One durable JetStream consumer per upstream stream, writing facts (kit.messaging.SinkConsumer)."""

from __future__ import annotations

from nats.js import JetStreamContext

from kit.config import ServiceConfig
from kit.messaging.consumer import SinkConsumer
from services.insights.entrypoints.sink import FactSink

SERVICE = "insights"
STREAMS = ("members", "wallet", "booking", "notify")


def durable_name(stream: str) -> str:
    return f"insights-{stream}-events"


def fact_consumers(config: ServiceConfig, js: JetStreamContext, sink: FactSink) -> list[SinkConsumer]:
    options = config.consumer.options()
    # One shard per fetch: one insert per batch (ClickHouse prefers few large inserts).
    options["concurrency"] = 1
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
