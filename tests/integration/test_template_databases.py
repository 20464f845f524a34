"""Infra.amigrated_database: a clone of a once-migrated template is the migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.migrations import upgrade

pytestmark = pytest.mark.integration

# Everything a migration makes that a test could notice: columns, constraints, indexes, functions,
# triggers, views, the alembic revision.
_SCHEMA = """
SELECT 'col', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
       || ' ' || coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL SELECT 'con', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL SELECT 'idx', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL SELECT 'fn', p.proname || ' ' || md5(pg_get_functiondef(p.oid))
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f'
UNION ALL SELECT 'trg', tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'view', viewname || ' ' || md5(definition) FROM pg_views WHERE schemaname = 'public'
UNION ALL SELECT 'rev', version_num FROM alembic_version
ORDER BY 1, 2
"""


async def _schema(url: str) -> list[tuple[str, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(_SCHEMA))]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", ["members", "wallet", "booking"])
async def test_a_clone_has_the_schema_migrating_makes(infra, service):
    fresh = to_async_url(await infra.anew_database(f"fresh_{service}"))
    await upgrade(service, fresh)
    first = to_async_url(await infra.amigrated_database(service, f"clone_{service}"))
    second = to_async_url(await infra.amigrated_database(service, f"clone_{service}"))
    expected = await _schema(fresh)
    assert len(expected) > 20
    assert await _schema(first) == expected
    assert await _schema(second) == expected

    # Clones are independent databases: what one test writes, the next does not see.
    one = create_async_engine(first)
    try:
        async with one.begin() as conn:
            await conn.execute(text("CREATE TABLE scratch (x int)"))
    finally:
        await one.dispose()
    assert await _schema(second) == expected
    assert ("col", "scratch.x integer YES ") in await _schema(first)
