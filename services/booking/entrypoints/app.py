"""Composition root of the booking service: wires the catalogue, appointments, the members-events
projection (stores' time zones, members' booking windows), the durable reminder scheduler and the
gRPC server."""

from __future__ import annotations

from peony.booking.v1 import booking_service_pb2, booking_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.idempotency import Idempotency
from kit.messaging import ensure_stream
from kit.service import open_backbone, page_tokens, run_service
from kit.uow import UnitOfWorkFactory
from services.booking.adapters.tables import metadata
from services.booking.entrypoints.consumers import members_events_consumer
from services.booking.entrypoints.grpc_servicer import BookingServicer
from services.booking.entrypoints.jobs import BookingJobs
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

SERVICE = "booking"
# How often the durable scheduler looks for due reminders (seconds).
JOBS_INTERVAL_VAR = "PEONY_BOOKING_JOBS_INTERVAL_SECONDS"
FULL_NAME = booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    backbone = await open_backbone(config, SERVICE, pool_size=20)
    cipher = PiiCipher(config.pii_master_key)  # seals idempotent responses
    uows = UnitOfWorkFactory(BookingUnitOfWork, session_factory(backbone.engine), service=SERVICE)
    servicer = BookingServicer(uows, Idempotency(cipher, metadata), page_tokens(config, SERVICE))
    jobs = BookingJobs(backbone.engine, uows, interval_s=float(config.extra.get(JOBS_INTERVAL_VAR) or 1.0))
    # The members stream may not exist yet when booking starts first.
    await ensure_stream(backbone.js, "members")
    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, booking_service_pb2_grpc.add_BookingServiceServicer_to_server, servicer
            )
        ],
        verifier=TokenVerifier(config.auth),
        workers=[
            backbone.relay,
            members_events_consumer(backbone.engine, backbone.js),
            backbone.retention,
            jobs,
        ],
        on_close=[backbone.close],
    )


def main() -> int:
    return run_service(SERVICE, build)
