"""Composition root of the members service: wires adapters, handlers and the gRPC server."""

from __future__ import annotations

from datetime import timedelta

from peony.members.v1 import members_service_pb2, members_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.idempotency import Idempotency
from kit.messaging import ensure_stream
from kit.messaging.invalidation import StreamInvalidator
from kit.service import open_backbone, page_tokens, run_service
from kit.uow import UnitOfWorkFactory
from services.members.adapters.audit import PiiAuditTrail
from services.members.adapters.tables import metadata
from services.members.adapters.wallet_client import WalletClient
from services.members.entrypoints.consumers import (
    BOOKING_STREAM_SERVICE,
    WALLET_STREAM_SERVICE,
    booking_visits_consumer,
    engagement_facts_consumer,
    wallet_events_consumer,
)
from services.members.entrypoints.grpc_imports import ImportServicer
from services.members.entrypoints.grpc_servicer import MembersServicer
from services.members.entrypoints.jobs import TierAnniversaryWorker, TierReevaluationWorker
from services.members.service_layer import programme_settings
from services.members.service_layer.birthday import BirthdaySettings, BirthdayWorker
from services.members.service_layer.campaigns import (
    CampaignWorker,
    sms_price_from_env,
    throttle_window_from_env,
)
from services.members.service_layer.imports import ImportWorker
from services.members.service_layer.lapse import LapseSettings, LapseWorker
from services.members.service_layer.lapse_risks import LapseRiskReads
from services.members.service_layer.membership_anniversary import AnniversarySettings, AnniversaryWorker
from services.members.service_layer.queries import MembersQueries
from services.members.service_layer.segments import SegmentReads
from services.members.service_layer.unit_of_work import MembersUnitOfWork

SERVICE = "members"
# How often each replica looks for members due for their tier anniversary review.
TIER_REVIEW_INTERVAL_VAR = "PEONY_MEMBERS_TIER_REVIEW_INTERVAL_SECONDS"
# The anniversary programme's tick on each replica and its members per transaction (small batches
# let the SIGKILL test land its kill mid-run).
ANNIVERSARY_INTERVAL_VAR = "PEONY_MEMBERS_ANNIVERSARY_INTERVAL_SECONDS"
ANNIVERSARY_BATCH_VAR = "PEONY_MEMBERS_ANNIVERSARY_BATCH_SIZE"
# How often each replica looks for campaigns to start or send (the throttle is per minute).
CAMPAIGN_INTERVAL_VAR = "PEONY_MEMBERS_CAMPAIGN_INTERVAL_SECONDS"
# The ImportService's worker: how often each replica looks for an import to run, and the lease an
# import is held under (another replica resumes it once the lease ran out: its worker died).
IMPORT_INTERVAL_VAR = "PEONY_MEMBERS_IMPORT_INTERVAL_SECONDS"
IMPORT_LEASE_VAR = "PEONY_MEMBERS_IMPORT_LEASE_SECONDS"
# Rows per batch (one members transaction, one wallet call, one progress commit).
IMPORT_BATCH_VAR = "PEONY_MEMBERS_IMPORT_BATCH_ROWS"
# Attempts in a row without a committed batch before an import fails, and the first backoff.
IMPORT_MAX_ATTEMPTS_VAR = "PEONY_MEMBERS_IMPORT_MAX_ATTEMPTS"
IMPORT_RETRY_BACKOFF_VAR = "PEONY_MEMBERS_IMPORT_RETRY_BACKOFF_SECONDS"
# How long an upload is kept when no import finishes with it.
IMPORT_RETENTION_VAR = "PEONY_MEMBERS_IMPORT_UPLOAD_RETENTION_HOURS"
FULL_NAME = members_service_pb2.DESCRIPTOR.services_by_name["MembersService"].full_name
IMPORT_FULL_NAME = members_service_pb2.DESCRIPTOR.services_by_name["ImportService"].full_name


def _bounded_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer {low}-{high}, got {raw!r}")
    return int(raw)


