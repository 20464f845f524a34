"""Composition root of the wallet service: wires the ledger, handlers, consumers and gRPC server."""

from __future__ import annotations

import hashlib

from peony.wallet.v1 import wallet_service_pb2, wallet_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.idempotency import Idempotency
from kit.members_client import members_read_through
from kit.messaging import ensure_stream
from kit.service import open_backbone, page_tokens, run_service
from kit.uow import UnitOfWorkFactory
from services.wallet.adapters.tables import metadata
from services.wallet.adapters.wallet_apply import WalletApply
from services.wallet.entrypoints.consumers import members_events_consumer
from services.wallet.entrypoints.grpc_servicer import WalletServicer
from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.entrypoints.programme_consumer import programme_consumer
from services.wallet.entrypoints.referral_consumer import referral_consumer
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

SERVICE = "wallet"
# How often each replica looks for members due for the month's free care (service_layer/benefits.py).
FREE_CARE_INTERVAL_VAR = "PEONY_WALLET_FREE_CARE_INTERVAL_SECONDS"
FULL_NAME = wallet_service_pb2.DESCRIPTOR.services_by_name["WalletService"].full_name


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    backbone = await open_backbone(config, SERVICE, pool_size=20)
    cipher = PiiCipher(config.pii_master_key)  # seals idempotent responses
    pin_pepper = hashlib.sha256(b"peony-payment-pin-pepper|" + config.pii_master_key).digest()
    # Read-through on a projection miss: the wallet asks members as itself (kit/service_auth.py).
    members_client = members_read_through(config, SERVICE)
    uows = UnitOfWorkFactory(
        WalletUnitOfWork,
        session_factory(backbone.engine),
        service=SERVICE,
        pin_pepper=pin_pepper,
        members_client=members_client,
    )
    wallet_apply = WalletApply(
        backbone.engine,
        service=SERVICE,
        max_size=config.db_hot_pool_size,
        statement_timeout_ms=config.db_statement_timeout_ms,
        pgbouncer=config.db_pgbouncer,
    )
    servicer = WalletServicer(
        uows, backbone.engine, Idempotency(cipher, metadata), page_tokens(config, SERVICE), wallet_apply
    )
    # The members stream is members' own; creating it here (idempotent, same settings) lets the
    # wallet start first without its projection consumer failing on a missing stream.
    await ensure_stream(backbone.js, "members")
    consumer = members_events_consumer(backbone.engine, backbone.js, **config.consumer.options())
    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, wallet_service_pb2_grpc.add_WalletServiceServicer_to_server, servicer
            )
        ],
        verifier=TokenVerifier(config.auth),
        workers=[
            backbone.relay,
            consumer,
            # grants ReferralRewardEarned
            referral_consumer(backbone.engine, backbone.js, **config.consumer.options()),
            # grants BirthdayBenefitDue (birthday points, once per member and year)
            programme_consumer(backbone.engine, backbone.js, **config.consumer.options()),
            WalletJobs(
                backbone.engine,
                uows,
                free_care_interval_s=float(config.extra.get(FREE_CARE_INTERVAL_VAR) or 300.0),
            ),
            backbone.retention,
        ],
        on_close=[wallet_apply.close, backbone.close, *([members_client.close] if members_client else [])],
    )


def main() -> int:
    return run_service(SERVICE, build)
