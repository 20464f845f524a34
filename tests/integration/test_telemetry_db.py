"""SQL spans against real PostgreSQL: statements with placeholders, no values, scrubbed errors."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.telemetry import instrument_sqlalchemy

pytestmark = pytest.mark.integration


@pytest.fixture
def memory_tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_sql_spans_carry_placeholders_and_scrubbed_errors(infra, memory_tracing):
    provider, exporter = memory_tracing
    engine = create_async_engine(to_async_url(await infra.anew_database("telemetry")))
    instrument_sqlalchemy(engine, tracer_provider=provider)
    instrument_sqlalchemy(engine, tracer_provider=provider)  # idempotent: still one span per query
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE people (phone text PRIMARY KEY, amount int)"))
            await conn.execute(
                text("INSERT INTO people VALUES (:phone, :amount)"), {"phone": "13800138000", "amount": 4242}
            )
        exporter.clear()
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT phone, amount FROM people WHERE phone = :phone"), {"phone": "13800138000"}
                )
            ).one()
        assert tuple(row) == ("13800138000", 4242)
        (span,) = [s for s in exporter.get_finished_spans() if "SELECT" in s.name]
        statement = span.attributes.get("db.statement") or span.attributes.get("db.query.text")
        assert statement == "SELECT phone, amount FROM people WHERE phone = $1"
        assert span.attributes.get("db.system") == "postgresql"
        values = " ".join(str(v) for v in span.attributes.values())
        assert "13800138000" not in values and "4242" not in values
        assert "/*" not in statement  # no sqlcommenter

        # PostgreSQL puts the conflicting key into the error DETAIL; the span must not carry it.
        exporter.clear()
        with pytest.raises(exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO people VALUES (:phone, 1)"), {"phone": "13800138000"})
        (span,) = [s for s in exporter.get_finished_spans() if "INSERT" in s.name]
        assert span.status.status_code is StatusCode.ERROR
        assert "13800138000" not in (span.status.description or "")
        for event in span.events:
            assert "13800138000" not in str(dict(event.attributes or {}))
    finally:
        await engine.dispose()
