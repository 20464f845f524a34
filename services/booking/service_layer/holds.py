"""Wallet holds of appointments: a deposit (stored value) or package sessions, authorised through
the wallet's gRPC API when booking and settled (captured or voided) when the appointment ends.

Called by the appointment lifecycle (appointments.py) inside its transaction. The booking
service calls the wallet as itself (kit/service_auth.py, role `service`, the request's tenant),
never with the caller's token.

Authorising (`authorize`) is synchronous, inside the booking transaction: a booking either has
its hold or does not exist. The wallet hold gets `reference` = `appointments/{id}` and
`expire_time` = the appointment's end + `BookingPolicy.hold_grace_hours` (and a session hold
`use_time` = the appointment's start: the day an unlimited card's daily cap counts it on).
Its wallet request id is derived from the booking's `request_key` plus a fresh id per attempt
(`bh:<hash of the key>:<uuid>`, 56 characters, within the wallet's 64): the wallet client's own
retries of the call (UNAVAILABLE) reuse it, so they are one hold; a booking transaction that is re-run (a
serialization failure) or retried by the client after a rollback authorises a new hold, never
replaying the answer for a hold that was voided or that belongs to a rolled-back appointment (its
`reference` differs anyway, which the wallet's idempotency check would refuse). A
refusal fails the booking with FAILED_PRECONDITION `WALLET_HOLD_REFUSED` (metadata
`wallet_reason`: the wallet's reason, e.g. `INSUFFICIENT_BALANCE`, `PIN_INCORRECT`,
`NO_SESSIONS_LEFT`, `PACKAGE_FROZEN`, `PIN_REQUIRED` for a deposit without a PIN); an
unreachable wallet fails it with UNAVAILABLE (`WALLET_UNAVAILABLE`). Either way the booking's
transaction writes nothing. A hold authorised in a transaction that then does not commit is
voided right after the rollback (best effort, `BookingUnitOfWork.on_rollback`); should that fail
too, it expires by itself at its `expire_time`, giving everything back.

Settling never calls the wallet inside the lifecycle transaction. `settle` decides (capture or
void: on "cancel" always void; on "late_cancel" / "no_show" capture only if the caller asks AND
the policy's switch for the hold's kind — `capture_deposit_on_*` / `capture_session_on_*` — says
so; on "complete" as asked), records the decision as a pending `hold_settlements` row and sets
the appointment's hold state to the decided fate (CAPTURED / RELEASED), all in the lifecycle's
transaction. The jobs step `settle_pending` then carries it out: one transaction per settlement,
re-locked with SKIP LOCKED, calling CaptureHold / VoidHold with request ids derived from the
hold and the action (`booking-capture:{hold}` / `booking-void:{hold}`), so retries (and crashes
between the wallet's answer and our commit) are idempotent. Success marks it done. A transient
failure (wallet unreachable) is retried with backoff. A permanent refusal (e.g. the hold already
expired in the wallet: `HOLD_NOT_AUTHORIZED`) is recorded as failed with its reason, logged, not
retried, and the appointment's hold state set to what the wallet says happened (EXPIRED, …).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from peony.booking.v1 import appointments_pb2
from peony.wallet.v1 import ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.errors import FailedPrecondition, Violations
from kit.ids import new_id, parse_path
from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from services.booking.adapters.hold_tables import hold_settlements
from services.booking.adapters.wallet_client import WalletClient, WalletError, WalletUnavailable
from services.booking.service_layer import policy as booking_policy
from services.booking.service_layer.policy import BookingPolicy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

log = get_logger("peony.booking.holds")

WALLET_HOLD_REFUSED = "WALLET_HOLD_REFUSED"
AUTHORIZED = appointments_pb2.AppointmentHoldState.Name(appointments_pb2.APPOINTMENT_HOLD_STATE_AUTHORIZED)
CAPTURED = appointments_pb2.AppointmentHoldState.Name(appointments_pb2.APPOINTMENT_HOLD_STATE_CAPTURED)
RELEASED = appointments_pb2.AppointmentHoldState.Name(appointments_pb2.APPOINTMENT_HOLD_STATE_RELEASED)
EXPIRED = appointments_pb2.AppointmentHoldState.Name(appointments_pb2.APPOINTMENT_HOLD_STATE_EXPIRED)
# the wallet's hold state -> the appointment's
_FATE = {"captured": CAPTURED, "voided": RELEASED, "expired": EXPIRED}
_WALLET_STATE = {
    ledger_pb2.HOLD_STATE_CAPTURED: "captured",
    ledger_pb2.HOLD_STATE_VOIDED: "voided",
    ledger_pb2.HOLD_STATE_EXPIRED: "expired",
}

BATCH = 100
RETRY_BASE_S = 15
RETRY_MAX_S = 3600


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def authorize_request_id(request_key: str) -> str:
    """The wallet request id of one attempt to authorise a hold: 56 characters (the wallet's
    limit is 64), tied to the booking's request key, unique per attempt."""
    return f"bh:{_hash(request_key)}:{new_id()}"


