"""Stored value (储值): top-ups with bonus plans, PIN, holds, refunds, and the wallet snapshot.

Each command is one balanced ledger transaction plus the records its rules need, committed
together by the unit of work (with the idempotency key and the outbox event).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peony.wallet.v1 import events_pb2, ledger_pb2

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.ids import new_id
from kit.proto import ts as _ts
from services.wallet.adapters.checkout_repository import CheckoutRepository
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import ledger, rules
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.domain.pin import check_pin, hash_pin, validate_new_pin
from services.wallet.service_layer import commission, sv_attribution
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

EXTERNAL_TENDERS = ("cash", "bank_card", "wechat_pay", "alipay")
TENDER_ENUM = {
    "cash": ledger_pb2.TENDER_CASH,
    "bank_card": ledger_pb2.TENDER_BANK_CARD,
    "wechat_pay": ledger_pb2.TENDER_WECHAT_PAY,
    "alipay": ledger_pb2.TENDER_ALIPAY,
}


def member_name(member_id: str) -> str:
    return f"members/{member_id}"


def transaction_name(posted: PostedTransaction) -> str:
    return (
        f"members/{posted.member_id}/transactions/{posted.transaction_id}"
        if posted.member_id
        else (f"transactions/{posted.transaction_id}")
    )


def emit_balance_changed(uow: UoW, posted: PostedTransaction, accts: MemberAccounts, reason: int) -> None:
    """The balance-change notice (消费提醒) after every stored-value movement."""
    principal = -posted.balances.get(accts.principal, 0) if accts.principal in posted.balances else None
    bonus = -posted.balances.get(accts.bonus, 0) if accts.bonus in posted.balances else None
    delta = sum(-p.amount for p in posted.postings if p.account in (accts.principal, accts.bonus))
    uow.emit(
        events_pb2.BalanceChanged(
            member=member_name(accts.principal.owner),
            principal_minor=principal or 0,
            bonus_minor=bonus or 0,
            reason=reason,  # type: ignore[arg-type]
            transaction=transaction_name(posted),
            delta_minor=delta,
            store=f"stores/{posted.store_id}" if posted.store_id else "",
            currency_code=accts.principal.unit,
        ),
        aggregate_type="wallet",
        aggregate_id=accts.principal.owner,
    )


@dataclass(frozen=True)
class MemberAccounts:
    principal: AccountKey
    bonus: AccountKey
    held: AccountKey
    points: AccountKey

    @classmethod
    def of(cls, member_id: str, currency: str) -> MemberAccounts:
        return cls(
            AccountKey(ledger.SV_PRINCIPAL, member_id, currency),
            AccountKey(ledger.SV_BONUS, member_id, currency),
            AccountKey(ledger.SV_HELD, member_id, currency),
            AccountKey(ledger.MEMBER_POINTS, member_id, ledger.POINTS),
        )


def tender_account(store_id: str, tender: str, currency: str) -> AccountKey:
    return AccountKey(ledger.TENDER, f"{store_id}:{tender}", currency)


def store_account(kind: ledger.AccountKind, store_id: str, currency: str) -> AccountKey:
    return AccountKey(kind, store_id, currency)


def validate_money(v: Violations, field: str, amount: int) -> None:
    if amount <= 0:
        v.add(field, "must be greater than zero")
    elif amount > ledger.MAX_AMOUNT:
        v.add(field, f"must be at most {ledger.MAX_AMOUNT}")


def require_currency(currency: str, expected: str, field: str = "currency_code") -> None:
    if currency and currency != expected:
        raise InvalidArgument([(field, f"this tenant's wallet is in {expected}")], reason="CURRENCY_MISMATCH")


# --- snapshot ---------------------------------------------------------------------------------
@dataclass
class WalletSnapshot:
    member_id: str
    currency: str
    principal: int
    bonus: int
    held: int
    locked_bonus: int  # promised by monthly plans, not yet released
    points_available: int
    points_pending: int
    points_expiring: int
    pin_set: bool
    pin_locked_until: datetime | None


async def snapshot(uow: UoW, member_id: str, now: datetime | None = None) -> WalletSnapshot:
    now = now or datetime.now(UTC)
    settings = await uow.settings.get()
    accts = MemberAccounts.of(member_id, settings.currency_code)
    bal = await uow.ledger.balances([accts.principal, accts.bonus, accts.held])
    lots = uow.lots.as_lots(await uow.lots.for_member(member_id))
    pin = await uow.pins.get(member_id)
    locked_bonus = sum(r.amount_minor for r in await uow.releases.pending_for_member(member_id))
    return snapshot_of(member_id, settings, accts, bal, lots, pin, locked_bonus, now)


def snapshot_of(
    member_id: str,
    settings,
    accts: MemberAccounts,
    bal: dict,
    lots: list,
    pin,
    locked_bonus: int,
    now: datetime,
) -> WalletSnapshot:
    """The wallet as of `now` from its parts (balances of the accounts, point lots, PIN row)."""
    horizon = now + timedelta(days=settings.expiring_notice_days)
    usable = [lot for lot in lots if rules.usable(lot, now)]
    pending = sum(lot.remaining for lot in lots if lot.pending_until is not None and lot.pending_until > now)
    return WalletSnapshot(
        member_id=member_id,
        currency=settings.currency_code,
        principal=-bal[accts.principal],
        bonus=-bal[accts.bonus],
        held=-bal[accts.held],
        locked_bonus=locked_bonus,
        points_available=sum(lot.remaining for lot in usable),
        points_pending=pending,
        points_expiring=sum(
            lot.remaining for lot in usable if lot.expire_time and lot.expire_time <= horizon
        ),
        pin_set=pin is not None,
        pin_locked_until=pin.locked_until if pin and pin.locked_until and pin.locked_until > now else None,
    )


# --- PIN --------------------------------------------------------------------------------------
def pin_pepper(uow: UoW) -> bytes:
    """The deployment's PIN pepper (wired by the composition root; tests may run without one)."""
    return uow.deps.get("pin_pepper", b"")


