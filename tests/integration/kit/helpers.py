"""Helpers shared by the messaging kit's integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import session_factory
from kit.messaging import add_to_outbox, new_envelope
from kit.messaging.envelope import EventEnvelope


def event(value: str) -> StringValue:
    """The tests' event type: ``google.protobuf.StringValue`` (subject ``peony.<svc>.StringValue``)."""
    return StringValue(value=value)


async def write_events(
    engine: AsyncEngine, service: str, events: list[tuple[str, str]], *, tenant: str = "tenant-1"
) -> list[EventEnvelope]:
    """Commit one envelope per ``(aggregate_id, value)`` through ``add_to_outbox``, in order, in one
    transaction; returns the envelopes."""
    sessions = session_factory(engine)
    envelopes = []
    async with sessions() as session, session.begin():
        for aggregate_id, value in events:
            env = new_envelope(event(value), tenant=tenant, aggregate_type="thing", aggregate_id=aggregate_id)
            await add_to_outbox(session, service, env)
            envelopes.append(env)
    return envelopes


async def stream_messages(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    """Every message in ``stream``, in stream order."""
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        out.append(await js.get_msg(stream, seq))
    return out


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, interval: float = 0.05, what: str = ""
) -> float:
    """Poll ``check`` until it is true; returns the seconds it took. Fails after ``within`` seconds."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(interval)


async def outbox_rows(engine: AsyncEngine) -> list[dict]:
    """The outbox as dicts, in seq order, with ``due_in_s`` = next_attempt_at - now()."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT seq, event_id::text AS event_id, aggregate_id, published_at, attempts, last_error, "
                "rejections, parked_at, "
                "extract(epoch FROM next_attempt_at - now()) AS due_in_s FROM outbox ORDER BY seq"
            )
        )
        return [dict(r._mapping) for r in result]
