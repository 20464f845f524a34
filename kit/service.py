"""How every Peony service process starts: config, logging, telemetry, migrations, serve."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.config import ConfigError, ServiceConfig, load_config
from kit.db import create_engine
from kit.grpc_server import GrpcServiceRunner
from kit.logging import configure_logging, get_logger
from kit.messaging import OutboxRelay, connect, ensure_stream
from kit.messaging.outbox import DEFAULT_MAX_EVENT_BYTES, set_max_event_bytes
from kit.messaging.streams import stream_max_msg_size
from kit.migrations import upgrade
from kit.pagination import PageTokens
from kit.retention import RetentionWorker
from kit.telemetry import configure_telemetry, instrument_sqlalchemy

Builder = Callable[[ServiceConfig], Awaitable[GrpcServiceRunner]]


@dataclass
class Backbone:
    """What every service process opens: its database, NATS JetStream with its own stream, the
    outbox relay that publishes its events, and retention of the kit's bookkeeping tables."""

    engine: AsyncEngine
    nc: NATS
    js: JetStreamContext
    relay: OutboxRelay
    retention: RetentionWorker

    async def close(self) -> None:
        await self.nc.drain()
        await self.engine.dispose()


async def open_backbone(config: ServiceConfig, service: str, *, pool_size: int | None = None) -> Backbone:
    """``pool_size`` is the service's default (else ``kit.config.DEFAULT_DB_POOL_SIZES``, which the
    admission bound is derived from: keep them equal); PEONY_DB_POOL_SIZE overrides it."""
    engine = create_engine(
        config.database_url,
        service=service,
        pool_size=config.db_pool_size or pool_size or config.effective_db_pool_size,
        max_overflow=config.db_max_overflow,
        statement_timeout_ms=config.db_statement_timeout_ms,
        pool_timeout_s=config.db_pool_timeout_s,
        pool_recycle_s=config.db_pool_recycle_s,
        pgbouncer=config.db_pgbouncer,
    )
    instrument_sqlalchemy(engine)
    nc, js = await connect(config.nats_url, name=f"peony-{service}", settings=config.nats)
    # No accepted request may produce an event its stream or the NATS server would refuse.
    max_event = config.max_event_bytes or DEFAULT_MAX_EVENT_BYTES
    max_msg = stream_max_msg_size(max_event)
    if max_msg > nc.max_payload:
        await nc.close()
        await engine.dispose()
        raise ConfigError(
            [
                f"PEONY_MAX_EVENT_BYTES={max_event} plus {max_msg - max_event} bytes of headroom exceeds "
                f"the NATS server's max_payload ({nc.max_payload}); lower it or raise max_payload"
            ]
        )
    set_max_event_bytes(service, max_event)
    await ensure_stream(js, service, max_msg_size=max_msg, replicas=config.nats.stream_replicas)
    relay = OutboxRelay(
        engine,
        js,
        service,
        max_payload=nc.max_payload,
        listen_url=config.database_session_url or None,
    )
    return Backbone(engine, nc, js, relay, RetentionWorker(engine))


def page_tokens(config: ServiceConfig, service: str) -> PageTokens:
    """Page-token signer for one service, keyed off the deployment's master secret."""
    return PageTokens(
        hashlib.sha256(f"peony-page-tokens|{service}|".encode() + config.pii_master_key).digest()
    )


def run_service(service: str, build: Builder) -> int:
    """`peony serve <service>`: returns the process exit code."""
    try:
        config = load_config(service)
    except ConfigError as exc:
        print(f"peony {service}: {exc}", file=sys.stderr)
        return 2
    configure_logging(service, config.log_level, config.log_format)
    try:
        telemetry = configure_telemetry(service, config.version)
    except ValueError as exc:  # an OTEL_* setting we cannot honour
        print(f"peony {service}: {exc}", file=sys.stderr)
        return 2
    log = get_logger("peony.service")

    async def main() -> None:
        if config.migrate_on_start and config.database_url:  # insights has no PostgreSQL
            await upgrade(service, config.session_database_url)
        runner = await build(config)
        # What start-up built (modules, descriptors, compiled SQL, pools) lives as long as the
        # process: moving it out of the collector's view keeps full collections short, instead
        # of stalling every request in flight for tens of milliseconds each time one runs.
        gc.collect()
        gc.freeze()

        async def flush_telemetry() -> None:
            await asyncio.to_thread(telemetry.shutdown)

        runner.on_close.append(flush_telemetry)
        await runner.run_until_signalled()

    try:
        asyncio.run(main())
    except Exception:
        log.exception("service failed", service=service)
        return 1
    return 0


def migrate(service: str) -> int:
    """`peony migrate <service>`: what a Kubernetes Job runs before a rollout."""
    try:
        config = load_config(service)
    except ConfigError as exc:
        print(f"peony migrate {service}: {exc}", file=sys.stderr)
        return 2
    configure_logging(service, config.log_level, config.log_format)
    asyncio.run(upgrade(service, config.session_database_url))
    return 0
