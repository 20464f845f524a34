"""Seeding the wallet's projections of the members service for tests that run the wallet alone.

The wallet refuses money movements at a store or for a member its projections (fed by members'
events, read through to members on a miss) do not know; tests without a members service write the
projection rows directly.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The stores the wallet tests move money at.
TEST_STORES = ("s1", "s2", "s3", "s5", "s9", "sh", "ny", "loop", "other")


async def seed_stores(conn: AsyncConnection, tenant: str, stores: tuple[str, ...] = TEST_STORES) -> None:
    await conn.execute(
        text(
            "INSERT INTO store_directory (tenant_id, store_id, time_zone)"
            " SELECT :t, unnest(CAST(:s AS text[])), 'Asia/Shanghai' ON CONFLICT DO NOTHING"
        ),
        {"t": tenant, "s": list(stores)},
    )
