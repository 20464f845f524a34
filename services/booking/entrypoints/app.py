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
from kit.members_client import members_read_through
from kit.messaging import ensure_stream
from kit.service import open_backbone, page_tokens, run_service
from kit.service_auth import ServiceCredentials
from kit.uow import UnitOfWorkFactory
from services.booking.adapters.tables import metadata
from services.booking.adapters.wallet_client import DEFAULT_DEADLINE_S, WalletClient
from services.booking.entrypoints.consumers import members_events_consumer
from services.booking.entrypoints.grpc_servicer import BookingServicer
from services.booking.entrypoints.jobs import BookingJobs
from services.booking.service_layer.config_cache import ConfigCache
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

SERVICE = "booking"
# How often the durable scheduler looks for due reminders (seconds).
JOBS_INTERVAL_VAR = "PEONY_BOOKING_JOBS_INTERVAL_SECONDS"
# Deadline of each call to the wallet (holds), seconds.
WALLET_DEADLINE_VAR = "PEONY_BOOKING_WALLET_DEADLINE_SECONDS"
FULL_NAME = booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    backbone = await open_backbone(config, SERVICE, pool_size=20)
    cipher = PiiCipher(config.pii_master_key)  # seals idempotent responses
    # Holds: booking calls the wallet as itself (kit/service_auth.py), with the request's tenant.
    wallet = WalletClient(
        config.service_addrs["wallet"],
        ServiceCredentials.from_config(config),
        deadline_s=float(config.extra.get(WALLET_DEADLINE_VAR) or DEFAULT_DEADLINE_S),
        channel_settings=config.grpc_channel,
    )
    # Read-through on a projection miss: booking asks members as itself, like the wallet.
    members_client = members_read_through(config, SERVICE)
    uows = UnitOfWorkFactory(
        BookingUnitOfWork,
        session_factory(backbone.engine),
        service=SERVICE,
        wallet=wallet,
        members_client=members_client,
        # The policy, zones and services bookings plan from, versioned (config_cache.py).
        config_cache=ConfigCache(),
    )
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
            members_events_consumer(backbone.engine, backbone.js, **config.consumer.options()),
            backbone.retention,
            jobs,
        ],
        on_close=[backbone.close, wallet.close, *([members_client.close] if members_client else [])],
    )


def main() -> int:
    return run_service(SERVICE, build)
