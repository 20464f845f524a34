"""Composition root of the members service: wires adapters, handlers and the gRPC server."""

from __future__ import annotations

import hashlib

from peony.members.v1 import members_service_pb2, members_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.crypto import PiiCipher
from kit.db import create_engine, session_factory
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.idempotency import Idempotency
from kit.messaging import OutboxRelay, connect, ensure_stream
from kit.messaging.invalidation import StreamInvalidator
from kit.pagination import PageTokens
from kit.retention import RetentionWorker
from kit.service import run_service
from kit.telemetry import instrument_sqlalchemy
from kit.uow import UnitOfWorkFactory
from services.members.adapters.audit import PiiAuditTrail
from services.members.adapters.tables import metadata
from services.members.entrypoints.grpc_servicer import MembersServicer
from services.members.service_layer.queries import MembersQueries
from services.members.service_layer.unit_of_work import MembersUnitOfWork

SERVICE = "members"
FULL_NAME = members_service_pb2.DESCRIPTOR.services_by_name["MembersService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    engine = create_engine(config.database_url, service=SERVICE, pool_size=20)
    instrument_sqlalchemy(engine)
    cipher = PiiCipher(config.pii_master_key)
    audit = PiiAuditTrail(engine)
    queries = MembersQueries(engine, cipher, audit)
    uows = UnitOfWorkFactory(
        MembersUnitOfWork,
        session_factory(engine),
        service=SERVICE,
        after_commit=queries.invalidate_committed,
        cipher=cipher,
    )
    page_secret = hashlib.sha256(b"peony-page-tokens|" + config.pii_master_key).digest()
    servicer = MembersServicer(uows, queries, Idempotency(cipher, metadata), PageTokens(page_secret))

    nc, js = await connect(config.nats_url, name=f"peony-{SERVICE}")
    await ensure_stream(js, SERVICE)
    relay = OutboxRelay(engine, js, SERVICE)
    # Other replicas' writes evict this replica's read caches through our own event stream.
    invalidator = StreamInvalidator(
        js, SERVICE, on_event=queries.invalidate_from_event, on_reset=queries.reset_caches
    )

    async def close_nats() -> None:
        await nc.drain()

    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, members_service_pb2_grpc.add_MembersServiceServicer_to_server, servicer
            )
        ],
        verifier=TokenVerifier(config.auth),
        workers=[invalidator, relay, audit, RetentionWorker(engine)],
        on_close=[close_nats, engine.dispose],
    )


def main() -> int:
    return run_service(SERVICE, build)
