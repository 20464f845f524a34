"""Every Peony alert of deploy/observability/prometheus/alerts.yaml can fire: for each rule on a
metric Peony emits, produce its condition with the real parts (PostgreSQL, NATS JetStream, a gRPC
server with the kit's interceptor), read the metric as the collector would export it, and see it
cross the rule's threshold. The metric's Prometheus name (what the collector's prometheus exporter
makes of the OpenTelemetry name) must be the one the rule queries.

PeonyTargetDown (`up`) and PeonyDeploymentUnavailable (kube-state-metrics) watch metrics of
Prometheus and Kubernetes, not of Peony: they are checked by tools/deploy_check.py (the
expressions parse) and not driven here.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from nats.js import JetStreamContext
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.db import session_factory
from kit.messaging import EventEnvelope, OutboxRelay, add_to_outbox, ensure_stream, new_envelope, stream_name
from kit.telemetry import RpcMetrics
from tests.integration.kit.helpers import event, eventually, write_events
from tests.integration.kit.test_consumer import Harness, effects, harness  # noqa: F401 - fixtures
from tests.support.metrics import metric_points

pytestmark = pytest.mark.integration

ALERTS = Path(__file__).resolve().parents[3] / "deploy" / "observability" / "prometheus" / "alerts.yaml"
RULES: dict[str, dict[str, Any]] = {
    rule["alert"]: rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
}


def prometheus_name(otel_name: str, unit: str, kind: str) -> str:
    """The OpenTelemetry Collector's prometheus exporter naming: dots to underscores, the unit as
    a suffix (``s`` -> ``_seconds``; annotations such as ``{event}`` dropped), ``_total`` on counters."""
    name = otel_name.replace(".", "_")
    if unit == "s":
        name += "_seconds"
    if kind == "counter":
        name += "_total"
    return name


def threshold(alert: str, metric: str) -> float:
    """The number the rule compares against (``... > N`` at the end of its expression), after
    checking the rule queries ``metric``."""
    expr = RULES[alert]["expr"]
    assert re.search(rf"\b{metric}\b", expr), f"{alert} does not query {metric}: {expr}"
    found = re.search(r">\s*([0-9.]+)\s*$", expr.strip())
    assert found, f"{alert}: no final '> N' threshold in {expr}"
    return float(found.group(1))


def provider() -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


# ------------------------------------------------------------------------------------ outbox


async def test_outbox_backlog_alert_fires_on_more_pending_events_than_its_threshold(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    limit = threshold("PeonyOutboxBacklog", prometheus_name("peony.outbox.pending", "{event}", "gauge"))
    await write_events(engine, service, [(f"agg-{i % 50}", f"v{i}") for i in range(int(limit) + 1)])
    meters, reader = provider()
    # Nothing publishes (the relay is not started, as when it cannot reach NATS): the backlog stays.
    relay = OutboxRelay(engine, js, service, meter_provider=meters)
    await relay.refresh_stats()
    mine = {"peony.service": service}
    [pending] = [p.value for p in metric_points(reader, "peony.outbox.pending", **mine)]
    assert pending > limit
    [age] = [p.value for p in metric_points(reader, "peony.outbox.oldest_pending_age", **mine)]
    assert age >= 0


async def test_outbox_parked_alert_fires_on_one_parked_event(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    limit = threshold("PeonyOutboxParked", prometheus_name("peony.outbox.parked_rows", "{event}", "gauge"))
    await ensure_stream(js, service)
    env = new_envelope(event("off-stream"), tenant="t", aggregate_type="thing", aggregate_id="a")
    async with session_factory(engine)() as session, session.begin():
        await add_to_outbox(session, service, env)
        # A subject the stream does not take: NATS refuses it for good, the relay parks it.
        await session.execute(
            text("UPDATE outbox SET subject = 'peony.elsewhere.StringValue' WHERE event_id = :id"),
            {"id": uuid.UUID(env.event_id)},
        )
    meters, reader = provider()
    relay = OutboxRelay(engine, js, service, park_after=1, rejection_backoff=0.01, meter_provider=meters)
    mine = {"peony.service": service}

    async def parked() -> bool:
        await relay.run_once()
        await relay.refresh_stats()
        return [p.value for p in metric_points(reader, "peony.outbox.parked_rows", **mine)] == [1]

    await eventually(parked, within=30, what="the off-stream event parked")
    assert limit < 1
    assert [p.value for p in metric_points(reader, "peony.outbox.parked", **mine)] == [1]


# ---------------------------------------------------------------------------------- consumers


async def test_consumer_lag_alert_fires_when_the_durable_is_more_than_threshold_behind(
    harness: Harness,  # noqa: F811 - the fixture imported above
) -> None:
    limit = threshold("PeonyConsumerLag", prometheus_name("peony.consumer.lag", "{message}", "gauge"))
    meters, reader = provider()

    async def never(_session: AsyncSession, _env: EventEnvelope) -> None:  # pragma: no cover
        raise AssertionError("not started")

    consumer = harness.consumer(never, durable="behind", meter_provider=meters)
    await harness.js.add_consumer(stream_name(harness.producer), config=consumer.consumer_config())
    payload = new_envelope(event("x"), tenant="t", aggregate_type="thing", aggregate_id="a")
    data, count = payload.SerializeToString(), int(limit) + 1
    for start in range(0, count, 500):  # acked publishes, 500 in flight at a time
        await asyncio.gather(
            *(
                harness.js.publish(harness.subject, data, headers={"Nats-Msg-Id": f"m{i}"})
                for i in range(start, min(start + 500, count))
            )
        )
    await consumer.refresh_stats()
    mine = {"peony.service": harness.service, "peony.consumer": "behind"}
    [lag] = [p.value for p in metric_points(reader, "peony.consumer.lag", **mine)]
    assert lag > limit


async def test_dead_letter_alert_fires_on_one_dead_lettered_event(
    harness: Harness,  # noqa: F811 - the fixture imported above
) -> None:
    limit = threshold("PeonyConsumerDeadLetters", prometheus_name("peony.consumer.dlq", "{event}", "counter"))

    async def poison(_session: AsyncSession, _env: EventEnvelope) -> None:
        raise RuntimeError("cannot apply")

    await harness.publish(new_envelope(event("poison"), tenant="t", aggregate_type="thing", aggregate_id="a"))
    meters, reader = provider()
    consumer = harness.consumer(poison, max_deliver=2, backoff=[0.2], meter_provider=meters)
    await consumer.start()
    mine = {"peony.service": harness.service, "peony.consumer": "worker"}

    async def dead_lettered() -> bool:
        return [p.value for p in metric_points(reader, "peony.consumer.dlq", **mine)] == [1]

    await eventually(dead_lettered, within=30, what="the poison event dead-lettered")
    assert limit < 1  # increase() over 15 minutes of a counter that went 0 -> 1


# ---------------------------------------------------------------------------------- gRPC server


@pytest.fixture
async def served_rpcs() -> Any:
    """A gRPC server whose handler fails or stalls on request, measured by the kit's RpcMetrics
    the way kit.grpc_server's interceptor records every call."""
    meters, reader = provider()
    rpc = RpcMetrics(meters)

    async def work(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        loop = asyncio.get_running_loop()
        started = loop.time()
        code = grpc.StatusCode.OK
        try:
            if request == b"fail":
                code = grpc.StatusCode.INTERNAL
                await context.abort(code, "boom")
            if request.startswith(b"sleep:"):
                await asyncio.sleep(float(request[6:]))
            return request
        finally:
            rpc.record("peony.test.v1.Alerts", "Work", code, loop.time() - started)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "peony.test.v1.Alerts", {"Work": grpc.unary_unary_rpc_method_handler(work)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel.unary_unary("/peony.test.v1.Alerts/Work"), reader
    finally:
        await channel.close()
        await server.stop(None)


def _histograms(reader: InMemoryMetricReader) -> list[Any]:
    return metric_points(reader, "rpc.server.call.duration")


async def test_high_error_ratio_alert_fires_when_more_than_5_percent_fail(served_rpcs: Any) -> None:
    metric = prometheus_name("rpc.server.call.duration", "s", "histogram") + "_count"
    limit = threshold("PeonyHighErrorRatio", metric)  # the traffic floor (calls/s) closes the rule
    ratio_limit = float(re.search(r"\)\s*>\s*([0-9.]+)", RULES["PeonyHighErrorRatio"]["expr"]).group(1))
    call, reader = served_rpcs
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(100):
        try:
            await call(b"fail" if i % 10 == 0 else b"ok")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.INTERNAL
    elapsed = loop.time() - started
    server_side = {2, 4, 12, 13, 14, 15}  # the codes the rule counts
    counts = {p.attributes["rpc.grpc.status_code"]: p.count for p in _histograms(reader)}
    failed = sum(n for code, n in counts.items() if code in server_side)
    total = sum(counts.values())
    assert total == 100 and failed / total > ratio_limit
    assert total / max(elapsed, 300.0) > limit  # even spread over the rule's 5 minutes


async def test_p99_latency_alert_fires_when_calls_take_longer_than_its_threshold(served_rpcs: Any) -> None:
    metric = prometheus_name("rpc.server.call.duration", "s", "histogram") + "_bucket"
    limit = threshold("PeonyHighLatencyP99", metric)
    call, reader = served_rpcs
    await asyncio.gather(*(call(f"sleep:{limit + 0.1}".encode()) for _ in range(5)))
    (point,) = _histograms(reader)
    # histogram_quantile(0.99): the bucket holding the 99th percentile call.
    cumulative, target = 0, 0.99 * point.count
    bounds = [*point.explicit_bounds, float("inf")]
    for bound, count in zip(bounds, point.bucket_counts, strict=True):
        cumulative += count
        if cumulative >= target:
            p99_upper = bound
            break
    lower = max(b for b in [0.0, *point.explicit_bounds] if b < p99_upper)
    assert lower >= limit  # the whole bucket lies above the threshold: p99 > limit however it interpolates
