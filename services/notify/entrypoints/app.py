"""Composition root of the notify service: wires the sink, consumers, outbox relay and gRPC server."""

from __future__ import annotations

import hashlib

from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.db import create_engine
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.messaging import OutboxRelay, connect, ensure_stream
from kit.pagination import PageTokens
from kit.service import run_service
from kit.telemetry import instrument_sqlalchemy
from services.notify.entrypoints.consumers import MEMBERS_STREAM_SERVICE, members_events_consumer
from services.notify.entrypoints.grpc_servicer import NotifyServicer
from services.notify.service_layer.queries import NotifyQueries
from services.notify.settings import notify_settings, open_sink

SERVICE = "notify"
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    sink = open_sink(notify_settings(config))
    engine = create_engine(config.database_url, service=SERVICE)
    instrument_sqlalchemy(engine)
    page_secret = hashlib.sha256(b"peony-page-tokens|notify|" + config.pii_master_key).digest()
    servicer = NotifyServicer(NotifyQueries(engine), PageTokens(page_secret))

    nc, js = await connect(config.nats_url, name=f"peony-{SERVICE}")
    await ensure_stream(js, SERVICE)
    # The members stream belongs to members, but creating it here (same kit settings, idempotent)
    # lets notify start first without its consumer failing on a missing stream.
    await ensure_stream(js, MEMBERS_STREAM_SERVICE)
    relay = OutboxRelay(engine, js, SERVICE)
    consumer = members_events_consumer(engine, js, sink)

    async def close_nats() -> None:
        await nc.drain()

    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, servicer
            )
        ],
        verifier=TokenVerifier(config.auth),
        # Started in this order, stopped in reverse: the consumer finishes (commits) its in-flight
        # events before the relay publishes the last outbox rows and stops.
        workers=[relay, consumer],
        on_close=[close_nats, engine.dispose, sink.close],
    )


def main() -> int:
    return run_service(SERVICE, build)
