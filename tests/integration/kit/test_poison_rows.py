"""No accepted event is too large for its stream, and a poison outbox row never stalls its aggregate
(real PostgreSQL and NATS JetStream)."""

from __future__ import annotations

import asyncio
import uuid

import nats.errors
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.config import ConfigError, load_config
from kit.db import session_factory
from kit.messaging import EventEnvelope, OutboxRelay, add_to_outbox, ensure_stream, new_envelope, stream_name
from kit.messaging.admin import retry_parked
from kit.messaging.outbox import (
    DEFAULT_MAX_EVENT_BYTES,
    EventTooLarge,
    add_all_to_outbox,
    max_event_bytes,
    set_max_event_bytes,
)
from kit.messaging.relay import is_rejection
from kit.messaging.streams import stream_max_msg_size
from kit.service import open_backbone
from tests.integration.kit.helpers import outbox_rows, stream_messages, write_events
from tests.support.metrics import metric_points

pytestmark = pytest.mark.integration


def envelope(value: str, aggregate_id: str = "agg") -> EventEnvelope:
    return new_envelope(
        StringValue(value=value), tenant="t1", aggregate_type="thing", aggregate_id=aggregate_id
    )


async def drain(engine: AsyncEngine, relay: OutboxRelay, rounds: int = 200) -> None:
    """Run batches until nothing is left to publish or retry (rejections come back within 1 s)."""
    for _ in range(rounds):
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL")
            )
        if not left:
            return
        await relay.run_once()
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox never drained")


# ------------------------------------------------------------------- write-time guard


