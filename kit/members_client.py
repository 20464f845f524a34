"""Read-through to the members service: what a projection needs of one member or store, fetched
when the projection has not seen it yet (a consumer lags a few hundred milliseconds behind a
just-created member or store; docs/architecture.md, "Projections and read-through").

The calling service asks as itself (kit/service_auth.py, role `service`, the tenant of the request
being served), never with its caller's token. The `service` role reads members without personal
data: `GetMember` answers with PII masked, and only the ids, tier and times are kept here. Every
call has a deadline (retries included, never past the deadline of the request being served);
UNAVAILABLE is retried a few times under the target's retry budget (a read, so it is always safe;
`kit.service_auth.call_with_retries`).

`NOT_FOUND` (and `INVALID_ARGUMENT`: an id members would never have issued) is `None` — the
caller turns it into its own NOT_FOUND; anything else is :class:`MembersUnavailable`, so a
request that needs the lookup fails with a retryable UNAVAILABLE rather than a false 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc

from kit.config import ServiceConfig
from kit.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target, error_reason
from kit.ids import is_uuid
from kit.logging import get_logger
from kit.retry import budget_for
from kit.service_auth import ServiceCredentialError, ServiceCredentials, call_with_retries
from kit.telemetry import client_interceptors

log = get_logger("peony.members_client")

DEFAULT_DEADLINE_S = 2.0
DEFAULT_ATTEMPTS = 3
BACKOFF_S = 0.1
# TierBenefits.points_multiplier_permille: "0 is read as 1000 (no bonus)".
NO_BONUS_PERMILLE = 1000
_ABSENT = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


class MembersUnavailable(DomainError):
    """The members service could not confirm a member or store the projection has not seen."""

    code = "UNAVAILABLE"
    default_reason = "MEMBERS_UNAVAILABLE"


@dataclass(frozen=True)
class MemberFacts:
    member_id: str
    home_store_id: str
    tier_id: str
    discount_bps: int
    points_multiplier_permille: int
    booking_window_days: int
    create_time: datetime
    # when the member record last changed: a projection row filled from this snapshot carries it
    # as its version, so an older event delivered later does not take the row back
    update_time: datetime


@dataclass(frozen=True)
class StoreFacts:
    store_id: str
    time_zone: str
    update_time: datetime


def _time(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC) if value.seconds or value.nanos else datetime.now(UTC)


class MembersClient:
    def __init__(
        self,
        target: str,
        credentials: ServiceCredentials,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        channel_settings: ClientChannelSettings | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
    ):
        self.target = target
        self._credentials = credentials
        self._deadline_s = deadline_s
        self._attempts = max(1, attempts)
        # Balanced over every replica of the service (kit/grpc_client.py).
        self._channel = grpc.aio.insecure_channel(
            client_target(target),
            options=client_channel_options(channel_settings),
            interceptors=client_interceptors(target),
        )
        self._retry_budget = budget_for(target)
        self._stub = mpb_grpc.MembersServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def get_member(self, tenant: str, member_id: str) -> MemberFacts | None:
        if not is_uuid(member_id):
            return None  # members issues UUIDs only: nothing to ask
        got = await self._call(
            "GetMember", self._stub.GetMember, tenant, mpb.GetMemberRequest(name=f"members/{member_id}")
        )
        if got is None:
            return None
        m = got.member
        benefits = m.tier.benefits
        create_time = _time(m.create_time)
        return MemberFacts(
            member_id=member_id,
            home_store_id=m.home_store.removeprefix("stores/"),
            tier_id=m.tier.tier_id,
            discount_bps=benefits.discount_bps,
            points_multiplier_permille=benefits.points_multiplier_permille or NO_BONUS_PERMILLE,
            booking_window_days=benefits.booking_window_days,
            create_time=create_time,
            update_time=max(create_time, _time(m.update_time)),
        )

    async def get_store(self, tenant: str, store_id: str) -> StoreFacts | None:
        got = await self._call(
            "GetStore", self._stub.GetStore, tenant, mpb.GetStoreRequest(name=f"stores/{store_id}")
        )
        if got is None:
            return None
        return StoreFacts(
            store_id=store_id, time_zone=got.store.time_zone, update_time=_time(got.store.update_time)
        )

    async def member_of_card(self, tenant: str, card_number: str, field: str = "card_number") -> str:
        """The member id an active card number identifies at the till (members'
        ``FindMemberByCardNumber``: a replaced card's number leads to its replacement, legacy
        numbers count). A lost, frozen or closed card is ``FAILED_PRECONDITION`` with members'
        reason (``CARD_LOST``, ``CARD_FROZEN``, ``CARD_CLOSED``); an unknown number ``NOT_FOUND``
        ``CARD_NOT_FOUND``; members not answering ``UNAVAILABLE``."""
        try:
            metadata = self._credentials.metadata(tenant)
        except ServiceCredentialError as exc:
            raise MembersUnavailable(
                "no credential to reach the members service", reason="NO_SERVICE_CREDENTIAL"
            ) from exc
        try:
            found = await call_with_retries(
                self._stub.FindMemberByCardNumber,
                mpb.FindMemberByCardNumberRequest(card_number=card_number),
                metadata=metadata,
                deadline_s=self._deadline_s,
                attempts=self._attempts,
                backoff_s=BACKOFF_S,
                retryable=lambda exc: exc.code() == grpc.StatusCode.UNAVAILABLE,
                budget=self._retry_budget,
            )
        except grpc.aio.AioRpcError as exc:
            reason = error_reason(exc)
            meta = {"field": field}
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition(
                    f"the card cannot be used: {reason}", reason=reason or "CARD_INACTIVE", metadata=meta
                ) from None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("no card has that number", reason="CARD_NOT_FOUND", metadata=meta) from None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument([(field, "is not a card number")]) from None
            log.warning("members card lookup failed", code=exc.code().name)
            raise MembersUnavailable("the members service did not answer FindMemberByCardNumber") from exc
        return found.member.name.removeprefix("members/")

    async def _call(self, method: str, rpc, tenant: str, request):
        try:
            metadata = self._credentials.metadata(tenant)
        except ServiceCredentialError as exc:
            log.error("no service credential for the members service", tenant=tenant, error=str(exc))
            raise MembersUnavailable(
                "no credential to reach the members service", reason="NO_SERVICE_CREDENTIAL"
            ) from exc
        try:
            return await call_with_retries(
                rpc,
                request,
                metadata=metadata,
                deadline_s=self._deadline_s,
                attempts=self._attempts,
                backoff_s=BACKOFF_S,
                retryable=lambda exc: exc.code() == grpc.StatusCode.UNAVAILABLE,
                budget=self._retry_budget,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _ABSENT:
                return None
            log.warning("members read-through failed", method=method, code=exc.code().name)
            raise MembersUnavailable(f"the members service did not answer {method}") from exc


MAX_CARD_NUMBER = 32


async def member_of_card(
    client: MembersClient | None, tenant: str, card_number: str, field: str = "card_number"
) -> str:
    """:meth:`MembersClient.member_of_card`, after checking the number's shape; a service running
    without members (read-through off) cannot resolve cards: ``UNAVAILABLE``."""
    number = card_number.strip()
    if not number or len(number) > MAX_CARD_NUMBER:
        raise InvalidArgument([(field, f"must be 1-{MAX_CARD_NUMBER} characters")])
    if client is None:
        raise MembersUnavailable("card numbers need the members service", reason="CARD_LOOKUP_UNAVAILABLE")
    return await client.member_of_card(tenant, number, field)


def members_read_through(config: ServiceConfig, service: str) -> MembersClient | None:
    """The read-through client a service's composition root wires into its projections, calling
    ``PEONY_MEMBERS_ADDR`` as ``service`` with a deadline of ``PEONY_<SERVICE>_MEMBERS_DEADLINE_SECONDS``
    (default 2 s). ``PEONY_<SERVICE>_MEMBERS_READ_THROUGH=off`` runs on the projection alone (a
    miss is NOT_FOUND): only for running the service without a members service, e.g. in tests."""
    prefix = f"PEONY_{service.upper()}_MEMBERS_"
    if (config.extra.get(prefix + "READ_THROUGH") or "on").lower() == "off":
        log.warning("members read-through is off: a projection miss is NOT_FOUND", service=service)
        return None
    return MembersClient(
        config.service_addrs["members"],
        ServiceCredentials.from_config(config),
        deadline_s=float(config.extra.get(prefix + "DEADLINE_SECONDS") or DEFAULT_DEADLINE_S),
        channel_settings=config.grpc_channel,
    )
