"""Holds as the API sees them: one hold resource reserves either stored value (PIN-guarded, see
stored_value.py) or package sessions (see packages.py); this module decides which, and checks a
capture against the kind of hold it captures."""

from __future__ import annotations

from datetime import datetime, timedelta

from peony.wallet.v1 import events_pb2

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument, NotFound
from kit.proto import ts
from services.wallet.service_layer import packages as pk
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


def reserves_sessions(*, package: str, service: str, sessions: int) -> bool:
    """A hold that names a package, a service or sessions reserves package sessions (no PIN: the
    card, not stored value, pays); any other reserves stored value."""
    return bool(package or service or sessions)


async def authorize_stored_value(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    store_id: str,
    amount: int,
    currency: str,
    reference: str,
    ttl_minutes: int,
    expire_time: datetime | None,
):
    """(hold, tenant currency). The PIN was checked before (payment_pin.check)."""
    settings = await uow.settings.get()
    sv.require_currency(currency, settings.currency_code, "hold.currency_code")
    hold, _ = await sv.authorize_hold(
        uow,
        caller,
        member_id=member_id,
        store_id=store_id,
        amount=amount,
        reference=reference,
        ttl_minutes=ttl_minutes,
        expire_time=expire_time,
    )
    return hold, settings.currency_code


async def authorize_sessions(uow: UoW, caller: Principal, **kwargs):
    """(hold, tenant currency); see packages.authorize_session_hold for the arguments."""
    settings = await uow.settings.get()
    hold, _ = await pk.authorize_session_hold(uow, caller, **kwargs)
    return hold, settings.currency_code


async def capture(
    uow: UoW, caller: Principal, hold_id: str, *, amount_minor: int, sessions: int, store_id: str
):
    """(hold, transaction). A stored-value hold is captured in full (no partial amount, no
    sessions); a session hold may take fewer sessions, never an amount."""
    held = await uow.holds.get(hold_id)
    if held is not None and held.package_id is None:
        if amount_minor and amount_minor != held.amount_minor:
            raise InvalidArgument([("amount_minor", "partial capture is not supported yet; omit it")])
        if sessions:
            raise InvalidArgument([("sessions", "only for a hold of package sessions")])
    if held is not None and held.package_id is not None and amount_minor:
        raise InvalidArgument([("amount_minor", "only for a hold of stored value")])
    return await sv.capture_hold(uow, caller, hold_id, sessions=sessions, store_id=store_id)


async def get(uow: UoW, caller: Principal, hold_id: str):
    caller.require(auth.WALLET_READ)
    try:
        hold = await uow.holds.get(hold_id)
    except Exception:
        hold = None
    if hold is None:
        raise NotFound(f"holds/{hold_id} not found", reason="HOLD_NOT_FOUND")
    caller.require_member(f"members/{hold.member_id}")
    return hold


MAX_EXTEND = timedelta(minutes=pk.MAX_HOLD_TTL_MINUTES)


def check_extension(expire_time: datetime | None, now: datetime) -> None:
    """An `ExtendHold` expiry: given, in the future, at most 90 days ahead (as an authorisation)."""
    if expire_time is None:
        raise InvalidArgument([("expire_time", "is required")])
    if expire_time <= now:
        raise InvalidArgument([("expire_time", "must be in the future")])
    if expire_time > now + MAX_EXTEND:
        raise InvalidArgument([("expire_time", "must be within 90 days")])


async def extend(
    uow: UoW,
    caller: Principal,
    hold_id: str,
    expire_time: datetime,
    now: datetime,
    *,
    use_time: datetime | None = None,
):
    """Moves an authorised, unexpired hold's expiry later, in place: the hold row is locked (the
    expiry job re-locks it with SKIP LOCKED and re-checks), so the value it reserves is never
    released and reserved again, and no ledger posting is needed. An expiry at or before the
    current one changes nothing (and publishes nothing)."""
    caller.require(auth.WALLET_WRITE)
    hold = await uow.holds.get(hold_id, for_update=True)
    if hold is None:
        raise NotFound(f"holds/{hold_id} not found", reason="HOLD_NOT_FOUND")
    caller.require_store(f"stores/{hold.store_id}")
    if hold.state != "authorized":
        raise FailedPrecondition(
            f"the hold is {hold.state}", reason="HOLD_NOT_AUTHORIZED", metadata={"state": hold.state}
        )
    if hold.expire_time <= now:
        raise FailedPrecondition(
            "the hold has expired",
            reason="HOLD_EXPIRED",
            metadata={"expire_time": hold.expire_time.isoformat()},
        )
    if use_time is not None:
        if hold.package_id is None:
            raise InvalidArgument([("use_time", "only for a hold of package sessions")])
        if use_time > max(expire_time, hold.expire_time):
            raise InvalidArgument([("use_time", "must not be after the hold's expiry")])
        # the hold row first, then its card: the order a capture takes them in
        hold = await pk.move_hold_use_time(uow, hold, use_time)
    if expire_time <= hold.expire_time:
        return hold
    extended = await uow.holds.extend(hold_id, expire_time)
    uow.emit(
        events_pb2.HoldExtended(
            hold=f"holds/{hold_id}",
            member=f"members/{hold.member_id}",
            reference=hold.reference,
            previous_expire_time=ts(hold.expire_time),
            expire_time=ts(expire_time),
        ),
        aggregate_type="wallet",
        aggregate_id=str(hold.member_id),
    )
    return extended