async def set_pin(uow: UoW, caller: Principal, member_id: str, pin: str) -> None:
    caller.require(auth.WALLET_WRITE)
    validate_new_pin(pin)
    await uow.members.require(member_id)
    pin_hash, salt = hash_pin(pin, pin_pepper(uow))
    await uow.pins.set(member_id, pin_hash, salt)


async def verify_pin(uow: UoW, member_id: str, pin: str) -> bool:
    """One PIN attempt in its OWN unit of work: the attempt counter must persist even though
    the payment it guards is refused (that is the lockout). Returns whether the PIN matched."""
    if not pin:
        raise InvalidArgument([("payment_pin", "is required to pay with stored value")])
    settings = await uow.settings.get()
    record = await uow.pins.get(member_id, for_update=True)
    if record is None:
        raise FailedPrecondition("the member has not set a payment PIN", reason="PIN_NOT_SET")
    outcome = check_pin(
        pin,
        pepper=pin_pepper(uow),
        pin_hash=record.pin_hash,
        salt=record.salt,
        failed_attempts=record.failed_attempts,
        locked_until=record.locked_until,
        now=datetime.now(UTC),
        max_attempts=settings.pin_max_attempts,
        lockout=timedelta(minutes=settings.pin_lockout_minutes),
    )
    if outcome.failed_attempts != record.failed_attempts or outcome.locked_until != record.locked_until:
        await uow.pins.record_attempt(member_id, outcome.failed_attempts, outcome.locked_until)
    return outcome.ok


async def pin_is_plainly_right(uow: UoW, member_id: str, pin: str) -> bool:
    """The common case in one read and no write: a PIN set, not locked, no failed attempts on
    record, and this one matches. Anything else goes through the counted `verify_pin`."""
    return pin_plainly_matches(pin_pepper(uow), await uow.pins.get(member_id), pin)


def pin_plainly_matches(pepper: bytes, record, pin: str) -> bool:
    """`pin_is_plainly_right` on a PIN row already read (None: no PIN set)."""
    if record is None or record.failed_attempts or record.locked_until is not None or not pin:
        return False
    return hmac.compare_digest(hash_pin(pin, pepper, record.salt)[0], record.pin_hash)


def wrong_pin(remaining: int) -> FailedPrecondition:
    return FailedPrecondition(
        "wrong payment PIN", reason="PIN_INCORRECT", metadata={"attempts_left": str(max(remaining, 0))}
    )


# --- top-up -----------------------------------------------------------------------------------
@dataclass
class TopUpResult:
    transaction: PostedTransaction
    bonus_now: int
    bonus_scheduled: int


