"""Streams (real JetStream), envelopes and the kit tables' shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf.wrappers_pb2 import Int64Value, StringValue
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData

from kit.messaging import (
    EnvelopeError,
    ensure_stream,
    inbox_table,
    new_envelope,
    outbox_table,
    stream_name,
    subject_for,
    unpack,
)
from kit.messaging.outbox import DEFAULT_MAX_EVENT_BYTES
from kit.messaging.streams import stream_max_msg_size


@pytest.mark.integration
async def test_ensure_stream_creates_then_updates_idempotently(js: JetStreamContext, service: str) -> None:
    await ensure_stream(js, service)
    await ensure_stream(js, service)  # again: no error, no change
    info = await js.stream_info(stream_name(service))
    assert info.config.subjects == [f"peony.{service}.>"]
    assert info.config.storage == StorageType.FILE
    assert info.config.retention == RetentionPolicy.LIMITS
    assert info.config.duplicate_window == 7200
    assert info.config.max_age == 30 * 86400
    # Every event add_to_outbox accepts fits (the relay's headers included), within NATS's 1 MiB.
    assert info.config.max_msg_size == stream_max_msg_size() == 1024 * 1024
    assert stream_max_msg_size() - DEFAULT_MAX_EVENT_BYTES >= 4096

    await ensure_stream(js, service, duplicate_window_s=600, max_msg_size=64 * 1024)
    config = (await js.stream_info(stream_name(service))).config
    assert (config.duplicate_window, config.max_msg_size) == (600, 64 * 1024)
    # Another service making sure the stream exists does not change the owner's limit.
    await ensure_stream(js, service, duplicate_window_s=600)
    assert (await js.stream_info(stream_name(service))).config.max_msg_size == 64 * 1024


def test_envelope_round_trip_and_subject() -> None:
    when = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    event_id = str(uuid.uuid4())
    env = new_envelope(
        StringValue(value="x"),
        tenant="chain-1",
        aggregate_type="member",
        aggregate_id="m-1",
        occurred_at=when,
        event_id=event_id,
    )
    assert env.event_id == event_id
    assert env.event_type == "google.protobuf.StringValue"
    assert (env.tenant, env.aggregate_type, env.aggregate_id) == ("chain-1", "member", "m-1")
    assert env.occurred_at.ToDatetime(tzinfo=UTC) == when
    assert unpack(env, StringValue).value == "x"
    with pytest.raises(EnvelopeError, match=r"not a google\.protobuf\.Int64Value"):
        unpack(env, Int64Value)
    assert subject_for("members", "peony.members.v1.MemberRegistered") == "peony.members.MemberRegistered"
    with pytest.raises(EnvelopeError):
        subject_for("mem.bers", "X")
    uuid.UUID(new_envelope(StringValue(), tenant="t", aggregate_type="a", aggregate_id="1").event_id)


def test_envelope_carries_the_current_trace_context(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer("tests").start_as_current_span("request") as span:
        env = new_envelope(StringValue(), tenant="t", aggregate_type="a", aggregate_id="1")
    ctx = span.get_span_context()
    assert env.trace_parent.startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")


def test_kit_tables_are_declared_once() -> None:
    md = MetaData()
    outbox = outbox_table(md)
    assert outbox_table(md) is outbox
    assert inbox_table(md) is inbox_table(md)
    assert [c.name for c in outbox.primary_key.columns] == ["seq"]
    assert {c.name for c in outbox.columns} == {
        "seq", "event_id", "tenant_id", "aggregate_type", "aggregate_id", "subject", "event_type",
        "payload", "headers", "created_at", "published_at", "attempts", "next_attempt_at", "last_error",
        "rejections", "parked_at",
    }  # fmt: skip
    partial = {ix.name: [c.name for c in ix.columns] for ix in outbox.indexes}
    assert partial == {
        "ix_outbox_unpublished_aggregate": ["aggregate_id", "seq"],
        "ix_outbox_unpublished_seq": ["seq"],
    }
    assert [c.name for c in inbox_table(md).primary_key.columns] == ["consumer", "event_id"]