def _parse_package(name: str, member_id: str) -> str | None:
    ids = parse_path(name, "members/{id}/packages/{id}")
    return ids[1] if ids is not None and ids[0] == member_id else None


async def authorize(
    uow: BookingUnitOfWork,
    *,
    appointment_id: str,
    member_id: str,
    store_id: str,
    spec: appointments_pb2.WalletHoldSpec | None,
    start_utc: datetime,
    end_utc: datetime,
    policy: BookingPolicy,
    request_key: str,
) -> None:
    """Authorises the hold `spec` asks for (nothing when it is None) for the appointment and
    records it on the appointment (`hold`, state AUTHORIZED)."""
    if spec is None:
        return
    kind = spec.WhichOneof("kind")
    hold = ledger_pb2.Hold(
        member=f"members/{member_id}", store=f"stores/{store_id}", reference=f"appointments/{appointment_id}"
    )
    hold.expire_time.FromDatetime(end_utc + timedelta(hours=policy.hold_grace_hours))
    v = Violations()
    if kind == "deposit":
        if spec.deposit.amount_minor <= 0:
            v.add("wallet_hold.deposit.amount_minor", "must be greater than zero")
        hold.amount_minor = spec.deposit.amount_minor
        hold.currency_code = spec.deposit.currency_code
    elif kind == "package_session":
        p = spec.package_session
        if _parse_package(p.package, member_id) is None:
            v.add("wallet_hold.package_session.package", "must be members/{member}/packages/{package}")
        if not p.service.startswith("services/") or len(p.service) <= len("services/"):
            v.add("wallet_hold.package_session.service", "must be services/{service}")
        if p.sessions < 0:
            v.add("wallet_hold.package_session.sessions", "must not be negative")
        hold.package, hold.service, hold.sessions = p.package, p.service, p.sessions or 1
        # the day of the treatment: a time card's daily cap counts this pending hold on that day
        hold.use_time.FromDatetime(start_utc)
    else:
        v.add("wallet_hold", "name a deposit or a package_session")
    v.raise_if_any()
    if kind == "deposit" and not spec.payment_pin:
        raise FailedPrecondition(
            "a deposit needs the member's payment PIN",
            reason=WALLET_HOLD_REFUSED,
            metadata={"wallet_reason": "PIN_REQUIRED"},
        )
    wallet = uow.wallet
    if wallet is None:
        raise WalletUnavailable("the wallet is not configured for holds", metadata={"wallet_code": "NONE"})
    request = wpb.AuthorizeHoldRequest(
        hold=hold,
        payment_pin=spec.payment_pin,
        request_id=authorize_request_id(request_key),
    )
    try:
        placed = (await wallet.authorize_hold(uow.tenant, request)).hold
    except WalletError as err:
        raise _booking_error(err) from None
    tenant, name = uow.tenant, placed.name

    async def void_uncommitted() -> None:
        await wallet.void_hold(
            tenant,
            wpb.VoidHoldRequest(
                name=name, reason="booking rolled back", request_id=f"booking-undo:{name.split('/')[-1]}"
            ),
        )

    uow.on_rollback(void_uncommitted)
    # The AppointmentHold's fields, plus the wallet's expiry (for a reschedule; not in the message).
    record: dict[str, Any] = {
        "hold": placed.name,
        "state": AUTHORIZED,
        "expire_time": placed.expire_time.ToDatetime(UTC).isoformat(),
    }
    if kind == "deposit":
        record.update(amount_minor=placed.amount_minor, currency_code=placed.currency_code)
    else:
        record.update(package=placed.package, service=placed.service, sessions=placed.sessions)
    await uow.holds.set_hold(appointment_id, record)


