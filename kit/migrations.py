"""Alembic migrations, one history per service, runnable at start or as `peony migrate <svc>`.

Each service keeps `services/<svc>/migrations/` (env.py + versions/). Upgrades run on a
connection we open ourselves, under a PostgreSQL advisory lock, so several replicas starting at
once (or a Job racing a Deployment) migrate exactly once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from kit.logging import get_logger

log = get_logger("peony.migrations")


def alembic_config(service: str, url: str | None = None) -> Config:
    root = Path(__file__).resolve().parent.parent / "services" / service / "migrations"
    if not root.is_dir():
        raise FileNotFoundError(f"no migrations for service {service!r} at {root}")
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(root / "versions"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _lock_id(service: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(f"migrate:{service}".encode(), digest_size=8).digest(), "big", signed=True
    )


async def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(service)})
            try:

                def run(sync_conn: Connection) -> None:
                    cfg = alembic_config(service)
                    cfg.attributes["connection"] = sync_conn
                    command.upgrade(cfg, revision)

                await conn.run_sync(run)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(service)})
                await conn.commit()
        log.info("migrations applied", service=service, revision=revision)
    finally:
        await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        # `alembic` CLI use (e.g. autogenerate while developing): build a sync-over-async engine.
        import asyncio

        url = context.config.get_main_option("sqlalchemy.url")

        async def offline() -> None:
            engine = create_async_engine(url)
            async with engine.connect() as conn:
                await conn.run_sync(_configure_and_run, metadata)
                await conn.commit()
            await engine.dispose()

        asyncio.run(offline())
    else:
        _configure_and_run(connection, metadata)


def _configure_and_run(connection: Connection, metadata: MetaData) -> None:
    from alembic import context

    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
