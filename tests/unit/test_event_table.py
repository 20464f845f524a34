"""kit.messaging.dispatch.EventTable: a consumer's handler as a table keyed by event type."""

from __future__ import annotations

import pytest
from google.protobuf.wrappers_pb2 import BoolValue, Int64Value, StringValue

from kit.messaging import new_envelope
from kit.messaging.dispatch import EventTable, InvalidEvent


class Refused(InvalidEvent):
    pass


def _table(seen: list) -> EventTable:
    table = EventTable(lambda session, tenant: ("ctx", session, tenant), invalid=Refused)

    @table.on(StringValue)
    async def _string(ctx, envelope, event) -> None:
        seen.append((ctx, envelope.event_id, type(event).__name__, event.value))

    @table.on(Int64Value)
    async def _int(ctx, envelope, event) -> None:
        seen.append((ctx, envelope.event_id, type(event).__name__, event.value))

    return table


async def test_each_event_type_reaches_its_entry_unpacked_with_its_context() -> None:
    seen: list = []
    handler = _table(seen).handler()
    s = new_envelope(StringValue(value="hi"), tenant="t1", aggregate_type="x", aggregate_id="a")
    n = new_envelope(Int64Value(value=7), tenant="t2", aggregate_type="x", aggregate_id="a")
    await handler("session", s)
    await handler("session", n)
    assert seen == [
        (("ctx", "session", "t1"), s.event_id, "StringValue", "hi"),
        (("ctx", "session", "t2"), n.event_id, "Int64Value", 7),
    ]


async def test_an_unknown_type_is_acked_and_a_tenantless_event_is_invalid() -> None:
    seen: list = []
    table = _table(seen)
    other = new_envelope(StringValue(value="x"), tenant="t", aggregate_type="x", aggregate_id="a")
    other.event_type = "peony.other.v1.Unknown"
    await table.apply("session", other)  # nothing to do, no error: the consumer acks it
    no_tenant = new_envelope(StringValue(value="x"), tenant="t", aggregate_type="x", aggregate_id="a")
    no_tenant.tenant = ""  # as a foreign producer could send it
    with pytest.raises(Refused):
        await table.apply("session", no_tenant)
    assert seen == []


def test_the_subjects_come_from_the_table_and_an_event_type_has_one_entry() -> None:
    table = _table([])
    assert table.subjects("members") == ["peony.members.StringValue", "peony.members.Int64Value"]
    with pytest.raises(ValueError, match="already has an entry"):
        table.on(StringValue)(lambda *_: None)


async def test_a_batch_entry_gets_each_tenants_run_unpacked_in_stream_order() -> None:
    seen: list = []
    table = _table(seen)

    @table.on_batch(StringValue)
    async def _strings(ctx, items) -> None:
        seen.append((ctx, [(envelope.event_id, event.value) for envelope, event in items]))

    [handle_many] = table.batch_handlers().values()
    a1, b1, a2 = (
        new_envelope(StringValue(value=v), tenant=t, aggregate_type="x", aggregate_id=v)
        for v, t in (("a1", "ta"), ("b1", "tb"), ("a2", "ta"))
    )
    await handle_many("session", [a1, b1, a2])
    assert seen == [
        (("ctx", "session", "ta"), [(a1.event_id, "a1"), (a2.event_id, "a2")]),
        (("ctx", "session", "tb"), [(b1.event_id, "b1")]),
    ]
    assert list(table.batch_handlers()) == ["google.protobuf.StringValue"]
    no_tenant = new_envelope(StringValue(value="x"), tenant="t", aggregate_type="x", aggregate_id="a")
    no_tenant.tenant = ""
    with pytest.raises(Refused):
        await handle_many("session", [a1, no_tenant])


def test_a_batch_entry_needs_a_per_event_entry_to_fall_back_to() -> None:
    table = _table([])

    @table.on_batch(BoolValue)
    async def _bools(ctx, items) -> None: ...

    with pytest.raises(ValueError, match="without a per-event entry"):
        table.batch_handlers()
