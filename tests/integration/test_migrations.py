"""Each service's migrations build exactly the schema its code declares (no drift)."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.migrations import upgrade

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", ["members", "notify", "wallet", "booking"])
async def test_migrations_match_the_declared_schema(infra, service):
    url = to_async_url(await infra.anew_database(f"drift_{service}"))
    await upgrade(service, url)
    await upgrade(service, url)  # idempotent
    metadata = importlib.import_module(f"services.{service}.adapters.tables").metadata
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    finally:
        await engine.dispose()
    assert diff == []
