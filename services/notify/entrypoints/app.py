"""Composition root of the notify service: wires the sink, consumers, outbox relay and gRPC server."""

from __future__ import annotations

from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.messaging import ensure_stream
from kit.service import open_backbone, page_tokens, run_service
from services.notify.entrypoints.consumers import MEMBERS_STREAM_SERVICE, members_events_consumer
from services.notify.entrypoints.grpc_servicer import NotifyServicer
from services.notify.service_layer.queries import NotifyQueries
from services.notify.settings import notify_settings, open_sink

SERVICE = "notify"
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    sink = open_sink(notify_settings(config))
    backbone = await open_backbone(config, SERVICE)
    servicer = NotifyServicer(NotifyQueries(backbone.engine), page_tokens(config, SERVICE))
    # The members stream belongs to members, but creating it here (same kit settings, idempotent)
    # lets notify start first without its consumer failing on a missing stream.
    await ensure_stream(backbone.js, MEMBERS_STREAM_SERVICE)
    consumer = members_events_consumer(backbone.engine, backbone.js, sink)
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
        workers=[backbone.relay, consumer, backbone.retention],
        on_close=[backbone.close, sink.close],
    )


def main() -> int:
    return run_service(SERVICE, build)