def authorize_top_up(
    caller: Principal,
    *,
    store_id: str,
    amount: int,
    tender: str,
    sold_by: str = "",
    staff_position: str = "",
) -> None:
    """The checks before any read or effect: permission, input and store scope."""
    caller.require(auth.WALLET_WRITE)
    commission.validate_seller(sold_by, staff_position)
    v = Violations()
    validate_money(v, "amount_minor", amount)
    if tender not in EXTERNAL_TENDERS:
        v.add("tender", "must be cash, bank card, WeChat Pay or Alipay")
    v.require("store", store_id)
    v.raise_if_any()
    caller.require_store(f"stores/{store_id}")


@dataclass
class PlannedTopUp:
    draft: TransactionDraft
    accts: MemberAccounts
    amount: int
    bonus_parts: list[int]  # the bonus now, then each monthly instalment
    tender: str
    plan_id: str


def plan_top_up(
    settings, plan, *, member_id: str, store_id: str, amount: int, tender: str, plan_id: str
) -> PlannedTopUp:
    """The top-up's rules (pure): the plan's terms, the bonus instalments and the ledger draft.
    `plan`: the top-up plan `plan_id` names (None when there is none)."""
    bonus, months, release = 0, 1, "immediate"
    if plan_id:
        if plan is None or not plan.active:
            raise NotFound(f"topUpPlans/{plan_id} not found or inactive", reason="PLAN_NOT_FOUND")
        if plan.stores and store_id not in plan.stores:
            raise FailedPrecondition("the plan is not offered at this store", reason="PLAN_NOT_AT_STORE")
        if amount != plan.pay_minor:
            raise InvalidArgument(
                [("amount_minor", f"the plan {plan_id} is a top-up of exactly {plan.pay_minor}")]
            )
        bonus, months, release = plan.bonus_minor, plan.release_months, plan.bonus_release

    cur = settings.currency_code
    accts = MemberAccounts.of(member_id, cur)
    parts = rules.instalments(bonus, months) if release == "monthly" and bonus else [bonus]
    draft = TransactionDraft(
        "top_up",
        member_id=member_id,
        store_id=store_id,
        description=plan_id or "",
        reference=f"topUpPlans/{plan_id}" if plan_id else "",
    )
    draft.move(amount, debit=tender_account(store_id, tender, cur), credit=accts.principal)
    draft.move(parts[0], debit=store_account(ledger.BONUS_EXPENSE, store_id, cur), credit=accts.bonus)
    return PlannedTopUp(draft, accts, amount, parts, tender, plan_id)


def release_rows(planned: PlannedTopUp, posted: PostedTransaction) -> list[dict]:
    """The monthly instalments still to come, due a month apart from the top-up."""
    return [
        {
            "release_id": new_id(),
            "member_id": posted.member_id,
            "store_id": posted.store_id,
            "top_up_transaction_id": posted.transaction_id,
            "due_time": rules.add_months(posted.create_time, i),
            "amount_minor": part,
            "state": "scheduled",
        }
        for i, part in enumerate(planned.bonus_parts[1:], start=1)
        if part
    ]


def emit_top_up(uow, planned: PlannedTopUp, posted: PostedTransaction) -> None:
    """TopUpCompleted and the balance-change notice (`uow`: anything with `emit`)."""
    parts = planned.bonus_parts
    uow.emit(
        events_pb2.TopUpCompleted(
            member=member_name(planned.accts.principal.owner),
            store=f"stores/{posted.store_id}",
            transaction=transaction_name(posted),
            amount_minor=planned.amount,
            bonus_released_minor=parts[0],
            bonus_locked_minor=sum(parts[1:]),
            plan=f"topUpPlans/{planned.plan_id}" if planned.plan_id else "",
            tender=TENDER_ENUM[planned.tender],
            currency_code=planned.accts.principal.unit,
        ),
        aggregate_type="wallet",
        aggregate_id=planned.accts.principal.owner,
    )
    emit_balance_changed(uow, posted, planned.accts, ledger_pb2.TRANSACTION_KIND_TOP_UP)