async def test_an_event_over_the_limit_is_refused_and_nothing_is_written(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    sessions = session_factory(engine)
    ok, big = envelope("fine"), envelope("x" * DEFAULT_MAX_EVENT_BYTES)
    with pytest.raises(EventTooLarge) as refused:
        async with sessions() as session, session.begin():
            await add_all_to_outbox(session, service, [ok, big])
    err = refused.value
    assert err.code == "INVALID_ARGUMENT" and err.reason == "EVENT_TOO_LARGE"
    assert int(err.metadata["size"]) > int(err.metadata["limit"]) == DEFAULT_MAX_EVENT_BYTES
    assert err.metadata["event_type"] == "google.protobuf.StringValue"
    assert await outbox_rows(engine) == []  # not even the small event of the same request

    # An event of exactly the limit is accepted, one byte more is not, and the stream (default
    # settings) and the NATS server take the largest accepted one, with the relay's own headers.
    async def size_of(value_length: int) -> int:
        with pytest.raises(EventTooLarge) as probe:
            async with sessions() as session, session.begin():
                await add_to_outbox(session, service, envelope("y" * value_length), max_bytes=0)
        return int(probe.value.metadata["size"])

    overhead = await size_of(DEFAULT_MAX_EVENT_BYTES - 1000) - (DEFAULT_MAX_EVENT_BYTES - 1000)
    fits = envelope("y" * (DEFAULT_MAX_EVENT_BYTES - overhead))
    with pytest.raises(EventTooLarge):
        async with sessions() as session, session.begin():
            await add_to_outbox(session, service, envelope("y" * (DEFAULT_MAX_EVENT_BYTES - overhead + 1)))
    async with sessions() as session, session.begin():
        await add_to_outbox(session, service, fits)
    await ensure_stream(js, service)
    relay = OutboxRelay(engine, js, service)
    assert await relay.run_once() == 1
    (msg,) = await stream_messages(js, stream_name(service))
    assert EventEnvelope.FromString(msg.data) == fits


async def test_the_limit_is_per_service_and_configurable(engine: AsyncEngine, service: str) -> None:
    sessions = session_factory(engine)
    assert max_event_bytes(service) == DEFAULT_MAX_EVENT_BYTES
    set_max_event_bytes(service, 2048)
    try:
        with pytest.raises(EventTooLarge):
            async with sessions() as session, session.begin():
                await add_to_outbox(session, service, envelope("z" * 2048))
        async with sessions() as session, session.begin():
            await add_to_outbox(session, service, envelope("z" * 1024))
        assert max_event_bytes("someoneelse") == DEFAULT_MAX_EVENT_BYTES
    finally:
        set_max_event_bytes(service, DEFAULT_MAX_EVENT_BYTES)
    assert len(await outbox_rows(engine)) == 1
    with pytest.raises(ValueError, match="1 KiB"):
        set_max_event_bytes(service, 100)


# ------------------------------------------------------------------- parking


async def insert_row(engine: AsyncEngine, service: str, aggregate_id: str, **overrides: object) -> str:
    """A row as a writer without the size guard (or a bug) would leave it; returns its event id."""
    env = envelope("poison", aggregate_id)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await add_to_outbox(session, service, env, max_bytes=64 * 1024 * 1024)
        if overrides:
            sets = ", ".join(f"{k} = :{k}" for k in overrides)
            await session.execute(
                text(f"UPDATE outbox SET {sets} WHERE event_id = :id"),  # noqa: S608 - test columns
                {**overrides, "id": uuid.UUID(env.event_id)},
            )
    return env.event_id


@pytest.mark.parametrize(
    ("kind", "overrides", "error"),
    [
        ("over the server's max_payload", {"payload_size": 1100 * 1024}, "max_payload"),
        ("over the stream's max_msg_size", {"payload_size": 80 * 1024}, "err_code=10054"),
        ("subject off the stream", {"subject": "peony.elsewhere.StringValue"}, "is not an event subject"),
        ("not an envelope", {"payload": b"\x08\x96\x01garbage"}, "not a peony.events.v1.EventEnvelope"),
    ],
)
async def test_a_rejected_row_is_parked_and_its_aggregate_flows(
    engine: AsyncEngine, js: JetStreamContext, service: str, kind: str, overrides: dict, error: str
) -> None:
    # The stream takes at most 64 KiB here, so a 80 KiB message is the stream's refusal, not the server's.
    await ensure_stream(js, service, max_msg_size=64 * 1024)
    overrides = dict(overrides)
    size = overrides.pop("payload_size", None)
    if size is not None:
        overrides["payload"] = envelope("p" * size, "X").SerializeToString()
    await write_events(engine, service, [("X", "before")])
    poison = await insert_row(engine, service, "X", **overrides)
    await write_events(engine, service, [("X", "after-1"), ("Y", "other"), ("X", "after-2")])

    reader = InMemoryMetricReader()
    relay = OutboxRelay(
        engine, js, service, park_after=3, meter_provider=MeterProvider(metric_readers=[reader])
    )
    await drain(engine, relay)

    rows = {r["event_id"]: r for r in await outbox_rows(engine)}
    parked = rows.pop(poison)
    assert parked["published_at"] is None and parked["parked_at"] is not None, kind
    assert parked["rejections"] == 3 and parked["attempts"] == 3
    assert error in parked["last_error"]
    assert all(r["published_at"] is not None and r["parked_at"] is None for r in rows.values())
    # X's later events went out, in order, without the poison one.
    values = [
        (env.aggregate_id, StringValue.FromString(env.payload.value).value)
        for env in (EventEnvelope.FromString(m.data) for m in await stream_messages(js, stream_name(service)))
    ]
    assert [v for a, v in values if a == "X"] == ["before", "after-1", "after-2"]
    assert poison not in {m.headers["Nats-Msg-Id"] for m in await stream_messages(js, stream_name(service))}

    mine = {"peony.service": service}
    (counted,) = metric_points(reader, "peony.outbox.parked", **mine)
    assert counted.value == 1 and counted.attributes["peony.event_type"] == "google.protobuf.StringValue"
    await relay.refresh_stats()
    assert [p.value for p in metric_points(reader, "peony.outbox.parked_rows", **mine)] == [1]
    assert [p.value for p in metric_points(reader, "peony.outbox.pending", **mine)] == [0]


async def test_transient_failures_are_never_rejections() -> None:

    transient = [
        nats.errors.TimeoutError(),
        TimeoutError(),
        nats.errors.ConnectionClosedError(),
        nats.errors.OutboundBufferLimitError(),
        nats.errors.NoRespondersError(),
        NoStreamResponseError(),
        ServiceUnavailableError(code=503, description="jetstream not ready"),
        APIError(code=500, err_code=10077, description="maximum messages exceeded"),
        RuntimeError("anything unknown"),
    ]
    assert [e for e in transient if is_rejection(e)] == []
    rejected = [
        nats.errors.MaxPayloadError(),
        nats.errors.BadSubjectError(),
        nats.errors.BadHeaderError("bad key"),
        APIError(code=400, err_code=10054, description="message size exceeds maximum allowed"),
        APIError(code=400, err_code=10060, description="expected stream does not match"),
    ]
    assert all(is_rejection(e) for e in rejected)


async def test_a_parked_row_is_published_after_retry(
    engine: AsyncEngine, js: JetStreamContext, service: str
) -> None:
    await ensure_stream(js, service, max_msg_size=4096)
    big = envelope("b" * 8000, "X")
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await add_to_outbox(session, service, big)
    relay = OutboxRelay(engine, js, service, park_after=2)
    await drain(engine, relay)
    (row,) = await outbox_rows(engine)
    assert row["parked_at"] is not None and row["published_at"] is None

    # The operator raises the stream's limit, then retries: the row is published.
    await ensure_stream(js, service, max_msg_size=stream_max_msg_size())
    assert await retry_parked(engine, service, big.event_id) == 1
    assert await retry_parked(engine, service, big.event_id) == 0  # no longer parked
    await drain(engine, relay)
    (row,) = await outbox_rows(engine)
    assert row["published_at"] is not None and row["parked_at"] is None
    (msg,) = await stream_messages(js, stream_name(service))
    assert msg.headers["Nats-Msg-Id"] == big.event_id


# ------------------------------------------------------------------- configuration


async def test_the_event_limit_is_configured_and_checked_against_the_nats_server(infra, engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    env = {"PEONY_MEMBERS_DATABASE_URL": url, "PEONY_NATS_URL": infra.nats_url}
    assert load_config("members", env).max_event_bytes == 0  # the kit's default
    assert load_config("members", {**env, "PEONY_MAX_EVENT_BYTES": "4096"}).max_event_bytes == 4096
    with pytest.raises(ConfigError, match="PEONY_MAX_EVENT_BYTES=100 is outside"):
        load_config("members", {**env, "PEONY_MAX_EVENT_BYTES": "100"})
    # 2 MiB events cannot pass a server with the default 1 MiB max_payload: refuse to start.
    too_big = load_config("members", {**env, "PEONY_MAX_EVENT_BYTES": str(2 * 1024 * 1024)})
    with pytest.raises(ConfigError, match="max_payload"):
        await open_backbone(too_big, "members")