def _booking_error(err: WalletError) -> Exception:
    """The booking's answer to a wallet error on AuthorizeHold."""
    if err.refused:
        reason = err.reason
        if err.code == grpc.StatusCode.INVALID_ARGUMENT and "payment_pin" in err.fields:
            reason = "PIN_REQUIRED"
        metadata = {"wallet_reason": reason, **{f"wallet_{k}": v for k, v in err.metadata.items()}}
        return FailedPrecondition(
            f"the wallet refused the hold: {err.message}", reason=WALLET_HOLD_REFUSED, metadata=metadata
        )
    log.warning("wallet unavailable for a hold", code=err.code.name, reason=err.reason)
    return WalletUnavailable(
        "the wallet could not be reached for the hold; nothing was booked, retry",
        metadata={"wallet_code": err.code.name},
    )


def _captures(record: dict[str, Any], capture: bool, reason: str, rules: BookingPolicy) -> bool:
    deposit = bool(record.get("amount_minor"))
    if reason == "cancel":
        return False
    if reason == "late_cancel":
        return capture and (
            rules.capture_deposit_on_late_cancel if deposit else rules.capture_session_on_late_cancel
        )
    if reason == "no_show":
        return capture and (rules.capture_deposit_on_no_show if deposit else rules.capture_session_on_no_show)
    return capture


async def settle(uow: BookingUnitOfWork, appointment_id: str, *, capture: bool, reason: str) -> None:
    """Settles the appointment's hold, if it has one still authorised: decides capture or void
    (see the module docstring), records the decision for `settle_pending` and sets the
    appointment's hold state to the decided fate. Settling twice is a no-op."""
    record = await uow.holds.hold_of(appointment_id, for_update=True)
    if not record or record.get("state") != AUTHORIZED:
        return
    captured = _captures(record, capture, reason, await booking_policy.load_policy(uow))
    hold_id = str(record["hold"]).rsplit("/", 1)[-1]
    await uow.holds.add_settlement(
        hold_id=hold_id,
        appointment_id=appointment_id,
        action="capture" if captured else "void",
        reason=reason,
    )
    await uow.holds.set_hold(appointment_id, {**record, "state": CAPTURED if captured else RELEASED})


async def on_reschedule(
    uow: BookingUnitOfWork,
    appointment_id: str,
    *,
    member_id: str,
    store_id: str,
    new_end_utc: datetime,
    policy: BookingPolicy,
    request_key: str,
    payment_pin: str = "",
    new_start_utc: datetime | None = None,
) -> bool:
    """For RescheduleAppointment, in its transaction (after the new slot is reserved): an
    authorised hold whose expiry falls before `new_end_utc` + `hold_grace_hours` moves with the
    appointment. The wallet extends the same hold in place (`ExtendHold`, one wallet transaction
    under the hold's row lock), so it keeps reserving the same value: the member never needs it a
    second time (a card whose held sessions are its last ones moves as well), and no PIN is asked
    (nothing new is reserved; `payment_pin` is ignored). A refusal (the hold was settled or has
    expired meanwhile: `WALLET_HOLD_REFUSED`) or an unreachable wallet fails the reschedule and
    rolls it back. The wallet's request id is derived from the appointment, the old expiry and
    the new one, so a retried call is one extension. If the reschedule's transaction then rolls
    back, the hold keeps its later expiry: it still belongs to the appointment and is settled
    with it, only its automatic release would come later. A package-session hold also moves its
    day of use (`use_time` = the new start: an unlimited card's daily cap counts it on the new day
    and checks it there — `DAILY_USES_EXHAUSTED` refuses the reschedule), even when its expiry
    need not move. Returns whether the hold was moved."""
    record = await uow.holds.hold_of(appointment_id, for_update=True)
    if not record or record.get("state") != AUTHORIZED:
        return False
    needed = new_end_utc + timedelta(hours=policy.hold_grace_hours)
    expires = record.get("expire_time")
    moves_day = bool(record.get("package")) and new_start_utc is not None
    if expires and datetime.fromisoformat(expires) >= needed:
        if not moves_day:
            return False
        needed = datetime.fromisoformat(expires)  # the expiry stays; only the day of use moves
    wallet = uow.wallet
    if wallet is None:
        raise WalletUnavailable("the wallet is not configured for holds", metadata={"wallet_code": "NONE"})
    name = str(record["hold"])
    day = f"|{new_start_utc.isoformat()}" if moves_day and new_start_utc is not None else ""
    request = wpb.ExtendHoldRequest(
        name=name,
        request_id=f"bx:{_hash(f'{name}|{expires}|{needed.isoformat()}|{request_key}{day}')}",
    )
    request.expire_time.FromDatetime(needed)
    if moves_day and new_start_utc is not None:
        request.use_time.FromDatetime(new_start_utc)
    try:
        extended = (await wallet.extend_hold(uow.tenant, request)).hold
    except WalletError as err:
        raise _booking_error(err) from None
    await uow.holds.set_hold(
        appointment_id, {**record, "expire_time": extended.expire_time.ToDatetime(UTC).isoformat()}
    )
    return True


