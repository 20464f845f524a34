"""Composition root of the notify service: providers, contacts, consumers, dispatcher, relay, gRPC."""

from __future__ import annotations

from peony.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from kit.auth import TokenVerifier
from kit.config import ServiceConfig
from kit.crypto import PiiCipher
from kit.db import session_factory
from kit.grpc_server import GrpcServiceRunner, ServiceRegistration
from kit.idempotency import Idempotency
from kit.messaging import ensure_stream
from kit.service import open_backbone, page_tokens, run_service
from kit.service_auth import ServiceCredentials
from kit.uow import UnitOfWorkFactory
from services.notify.adapters.contacts import NOTIFIER_ROLE, MembersContacts, StaffDirectory
from services.notify.adapters.providers import ProviderRegistry, load_registry
from services.notify.adapters.tables import metadata
from services.notify.entrypoints.consumers import STREAMS, events_consumer
from services.notify.entrypoints.grpc_servicer import NotifyServicer
from services.notify.entrypoints.jobs import DispatchWake, DispatchWorker
from services.notify.service_layer.dispatch import Dispatcher, contact_resolver
from services.notify.service_layer.queries import NotifyQueries
from services.notify.service_layer.receipts import Receipts
from services.notify.service_layer.unit_of_work import NotifyUnitOfWork
from services.notify.settings import notify_settings

SERVICE = "notify"
FULL_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(config: ServiceConfig, *, registry: ProviderRegistry | None = None) -> GrpcServiceRunner:
    """``registry``: the channel providers; from ``PEONY_NOTIFY_PROVIDERS_FILE`` when not given."""
    settings = notify_settings(config)
    registry = registry or load_registry(config)
    staff = StaffDirectory.from_file(settings.staff_contacts_file)
    backbone = await open_backbone(config, SERVICE)
    cipher = PiiCipher(config.pii_master_key)
    # Notify resolves addresses as itself, with the role members requires for ResolveContacts.
    members = MembersContacts(
        config.service_addrs["members"],
        ServiceCredentials.from_config(config, extra_roles=(NOTIFIER_ROLE,)),
        deadline_s=settings.members_deadline_s,
        cache_ttl_s=settings.contact_cache_s,
        cache_entries=settings.contact_cache_entries,
        channel_settings=config.grpc_channel,
    )
    uows = UnitOfWorkFactory(NotifyUnitOfWork, session_factory(backbone.engine), service=SERVICE)
    servicer = NotifyServicer(
        uows,
        Idempotency(cipher, metadata),
        page_tokens(config, SERVICE),
        NotifyQueries(backbone.engine),
        Receipts(backbone.engine, registry),
    )
    dispatcher = Dispatcher(
        backbone.engine,
        registry=registry,
        resolve=contact_resolver(members, staff),
        cipher=cipher,
        settings=settings,
    )
    # The producers' streams may not exist yet when notify starts first (same kit settings).
    for stream in STREAMS:
        await ensure_stream(backbone.js, stream)
    consumers = [
        events_consumer(
            backbone.engine, backbone.js, stream, forget_contact=members.forget, **config.consumer.options()
        )
        for stream in STREAMS
    ]
    # The consumer's commits of new messages wake the dispatch loops (LISTEN on a direct,
    # session-mode connection, as the outbox relay's); without it they only poll.
    wake = None
    if settings.dispatch_wake:
        wake = DispatchWake(config.session_database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    return GrpcServiceRunner(
        config=config,
        registrations=[
            ServiceRegistration(
                FULL_NAME, notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, servicer
            )
        ],
        verifier=TokenVerifier(config.auth),
        # Started in this order, stopped in reverse: the dispatcher and consumers finish (commit)
        # their work in flight before the relay publishes the last outbox rows and stops.
        workers=[
            backbone.relay,
            *consumers,
            # Several loops over one queue: batches overlap (one claims while another waits on
            # the providers and its commits); claims are SKIP LOCKED rows, as between replicas.
            *(
                DispatchWorker(
                    dispatcher,
                    interval_s=settings.dispatch_interval_s,
                    batch=settings.dispatch_batch,
                    wake=wake,
                )
                for _ in range(settings.dispatch_loops)
            ),
            *([wake] if wake is not None else []),
            backbone.retention,
        ],
        on_close=[backbone.close, members.close, registry.aclose],
    )


def main() -> int:
    return run_service(SERVICE, build)
