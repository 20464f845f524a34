"""How every Peony service process starts: config, logging, telemetry, migrations, serve."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from kit.config import ConfigError, ServiceConfig, load_config
from kit.grpc_server import GrpcServiceRunner
from kit.logging import configure_logging, get_logger
from kit.migrations import upgrade
from kit.telemetry import configure_telemetry

Builder = Callable[[ServiceConfig], Awaitable[GrpcServiceRunner]]


def run_service(service: str, build: Builder) -> int:
    """`peony serve <service>`: returns the process exit code."""
    try:
        config = load_config(service)
    except ConfigError as exc:
        print(f"peony {service}: {exc}", file=sys.stderr)
        return 2
    configure_logging(service, config.log_level, config.log_format)
    telemetry = configure_telemetry(service, config.version)
    log = get_logger("peony.service")

    async def main() -> None:
        if config.migrate_on_start:
            await upgrade(service, config.database_url)
        runner = await build(config)

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
    asyncio.run(upgrade(service, config.database_url))
    return 0
