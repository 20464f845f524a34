"""kit.db's pools: no reset round trip on release, and pool sizes from PEONY_* variables."""

from __future__ import annotations

import asyncpg
import pytest

from kit.config import ConfigError, load_config
from kit.db import create_pg_pool
from tests.support.stack import Infra

pytestmark = pytest.mark.integration


async def _queries_around_a_release(pool: asyncpg.Pool) -> list[str]:
    """Every query the one connection of ``pool`` sends from one request to the next."""
    seen: list[str] = []

    def logger(record: object) -> None:
        seen.append(record.query)  # type: ignore[attr-defined]

    async with pool.acquire() as conn:
        conn.add_query_logger(logger)
        await conn.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 2")
        conn.remove_query_logger(logger)
    return seen


async def test_a_released_connection_costs_no_reset_round_trip(infra: Infra) -> None:
    url = await infra.anew_database("pgpool")
    # asyncpg's default pool resets on every release (what this helper avoids): the logger sees it.
    plain = await asyncpg.create_pool(url.replace("+asyncpg", ""), min_size=1, max_size=1)
    try:
        assert any("RESET ALL" in q for q in await _queries_around_a_release(plain))
    finally:
        await plain.close()

    pool = await create_pg_pool(url, service="kittest", min_size=1, max_size=1)
    try:
        assert await _queries_around_a_release(pool) == ["SELECT 1", "SELECT 2"]
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "peony-kittest"
            assert await conn.fetchval("SHOW jit") == "off"
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(infra: Infra) -> None:
    url = await infra.anew_database("pgpool")
    pool = await create_pg_pool(url, service="kittest", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (x int)")
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO t VALUES (1)")
        async with pool.acquire() as conn:  # the same connection: nothing of that transaction survives
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await pool.close()


def test_pool_sizes_come_from_peony_variables() -> None:
    base = {"PEONY_DATABASE_URL": "postgresql://peony@db:5432/postgres"}
    assert (load_config("wallet", base).db_pool_size, load_config("wallet", base).db_max_overflow) == (0, 20)
    cfg = load_config("wallet", {**base, "PEONY_DB_POOL_SIZE": "7", "PEONY_DB_MAX_OVERFLOW": "3"})
    assert (cfg.db_pool_size, cfg.db_max_overflow) == (7, 3)
    cfg = load_config("wallet", {**base, "PEONY_DB_POOL_SIZE": "7", "PEONY_WALLET_DB_POOL_SIZE": "40"})
    assert cfg.db_pool_size == 40
    with pytest.raises(ConfigError, match="PEONY_DB_POOL_SIZE"):
        load_config("wallet", {**base, "PEONY_DB_POOL_SIZE": "0"})


async def test_a_statement_past_the_ceiling_is_cancelled_by_postgresql(infra: Infra) -> None:
    url = await infra.anew_database("pgpool")
    pool = await create_pg_pool(url, service="kittest", min_size=1, max_size=1, statement_timeout_ms=200)
    try:
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.exceptions.QueryCanceledError):
                await conn.execute("SELECT pg_sleep(2)")
            assert await conn.fetchval("SELECT 1") == 1  # the connection is fine afterwards
            assert await conn.fetchval("SHOW client_connection_check_interval") == "1s"
    finally:
        await pool.close()


def test_admission_bound_and_statement_timeout_come_from_peony_variables() -> None:
    base = {"PEONY_DATABASE_URL": "postgresql://peony@db:5432/postgres"}
    # Default: two in-flight RPCs per connection the pool may open (size + overflow).
    assert load_config("wallet", base).max_inflight_rpcs == 2 * (20 + 20)
    assert load_config("notify", base).max_inflight_rpcs == 2 * (10 + 20)
    assert load_config(
        "wallet", {**base, "PEONY_DB_POOL_SIZE": "7", "PEONY_DB_MAX_OVERFLOW": "3"}
    ).max_inflight_rpcs == 2 * (7 + 3)
    cfg = load_config(
        "wallet", {**base, "PEONY_MAX_INFLIGHT_RPCS": "5", "PEONY_WALLET_MAX_INFLIGHT_RPCS": "9"}
    )
    assert cfg.max_inflight_rpcs == 9
    assert load_config("members", {**base, "PEONY_MAX_INFLIGHT_RPCS": "5"}).max_inflight_rpcs == 5
    assert load_config("wallet", base).db_statement_timeout_ms == 30_000
    assert (
        load_config("wallet", {**base, "PEONY_DB_STATEMENT_TIMEOUT_MS": "5000"}).db_statement_timeout_ms
        == 5000
    )
    with pytest.raises(ConfigError, match="PEONY_MAX_INFLIGHT_RPCS"):
        load_config("wallet", {**base, "PEONY_MAX_INFLIGHT_RPCS": "0"})


def test_the_hot_path_pool_size_comes_from_peony_variables() -> None:
    base = {"PEONY_DATABASE_URL": "postgresql://peony@db:5432/postgres"}
    assert load_config("wallet", base).db_hot_pool_size == 10
    assert load_config("wallet", {**base, "PEONY_DB_HOT_POOL_SIZE": "4"}).db_hot_pool_size == 4
    cfg = load_config("wallet", {**base, "PEONY_DB_HOT_POOL_SIZE": "4", "PEONY_WALLET_DB_HOT_POOL_SIZE": "6"})
    assert cfg.db_hot_pool_size == 6
    with pytest.raises(ConfigError, match="PEONY_DB_HOT_POOL_SIZE"):
        load_config("wallet", {**base, "PEONY_DB_HOT_POOL_SIZE": "0"})
