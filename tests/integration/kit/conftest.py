"""Fixtures for the messaging kit's integration tests: a fresh database with the kit tables, a NATS
connection, unique service names (so each test has its own streams) and an in-memory span exporter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.config import to_async_url
from kit.messaging import connect, inbox_table, outbox_table
from tests.support.stack import Infra


@pytest.fixture
async def engine(infra: Infra) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding ``outbox`` and ``inbox`` (as a service migration makes them)."""
    url = await infra.anew_database("messaging")
    eng = create_async_engine(to_async_url(url), pool_size=10, max_overflow=10)
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def nats_js(infra: Infra) -> AsyncIterator[tuple[NATS, JetStreamContext]]:
    nc, js = await connect(infra.nats_url, "kit-tests")
    try:
        yield nc, js
    finally:
        await nc.close()


@pytest.fixture
def js(nats_js: tuple[NATS, JetStreamContext]) -> JetStreamContext:
    return nats_js[1]


@pytest.fixture
def service() -> str:
    """A service name of its own, so the test's stream (PEONY_<SERVICE>) is fresh."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every finished span of the session (tests filter by trace id)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another non-SDK tracer provider was installed first"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
