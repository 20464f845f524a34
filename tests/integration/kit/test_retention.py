"""Retention purges only rows past their keep time."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.config import to_async_url
from kit.db import kit_metadata_tables
from kit.retention import RetentionWorker

pytestmark = pytest.mark.integration


async def test_retention_removes_only_expired_rows(infra):
    engine = create_async_engine(to_async_url(await infra.anew_database("retention")))
    metadata = MetaData()
    kit_metadata_tables(metadata)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for days, rid in ((40, "old"), (1, "new")):
                await conn.execute(
                    text(
                        "INSERT INTO idempotency_keys"
                        " (tenant_id, method, request_id, request_hash, response, created_at)"
                        " VALUES ('t', 'M', :rid, '\\x00', '\\x00', now() - make_interval(days => :days))"
                    ),
                    {"rid": rid, "days": days},
                )
                await conn.execute(
                    text(
                        "INSERT INTO inbox (consumer, event_id, processed_at)"
                        " VALUES ('c', gen_random_uuid(), now() - make_interval(days => :days))"
                    ),
                    {"days": days},
                )
        removed = await RetentionWorker(engine).run_once()
        assert removed == {"outbox": 0, "inbox": 1, "idempotency_keys": 1}
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT request_id FROM idempotency_keys"))).scalars().all()
            assert left == ["new"]
            assert (await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == 1
    finally:
        await engine.dispose()