async def top_up(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    store_id: str,
    amount: int,
    currency: str,
    tender: str,
    plan_id: str,
    sold_by: str = "",
    staff_position: str = "",
) -> TopUpResult:
    authorize_top_up(
        caller,
        store_id=store_id,
        amount=amount,
        tender=tender,
        sold_by=sold_by,
        staff_position=staff_position,
    )
    settings = await uow.settings.get()
    require_currency(currency, settings.currency_code)
    await uow.stores.require(store_id)
    await uow.members.require(member_id)
    planned = plan_top_up(
        settings,
        await uow.plans.get(plan_id) if plan_id else None,
        member_id=member_id,
        store_id=store_id,
        amount=amount,
        tender=tender,
        plan_id=plan_id,
    )
    posted = await uow.ledger.post(planned.draft)
    parts = planned.bonus_parts
    await sv_attribution.credit(
        uow, posted, member_id=member_id, store_id=store_id, principal=amount, bonus=parts[0]
    )
    await uow.releases.schedule(release_rows(planned, posted))
    if sold_by:
        r = CheckoutRepository(uow.session, uow.tenant)
        record = top_up_commission(
            [commission.rule_from_row(x, n) for n, x in enumerate(await r.rules())],
            planned,
            posted,
            sold_by=sold_by,
            staff_position=staff_position,
            store_id=store_id,
            customer_type="member" if await r.has_checkouts(member_id) else "new",
            currency=settings.currency_code,
        )
        await r.add_records([record] if record else [])
    emit_top_up(uow, planned, posted)
    return TopUpResult(posted, parts[0], sum(parts[1:]))


def top_up_commission(
    rules: list,
    planned: PlannedTopUp,
    posted: PostedTransaction,
    *,
    sold_by: str,
    staff_position: str,
    store_id: str,
    customer_type: str,
    currency: str,
) -> dict | None:
    """The seller's commission record of a top-up (充值提成), not yet stored; None without a
    matching rule."""
    record = commission.top_up_record(
        rules,
        sold_by=sold_by,
        staff_position=staff_position,
        plan_id=planned.plan_id,
        amount=planned.amount,
        tender=planned.tender,
        store_id=store_id,
        customer_type=customer_type,
    )
    if record is None:
        return None
    return {
        **record,
        "record_id": new_id(),
        "transaction_id": posted.transaction_id,
        "store_id": store_id,
        "currency_code": currency,
    }


async def release_due_bonus(uow: UoW, release_row) -> PostedTransaction:
    """One scheduled monthly bonus instalment (the scheduler locks the row with SKIP LOCKED)."""
    settings = await uow.settings.get()
    cur = settings.currency_code
    draft = TransactionDraft(
        "bonus_release",
        member_id=release_row.member_id,
        store_id=release_row.store_id,
        description=f"instalment of {release_row.top_up_transaction_id}",
    ).move(
        release_row.amount_minor,
        debit=store_account(ledger.BONUS_EXPENSE, release_row.store_id, cur),
        credit=MemberAccounts.of(release_row.member_id, cur).bonus,
    )
    posted = await uow.ledger.post(draft)
    await sv_attribution.credit(
        uow,
        posted,
        member_id=release_row.member_id,
        store_id=release_row.store_id,
        principal=0,
        bonus=release_row.amount_minor,
    )
    await uow.releases.mark([release_row.release_id], "released", posted.transaction_id)
    remaining = sum(r.amount_minor for r in await uow.releases.pending_for_member(release_row.member_id))
    uow.emit(
        events_pb2.BonusReleased(
            member=member_name(release_row.member_id),
            transaction=transaction_name(posted),
            amount_minor=release_row.amount_minor,
            remaining_locked_minor=remaining,
            top_up_transaction=f"members/{release_row.member_id}/transactions/{release_row.top_up_transaction_id}",
            currency_code=cur,
        ),
        aggregate_type="wallet",
        aggregate_id=release_row.member_id,
    )
    return posted


# --- refund -----------------------------------------------------------------------------------
@dataclass
class RefundResult:
    transaction: PostedTransaction
    principal_refunded: int
    bonus_voided: int
    scheduled_bonus_voided: int