# --- the jobs step ---------------------------------------------------------------------------------
async def settle_pending(
    engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], now: datetime
) -> int:
    """Carries out due pending settlements, each in its own transaction; returns how many ended
    (done or failed)."""
    c = hold_settlements.c
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(c.tenant_id, c.hold_id)
                .where(c.state == "pending", c.next_attempt_at <= now)
                .order_by(c.next_attempt_at)
                .limit(BATCH)
            )
        ).all()
    count = 0
    for tenant, hold_id in due:

        async def one(uow: BookingUnitOfWork, hold_id=hold_id) -> bool:
            return await execute_settlement(uow, hold_id, now)

        count += await uows.run(tenant, one)
    return count


async def execute_settlement(uow: BookingUnitOfWork, hold_id: str, now: datetime) -> bool:
    """One settlement: re-locked (SKIP LOCKED: another runner has it), re-checked, executed."""
    row = await uow.holds.lock_pending(hold_id)
    if row is None:
        return False
    wallet: WalletClient | None = uow.wallet
    if wallet is None:
        await _retry_later(uow, row, now, "no wallet client configured")
        return False
    name = f"holds/{hold_id}"
    wanted = "captured" if row.action == "capture" else "voided"
    try:
        if row.action == "capture":
            out = await wallet.capture_hold(
                uow.tenant, wpb.CaptureHoldRequest(name=name, request_id=f"booking-capture:{hold_id}")
            )
        else:
            out = await wallet.void_hold(
                uow.tenant,
                wpb.VoidHoldRequest(
                    name=name,
                    reason=f"appointments/{row.appointment_id}: {row.reason}",
                    request_id=f"booking-void:{hold_id}",
                ),
            )
        outcome, error = _WALLET_STATE.get(out.hold.state, wanted), None
    except WalletError as err:
        if err.transient:
            await _retry_later(uow, row, now, str(err))
            return False
        outcome = err.metadata.get("state") if err.reason == "HOLD_NOT_AUTHORIZED" else None
        error = str(err)
    state = "done" if outcome == wanted else "failed"
    if state == "failed":
        log.warning(
            "hold settlement refused by the wallet",
            hold=name,
            appointment=f"appointments/{row.appointment_id}",
            action=row.action,
            outcome=outcome,
            error=error,
        )
    await uow.holds.finish(hold_id, state=state, outcome=outcome, error=error)
    fate = _FATE.get(outcome or "")
    record = await uow.holds.hold_of(row.appointment_id, for_update=True)
    # the appointment may carry a newer hold by now (a reschedule replaced this one)
    if fate and record and record.get("hold") == name and record.get("state") != fate:
        await uow.holds.set_hold(row.appointment_id, {**record, "state": fate})
    return True


async def _retry_later(uow: BookingUnitOfWork, row, now: datetime, error: str) -> None:
    delay = min(RETRY_BASE_S * 2 ** min(row.attempts, 12), RETRY_MAX_S)
    log.warning(
        "hold settlement will be retried", hold=f"holds/{row.hold_id}", attempt=row.attempts + 1, error=error
    )
    await uow.holds.retry_later(row.hold_id, at=now + timedelta(seconds=delay), error=error)
