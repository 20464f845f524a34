"""Composition root of the insights service: ClickHouse (chDB or a server), consumers, gRPC.

PEONY_CLICKHOUSE_URL        a ClickHouse server (http[s]://user:password@host:8123/database);
                            unset: chDB in-process
PEONY_INSIGHTS_DATA_DIR     chDB's data directory (default var/insights/chdb)
"""

from __future__ import annotations

from dataclasses import dataclass

from peony.insights.v1 import insights_service_pb2, insights_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.messaging import connect, ensure_stream
from kit.service import page_tokens, run_service
from services.insights.adapters.schema import migrate
from services.insights.adapters.warehouse import Warehouse, open_warehouse
from services.insights.entrypoints.consumers import SERVICE, STREAMS, fact_consumers
from services.insights.entrypoints.grpc_servicer import InsightsServicer
from services.insights.entrypoints.sink import FactSink
from services.insights.service_layer.queries import MetricQueries

FULL_NAME = insights_service_pb2.DESCRIPTOR.services_by_name["InsightsService"].full_name
DEFAULT_DATA_DIR = "var/insights/chdb"


@dataclass(frozen=True)
class InsightsSettings:
    clickhouse_url: str
    data_dir: str
    database: str


def insights_settings(config: ServiceConfig) -> InsightsSettings:
    return InsightsSettings(
        clickhouse_url=config.clickhouse_url,
        data_dir=config.extra.get("PEONY_INSIGHTS_DATA_DIR") or DEFAULT_DATA_DIR,
        database=config.extra.get("PEONY_INSIGHTS_DATABASE") or "peony_insights",
    )


async def open_settings_warehouse(settings: InsightsSettings) -> Warehouse:
    return await open_warehouse(settings.clickhouse_url, settings.data_dir, settings.database)


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    settings = insights_settings(config)
    warehouse = await open_settings_warehouse(settings)
    # chDB's tables live in this process: its DDL always runs here. A server's is applied by
    # `peony migrate insights` (the Kubernetes Job) unless PEONY_MIGRATE_ON_START says otherwise.
    if not settings.clickhouse_url or config.migrate_on_start:
        await migrate(warehouse)
    nc, js = await connect(config.nats_url, name=f"peony-{SERVICE}")
    await ensure_stream(js, SERVICE)  # where its consumers dead-letter
    for stream in STREAMS:  # the producers may start after insights
        await ensure_stream(js, stream)
    consumers = fact_consumers(config, js, FactSink(warehouse))

    async def close() -> None:
        await nc.drain()
        await warehouse.close()

    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME,
                insights_service_pb2_grpc.add_InsightsServiceServicer_to_server,
                InsightsServicer(MetricQueries(warehouse), page_tokens(config, SERVICE)),
            )
        ],
        verifier=TokenVerifier(config.auth),
        workers=[*consumers],
        on_close=[close],
    )


def main() -> int:
    return run_service(SERVICE, build)