async def build(config: ServiceConfig) -> GrpcServiceRunner:
    backbone = await open_backbone(config, SERVICE, pool_size=20)
    cipher = PiiCipher(config.pii_master_key)
    audit = PiiAuditTrail(backbone.engine)
    queries = MembersQueries(backbone.engine, cipher, audit)
    uows = UnitOfWorkFactory(
        MembersUnitOfWork,
        session_factory(backbone.engine),
        service=SERVICE,
        after_commit=queries.invalidate_committed,  # this replica reads its own writes at once
        cipher=cipher,
    )
    # Campaign rewards: members asks the wallet (as itself) whether a voucher template is usable.
    wallet = WalletClient.from_config(config)
    lapse_settings = LapseSettings.from_env(config.extra)
    anniversary_settings = AnniversarySettings.from_env(config.extra)
    programme_defaults = programme_settings.defaults_from(anniversary_settings, lapse_settings)
    servicer = MembersServicer(
        uows,
        queries,
        Idempotency(cipher, metadata),
        page_tokens(config, SERVICE),
        SegmentReads(backbone.engine, cipher),
        sms_price_from_env(config.extra),
        wallet=wallet,
        lapse_risks=LapseRiskReads(backbone.engine, cipher, programme_defaults),
        programme_defaults=programme_defaults,
    )
    # Other replicas' writes evict this replica's read caches through our own event stream.
    invalidator = StreamInvalidator(
        backbone.js, SERVICE, on_event=queries.invalidate_from_event, on_reset=queries.reset_caches
    )
    # Checkouts drive tier upgrades and referral rewards. The wallet stream is the wallet's own;
    # creating it here (idempotent, same settings) lets members start first.
    await ensure_stream(backbone.js, WALLET_STREAM_SERVICE)
    wallet_consumer = wallet_events_consumer(backbone.engine, backbone.js, **config.consumer.options())
    # Last visit and balances for segments (member_activity).
    engagement_consumer = engagement_facts_consumer(backbone.engine, backbone.js, **config.consumer.options())
    # A completed appointment is a visit too (booking's stream, created here if booking is not up yet).
    await ensure_stream(backbone.js, BOOKING_STREAM_SERVICE)
    booking_visits = booking_visits_consumer(backbone.engine, backbone.js, **config.consumer.options())
    tier_jobs = TierReevaluationWorker(backbone.engine, uows)
    tier_reviews = TierAnniversaryWorker(
        backbone.engine, uows, interval_s=float(config.extra.get(TIER_REVIEW_INTERVAL_VAR) or 60.0)
    )
    birthdays = BirthdayWorker(backbone.engine, uows, cipher, BirthdaySettings.from_env(config.extra))
    anniversaries = AnniversaryWorker(
        backbone.engine,
        uows,
        anniversary_settings,
        interval_s=float(config.extra.get(ANNIVERSARY_INTERVAL_VAR) or 60.0),
        batch=_bounded_int(config.extra.get(ANNIVERSARY_BATCH_VAR), ANNIVERSARY_BATCH_VAR, 500, 1, 5000),
    )
    lapses = LapseWorker(backbone.engine, uows, lapse_settings)
    campaign_sender = CampaignWorker(
        backbone.engine,
        uows,
        cipher,
        interval_s=float(config.extra.get(CAMPAIGN_INTERVAL_VAR) or 5.0),
        send_interval=throttle_window_from_env(config.extra),
    )
    imports = ImportServicer(
        uows,
        Idempotency(cipher, metadata),
        page_tokens(config, SERVICE),
        retention=timedelta(hours=float(config.extra.get(IMPORT_RETENTION_VAR) or 72)),
    )
    # Members writes the wallet's opening balances through the wallet, as itself with `importer`.
    import_worker = ImportWorker(
        backbone.engine,
        uows,
        cipher,
        wallet,
        interval_s=float(config.extra.get(IMPORT_INTERVAL_VAR) or 1.0),
        lease_s=float(config.extra.get(IMPORT_LEASE_VAR) or 30.0),
        batch_rows=max(1, min(1000, int(config.extra.get(IMPORT_BATCH_VAR) or 500))),
        max_attempts=max(1, min(100, int(config.extra.get(IMPORT_MAX_ATTEMPTS_VAR) or 5))),
        retry_backoff_s=float(config.extra.get(IMPORT_RETRY_BACKOFF_VAR) or 10.0),
    )
    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, members_service_pb2_grpc.add_MembersServiceServicer_to_server, servicer
            ),
            ServiceRegistration(
                IMPORT_FULL_NAME, members_service_pb2_grpc.add_ImportServiceServicer_to_server, imports
            ),
        ],
        verifier=TokenVerifier(config.auth),
        workers=[
            invalidator,
            backbone.relay,
            wallet_consumer,
            tier_jobs,
            tier_reviews,
            birthdays,
            lapses,
            anniversaries,
            campaign_sender,
            engagement_consumer,
            import_worker,
            booking_visits,
            audit,
            backbone.retention,
        ],
        on_close=[backbone.close, wallet.close],
    )


def main() -> int:
    return run_service(SERVICE, build)