async def refund_stored_value(
    uow: UoW, caller: Principal, *, member_id: str, store_id: str, tender: str
) -> RefundResult:
    """Pays back all remaining principal and voids every bonus, released or promised (domain.md §3)."""
    caller.require(auth.WALLET_WRITE)
    if tender not in EXTERNAL_TENDERS:
        raise InvalidArgument([("tender", "must be cash, bank card, WeChat Pay or Alipay")])
    caller.require_store(f"stores/{store_id}")
    await uow.stores.require(store_id)
    await uow.members.require(member_id)
    settings = await uow.settings.get()
    cur = settings.currency_code
    accts = MemberAccounts.of(member_id, cur)
    pending = await uow.releases.pending_for_member(member_id, for_update=True)
    bal = await uow.ledger.lock_balances([accts.principal, accts.bonus, accts.held])
    if bal[accts.held]:
        raise FailedPrecondition("settle or void the member's holds first", reason="HOLDS_OUTSTANDING")
    principal, bonus = -bal[accts.principal], -bal[accts.bonus]
    if principal == 0 and bonus == 0:
        raise FailedPrecondition("nothing to refund", reason="NOTHING_TO_REFUND")
    draft = TransactionDraft(
        "refund", member_id=member_id, store_id=store_id, description="stored value refund"
    )
    draft.move(principal, debit=accts.principal, credit=tender_account(store_id, tender, cur))
    draft.move(bonus, debit=accts.bonus, credit=store_account(ledger.BONUS_EXPENSE, store_id, cur))
    posted = await uow.ledger.post(draft)
    # the member's stored value leaves at this store, whichever stores sold it
    await sv_attribution.spend(uow, posted, member_id=member_id, principal=principal, bonus=bonus)
    await uow.releases.mark([r.release_id for r in pending], "voided", posted.transaction_id)
    await commission.claw_back_top_ups_refunded(
        uow,
        member_id=member_id,
        principal_account_id=accts.principal.account_id(uow.tenant),
        refunded=principal,
        refund_id=posted.transaction_id,
    )
    uow.emit(
        events_pb2.StoredValueRefunded(
            member=member_name(member_id),
            store=f"stores/{store_id}",
            transaction=transaction_name(posted),
            principal_refunded_minor=principal,
            bonus_voided_minor=bonus + sum(r.amount_minor for r in pending),
            tender=TENDER_ENUM[tender],
            currency_code=cur,
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    emit_balance_changed(uow, posted, accts, ledger_pb2.TRANSACTION_KIND_REFUND)
    return RefundResult(posted, principal, bonus, sum(r.amount_minor for r in pending))


# --- holds ------------------------------------------------------------------------------------
async def authorize_hold(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    store_id: str,
    amount: int,
    reference: str,
    ttl_minutes: int,
    expire_time: datetime | None = None,
):
    """Reserve stored value (e.g. a booking deposit): it leaves the spendable balances for the
    member's held account until it is captured, voided or expires (at `expire_time` when given,
    else `ttl_minutes` or the tenant's default after now)."""
    caller.require(auth.WALLET_WRITE)
    v = Violations()
    validate_money(v, "amount_minor", amount)
    v.require("store", store_id)
    if ttl_minutes < 0 or ttl_minutes > 90 * 24 * 60:
        v.add("ttl_minutes", "must be within 0..129600")
    v.raise_if_any()
    caller.require_store(f"stores/{store_id}")
    caller.require_member(f"members/{member_id}")
    await uow.stores.require(store_id, "hold.store")
    await uow.members.require(member_id)
    settings = await uow.settings.get()
    cur = settings.currency_code
    accts = MemberAccounts.of(member_id, cur)
    bal = await uow.ledger.lock_balances([accts.principal, accts.bonus, accts.held])
    principal, bonus = -bal[accts.principal], -bal[accts.bonus]
    if amount > principal + bonus:
        raise FailedPrecondition(
            "insufficient stored value",
            reason="INSUFFICIENT_BALANCE",
            metadata={"available": str(principal + bonus)},
        )
    from_principal, from_bonus = rules.split_spend(amount, principal, bonus, settings.spend_order)
    hold_id = new_id()
    draft = TransactionDraft(
        "hold", member_id=member_id, store_id=store_id, description=reference, reference=f"holds/{hold_id}"
    )
    draft.move(from_principal, debit=accts.principal, credit=accts.held)
    draft.move(from_bonus, debit=accts.bonus, credit=accts.held)
    posted = await uow.ledger.post(draft)
    hold = await uow.holds.add(
        hold_id=hold_id,
        member_id=member_id,
        store_id=store_id,
        amount_minor=amount,
        principal_minor=from_principal,
        bonus_minor=from_bonus,
        state="authorized",
        reference=reference,
        expire_time=expire_time
        or posted.create_time + timedelta(minutes=ttl_minutes or settings.hold_default_ttl_minutes),
        authorize_transaction_id=posted.transaction_id,
    )
    uow.emit(
        events_pb2.HoldAuthorized(
            hold=f"holds/{hold.hold_id}",
            member=member_name(member_id),
            amount_minor=amount,
            reference=reference,
            expire_time=_ts(hold.expire_time),
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    return hold, posted


async def _load_authorized_hold(uow: UoW, hold_id: str):
    hold = await uow.holds.get(hold_id, for_update=True)  # domain row first, then accounts
    if hold is None:
        raise NotFound(f"holds/{hold_id} not found", reason="HOLD_NOT_FOUND")
    if hold.state != "authorized":
        raise FailedPrecondition(
            f"the hold is {hold.state}", reason="HOLD_NOT_AUTHORIZED", metadata={"state": hold.state}
        )
    return hold


async def capture_hold(uow: UoW, caller: Principal, hold_id: str, *, sessions: int = 0, store_id: str = ""):
    """Captures a hold in full; a session hold may take fewer `sessions` (0: all) at `store_id`."""
    caller.require(auth.WALLET_WRITE)
    hold = await _load_authorized_hold(uow, hold_id)
    caller.require_store(f"stores/{hold.store_id}")
    if hold.package_id is not None:
        from services.wallet.service_layer import packages  # packages builds on this module

        return await packages.capture_session_hold(uow, hold, sessions=sessions, store_id=store_id)
    cur = (await uow.settings.get()).currency_code
    accts = MemberAccounts.of(hold.member_id, cur)
    draft = TransactionDraft(
        "capture",
        member_id=hold.member_id,
        store_id=hold.store_id,
        description=hold.reference,
        reference=f"holds/{hold_id}",
    )
    draft.move(hold.amount_minor, debit=accts.held, credit=store_account(ledger.REVENUE, hold.store_id, cur))
    posted = await uow.ledger.post(draft)
    # held value stays in its lots until captured: the capture is the spend
    await sv_attribution.spend(
        uow, posted, member_id=hold.member_id, principal=hold.principal_minor, bonus=hold.bonus_minor
    )
    uow.emit(
        events_pb2.HoldCaptured(
            hold=f"holds/{hold_id}",
            member=member_name(hold.member_id),
            captured_minor=hold.amount_minor,
            transaction=transaction_name(posted),
            reference=hold.reference,
        ),
        aggregate_type="wallet",
        aggregate_id=hold.member_id,
    )
    return await uow.holds.settle(hold_id, "captured", posted.transaction_id), posted


async def void_hold(uow: UoW, caller: Principal | None, hold_id: str, *, state: str = "voided"):
    """Release a hold back exactly as it was funded. `caller` is None for the expiry job."""
    if caller is not None:
        caller.require(auth.WALLET_WRITE)
    hold = await _load_authorized_hold(uow, hold_id)
    if caller is not None:
        caller.require_store(f"stores/{hold.store_id}")
    if hold.package_id is not None:
        from services.wallet.service_layer import packages  # packages builds on this module

        return await packages.void_session_hold(uow, hold, state=state)
    cur = (await uow.settings.get()).currency_code
    accts = MemberAccounts.of(hold.member_id, cur)
    draft = TransactionDraft(
        "void",
        member_id=hold.member_id,
        store_id=hold.store_id,
        description=hold.reference,
        reference=f"holds/{hold_id}",
    )
    draft.move(hold.principal_minor, debit=accts.held, credit=accts.principal)
    draft.move(hold.bonus_minor, debit=accts.held, credit=accts.bonus)
    posted = await uow.ledger.post(draft)
    uow.emit(
        events_pb2.HoldVoided(
            hold=f"holds/{hold_id}",
            member=member_name(hold.member_id),
            expired=state == "expired",
            transaction=transaction_name(posted),
            reference=hold.reference,
        ),
        aggregate_type="wallet",
        aggregate_id=hold.member_id,
    )
    return await uow.holds.settle(hold_id, state, posted.transaction_id), posted
