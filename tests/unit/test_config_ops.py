"""Operations settings of kit.config: secrets from files, the session database URL for a
transaction-mode pooler, pool limits, and the connection budget the docs state."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.config import ConfigError, load_config
from kit.db import _server_settings

BASE = {"PEONY_DATABASE_URL": "postgresql://peony@pooler:5432/"}


def test_secrets_are_read_from_files_named_by_the_file_variables(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("a-long-production-secret-from-a-mounted-file\n")
    (tmp_path / "db").write_text("postgresql://peony:pw@pooler:5432/")
    config = load_config(
        "wallet",
        {"PEONY_DATABASE_URL_FILE": str(tmp_path / "db"), "PEONY_JWT_SECRET_FILE": str(tmp_path / "jwt")},
    )
    assert config.auth.hs256_secret == "a-long-production-secret-from-a-mounted-file"
    assert config.database_url == "postgresql+asyncpg://peony:pw@pooler:5432/peony_wallet"


def test_an_unreadable_secret_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PEONY_PII_KEY_FILE"):
        load_config("wallet", {**BASE, "PEONY_PII_KEY_FILE": str(tmp_path / "missing")})


def test_session_url_serves_listen_and_migrations_and_defaults_to_the_database_url() -> None:
    plain = load_config("booking", BASE)
    assert plain.session_database_url == plain.database_url
    pooled = load_config(
        "booking", {**BASE, "PEONY_DATABASE_SESSION_URL": "postgresql://peony@primary:5432/"}
    )
    assert pooled.database_url.startswith("postgresql+asyncpg://peony@pooler")
    assert pooled.session_database_url == "postgresql+asyncpg://peony@primary:5432/peony_booking"
    own = load_config("booking", {**BASE, "PEONY_BOOKING_DATABASE_SESSION_URL": "postgresql://x@y/z"})
    assert own.session_database_url == "postgresql+asyncpg://x@y/z"
    with pytest.raises(ConfigError, match="session database URL"):
        load_config("booking", {**BASE, "PEONY_DATABASE_SESSION_URL": "mysql://x@y/"})


def test_pgbouncer_mode_sends_only_application_name() -> None:
    config = load_config("members", {**BASE, "PEONY_DB_PGBOUNCER": "true"})
    assert config.db_pgbouncer
    assert _server_settings("members", 30_000, pgbouncer=True) == {"application_name": "peony-members"}
    assert "statement_timeout" in _server_settings("members", 30_000)
    with pytest.raises(ConfigError, match="PEONY_DB_PGBOUNCER"):
        load_config("members", {**BASE, "PEONY_DB_PGBOUNCER": "maybe"})


def test_pool_limits_and_the_connection_budget_per_replica() -> None:
    config = load_config(
        "wallet",
        {
            **BASE,
            "PEONY_DB_POOL_SIZE": "8",
            "PEONY_DB_MAX_OVERFLOW": "4",
            "PEONY_DB_HOT_POOL_SIZE": "6",
            "PEONY_DB_POOL_TIMEOUT_SECONDS": "3",
            "PEONY_DB_POOL_RECYCLE_SECONDS": "600",
        },
    )
    assert (config.db_pool_timeout_s, config.db_pool_recycle_s) == (3.0, 600)
    assert config.db_connections_per_replica == 8 + 4 + 6 + 1  # pool, overflow, hot pool, LISTEN
    defaults = load_config("members", BASE)
    assert defaults.db_connections_per_replica == 20 + 20 + 1  # as docs/architecture.md states
    with pytest.raises(ConfigError, match="PEONY_DB_POOL_TIMEOUT_SECONDS"):
        load_config("members", {**BASE, "PEONY_DB_POOL_TIMEOUT_SECONDS": "0"})


def test_the_relay_listens_on_the_session_url_when_one_is_given() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from kit.messaging import OutboxRelay

    engine = create_async_engine("postgresql+asyncpg://peony:pw@pooler:5432/peony_wallet")
    direct = OutboxRelay(engine, None, "wallet")  # type: ignore[arg-type]
    assert direct._listen_dsn() == "postgresql://peony:pw@pooler:5432/peony_wallet"
    pooled = OutboxRelay(
        engine,
        None,  # type: ignore[arg-type]
        "wallet",
        listen_url="postgresql+asyncpg://peony:pw@primary:5432/peony_wallet",
    )
    assert pooled._listen_dsn() == "postgresql://peony:pw@primary:5432/peony_wallet"
