"""WalletService RPCs of holds (stored value or package sessions reserved for an appointment): a
mixin of WalletServicer (grpc_servicer.py), which supplies `_mutate`, `_read` (kit.servicer) and
`_check_pin`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import parse_path
from services.wallet.entrypoints.mapping import (
    hold_id_of,
    hold_to_proto,
    member_id_of,
    store_id_of,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.service_layer import holds
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

MAX_USE_AHEAD_DAYS = 90  # a hold lives at most 90 days


class HoldsRpc:
    async def AuthorizeHold(self, request: pb.AuthorizeHoldRequest, context) -> pb.AuthorizeHoldResponse:
        h = request.hold
        member_id = member_id_of(h.member, "hold.member")
        store_id = store_id_of(h.store, "hold.store")
        caller = current_principal()
        # The hold expires exactly when asked (e.g. an appointment's end + grace), within 90 days.
        expire_time = h.expire_time.ToDatetime(UTC) if h.HasField("expire_time") else None
        ttl = 0
        if expire_time is not None:
            ttl = max(1, int((expire_time - datetime.now(UTC)).total_seconds() // 60))
            if expire_time <= datetime.now(UTC):
                raise InvalidArgument([("hold.expire_time", "must be in the future")])
        use_time = h.use_time.ToDatetime(UTC) if h.HasField("use_time") else None
        if holds.reserves_sessions(package=h.package, service=h.service, sessions=h.sessions):
            return await self._authorize_session_hold(
                request, member_id, store_id, ttl, expire_time, use_time
            )
        if use_time is not None:
            raise InvalidArgument([("hold.use_time", "only for a hold of package sessions")])
        await self._check_pin(member_id, request.payment_pin, store_id=store_id, store_field="hold.store")

        async def effect(uow: WalletUnitOfWork) -> pb.AuthorizeHoldResponse:
            hold, currency = await holds.authorize_stored_value(
                uow,
                caller,
                member_id=member_id,
                store_id=store_id,
                amount=h.amount_minor,
                currency=h.currency_code,
                reference=h.reference,
                ttl_minutes=ttl,
                expire_time=expire_time,
            )
            return pb.AuthorizeHoldResponse(
                hold=hold_to_proto(hold, currency),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("AuthorizeHold", request, pb.AuthorizeHoldResponse, effect)

    async def _authorize_session_hold(
        self,
        request: pb.AuthorizeHoldRequest,
        member_id: str,
        store_id: str,
        ttl: int,
        expire_time: datetime | None,
        use_time: datetime | None,
    ) -> pb.AuthorizeHoldResponse:
        """Package sessions: no PIN (the card, not stored value, pays), never with an amount."""
        h = request.hold
        v = Violations()
        if use_time is not None:
            now = datetime.now(UTC)
            if not now - timedelta(days=1) <= use_time <= now + timedelta(days=MAX_USE_AHEAD_DAYS):
                v.add("hold.use_time", f"must be within a day ago .. {MAX_USE_AHEAD_DAYS} days ahead")
            elif expire_time is not None and use_time > expire_time:
                v.add("hold.use_time", "must not be after hold.expire_time")
        ids = parse_path(h.package, "members/{uuid}/packages/{uuid}")
        package_id = ids[1] if ids else ""
        if ids is None:
            v.add("hold.package", "must be members/{member}/packages/{package}")
        elif ids[0] != member_id:
            v.add("hold.package", "must be a card of hold.member")
        if not h.service.startswith("services/") or len(h.service) <= len("services/"):
            v.add("hold.service", "must be a resource name of the form services/{service}")
        if h.sessions <= 0:
            v.add("hold.sessions", "must be greater than zero")
        if h.amount_minor:
            v.add("hold.amount_minor", "a hold reserves stored value or package sessions, never both")
        v.raise_if_any()
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.AuthorizeHoldResponse:
            hold, currency = await holds.authorize_sessions(
                uow,
                caller,
                member_id=member_id,
                package_id=package_id,
                service=h.service,
                sessions=h.sessions,
                store_id=store_id,
                reference=h.reference,
                ttl_minutes=ttl,
                expire_time=expire_time,
                use_time=use_time,
            )
            return pb.AuthorizeHoldResponse(
                hold=hold_to_proto(hold, currency),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("AuthorizeHold", request, pb.AuthorizeHoldResponse, effect)

    async def CaptureHold(self, request: pb.CaptureHoldRequest, context) -> pb.CaptureHoldResponse:
        hold_id = hold_id_of(request.name)
        caller = current_principal()

        store_id = store_id_of(request.store) if request.store else ""
        if request.sessions < 0:
            raise InvalidArgument([("sessions", "must not be negative")])

        async def effect(uow: WalletUnitOfWork) -> pb.CaptureHoldResponse:
            hold, posted = await holds.capture(
                uow,
                caller,
                hold_id,
                amount_minor=request.amount_minor,
                sessions=request.sessions,
                store_id=store_id,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.CaptureHoldResponse(
                hold=hold_to_proto(hold, currency),
                transaction=transaction_to_proto(posted, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, hold.member_id)),
            )

        return await self._mutate("CaptureHold", request, pb.CaptureHoldResponse, effect)

    async def VoidHold(self, request: pb.VoidHoldRequest, context) -> pb.VoidHoldResponse:
        hold_id = hold_id_of(request.name)
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.VoidHoldResponse:
            hold, _ = await sv.void_hold(uow, caller, hold_id)
            currency = (await uow.settings.get()).currency_code
            return pb.VoidHoldResponse(
                hold=hold_to_proto(hold, currency),
                wallet=wallet_to_proto(await sv.snapshot(uow, hold.member_id)),
            )

        return await self._mutate("VoidHold", request, pb.VoidHoldResponse, effect)

    async def ExtendHold(self, request: pb.ExtendHoldRequest, context) -> pb.ExtendHoldResponse:
        hold_id = hold_id_of(request.name)
        caller = current_principal()
        caller.require(auth.WALLET_WRITE)
        expire_time = request.expire_time.ToDatetime(UTC) if request.HasField("expire_time") else None
        holds.check_extension(expire_time, datetime.now(UTC))
        use_time = request.use_time.ToDatetime(UTC) if request.HasField("use_time") else None
        if use_time is not None:
            now = datetime.now(UTC)
            if not now - timedelta(days=1) <= use_time <= now + timedelta(days=MAX_USE_AHEAD_DAYS):
                raise InvalidArgument(
                    [("use_time", f"must be within a day ago .. {MAX_USE_AHEAD_DAYS} days ahead")]
                )

        async def effect(uow: WalletUnitOfWork) -> pb.ExtendHoldResponse:
            hold = await holds.extend(uow, caller, hold_id, expire_time, datetime.now(UTC), use_time=use_time)
            return pb.ExtendHoldResponse(hold=hold_to_proto(hold, (await uow.settings.get()).currency_code))

        return await self._mutate("ExtendHold", request, pb.ExtendHoldResponse, effect)

    async def GetHold(self, request: pb.GetHoldRequest, context) -> pb.GetHoldResponse:
        hold_id = hold_id_of(request.name)
        caller = current_principal()
        caller.require(auth.WALLET_READ)

        async def read(uow: WalletUnitOfWork) -> pb.GetHoldResponse:
            hold = await holds.get(uow, caller, hold_id)
            return pb.GetHoldResponse(hold=hold_to_proto(hold, (await uow.settings.get()).currency_code))

        return await self._read(read)
