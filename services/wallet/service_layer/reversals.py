"""ReverseTransaction: the exact mirror of a posted transaction (`ledger.reversal_of`), allowed
only for kinds whose domain side effects this module can undo exactly:

- `top_up` without a monthly plan schedule (a schedule of bonus releases cannot be unwound
  exactly once instalments may have been released: NOT_REVERSIBLE);
- `points_earn` / `points_adjust` grants from staff, referral, activity or birthday: the granted
  lot is zeroed, refused with POINTS_ALREADY_SPENT once any of it was spent or expired (check-in
  grants are refused: the streak record cannot be unwound);
- `points_adjust` deductions: the points go back to exactly the lots they were taken from.

Everything else is refused with FAILED_PRECONDITION NOT_REVERSIBLE naming the RPC to use
instead. A transaction is reversed at most once: the original's row is locked, `reversed_by`
checked, and the unique `reverses` index is the backstop (mapped to ALREADY_REVERSED).
"""

from __future__ import annotations

from dataclasses import dataclass

from peony.wallet.v1 import events_pb2, ledger_pb2
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument, NotFound
from services.wallet.adapters import tables as t
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import ledger, rules
from services.wallet.service_layer import commission, sv_attribution
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

_REVERSIBLE_GRANT_SOURCES = ("adjustment", "referral", "activity", "birthday")
_USE_INSTEAD = {
    "checkout": "use RefundCheckout",
    "refund": "a refund cannot be reversed; top up or check out again",
    "checkout_refund": "a checkout refund cannot be reversed; check out again",
    "hold": "release a hold with VoidHold",
    "capture": "refund the captured value through RefundCheckout or a new top-up",
    "void": "authorize a new hold with AuthorizeHold",
    "bonus_release": "bonus releases follow their top-up plan and cannot be reversed",
    "spend": "use RefundCheckout or a new top-up",
    "points_redeem": "use RefundCheckout or grant the points back with AdjustPoints",
    "points_expire": "grant the points back with AdjustPoints",
    "package_sale": "use RefundPackage",
    "package_consume": "use RefundCheckout, or correct the card with the package RPCs",
    "package_transfer": "transfer the card back with TransferPackage",
    "package_refund": "sell the package again with SellPackage",
    "package_expire": "extend or sell the package again; expired value is recognised for good",
    "reversal": "a reversal cannot itself be reversed",
}
_ALLOWED_POINTS_ACCOUNTS = {ledger.MEMBER_POINTS.code, ledger.POINTS_ISSUED.code, ledger.POINTS_REDEEMED.code}


def not_reversible(kind: str, why: str | None = None) -> FailedPrecondition:
    return FailedPrecondition(
        f"a {kind} transaction cannot be reversed: {why or _USE_INSTEAD.get(kind, 'not supported')}",
        reason="NOT_REVERSIBLE",
        metadata={"kind": kind},
    )


def already_reversed(transaction_id: str, reversal_id: str | None = None) -> FailedPrecondition:
    meta = {"transaction": transaction_id}
    if reversal_id:
        meta["reversed_by"] = reversal_id
    return FailedPrecondition(
        "the transaction was reversed already", reason="ALREADY_REVERSED", metadata=meta
    )


@dataclass
class ReversalResult:
    original: PostedTransaction
    reversal: PostedTransaction


async def _post(uow: UoW, original: PostedTransaction, reason: str) -> PostedTransaction:
    draft = ledger.reversal_of(
        original.kind,
        original.postings,
        reverses=original.transaction_id,
        member_id=original.member_id,
        store_id=original.store_id,
        reference=original.reference,  # a reversal belongs to what its original belonged to
    )
    draft.description = f"reversal of {original.kind}: {reason}"
    try:
        async with uow.session.begin_nested():
            return await uow.ledger.post(draft)
    except IntegrityError as e:
        if "uq_ledger_transactions_reverses" in str(e.orig):
            raise already_reversed(original.transaction_id) from None
        raise


async def _lots_granted_by(uow: UoW, transaction_id: str) -> list:
    return list(
        (
            await uow.session.execute(
                select(t.point_lots)
                .where(
                    t.point_lots.c.tenant_id == uow.tenant, t.point_lots.c.transaction_id == transaction_id
                )
                .order_by(t.point_lots.c.lot_id)
                .with_for_update()
            )
        ).all()
    )


async def _has_bonus_schedule(uow: UoW, transaction_id: str) -> bool:
    return (
        await uow.session.execute(
            select(t.bonus_releases.c.release_id)
            .where(
                t.bonus_releases.c.tenant_id == uow.tenant,
                t.bonus_releases.c.top_up_transaction_id == transaction_id,
            )
            .limit(1)
        )
    ).first() is not None


async def reverse_transaction(
    uow: UoW, caller: Principal, *, transaction_id: str, member_id: str | None, reason: str
) -> ReversalResult:
    caller.require(auth.WALLET_ADJUST)
    if not reason.strip():
        raise InvalidArgument([("reason", "a reversal needs a reason (it is audited)")])
    # Lock the original first: concurrent reversals of one transaction queue here and the
    # second then sees the first's reversal.
    original = await uow.ledger.get(transaction_id, for_update=True)
    if member_id is not None and original.member_id != member_id:
        raise NotFound(f"transaction {transaction_id} not found", reason="TRANSACTION_NOT_FOUND")
    if original.member_id:
        caller.require_member(f"members/{original.member_id}")
    if original.kind == "reversal" or original.reverses:
        raise not_reversible(original.kind, _USE_INSTEAD["reversal"])
    done = await uow.ledger.reversed_by(transaction_id)
    if done:
        raise already_reversed(transaction_id, done)

    if original.kind == "top_up":
        reversal = await _reverse_top_up(uow, original, reason)
    elif original.kind in ("points_earn", "points_adjust"):
        reversal = await _reverse_points(uow, original, reason)
    else:
        raise not_reversible(original.kind)

    kind = ledger_pb2.TransactionKind.Value(f"TRANSACTION_KIND_{original.kind.upper()}")
    uow.emit(
        events_pb2.TransactionReversed(
            transaction=sv.transaction_name(original),
            reversal=sv.transaction_name(reversal),
            kind=kind,
            member=sv.member_name(original.member_id) if original.member_id else "",
            reason=reason,
        ),
        aggregate_type="wallet",
        aggregate_id=original.member_id or uow.tenant,
    )
    return ReversalResult(original, reversal)


async def _reverse_top_up(uow: UoW, original: PostedTransaction, reason: str) -> PostedTransaction:
    if await _has_bonus_schedule(uow, original.transaction_id):
        raise not_reversible(
            "top_up", "it scheduled monthly bonus releases; use RefundStoredValue to pay the member back"
        )
    # The member must still hold what the top-up gave: the ledger refuses to overdraw
    # (INSUFFICIENT_BALANCE) when it was spent.
    reversal = await _post(uow, original, reason)
    await sv_attribution.take_back_credit(uow, reversal, original, member_id=original.member_id or "")
    # the seller's commission on the top-up goes with it (commission.py)
    await commission.claw_back_top_up(
        uow, top_up_id=original.transaction_id, reversal_id=reversal.transaction_id
    )
    cur = next(p.account.unit for p in original.postings)
    accts = sv.MemberAccounts.of(original.member_id or "", cur)
    sv.emit_balance_changed(uow, reversal, accts, ledger_pb2.TRANSACTION_KIND_REVERSAL)
    return reversal


async def _reverse_points(uow: UoW, original: PostedTransaction, reason: str) -> PostedTransaction:
    if any(p.account.kind.code not in _ALLOWED_POINTS_ACCOUNTS for p in original.postings):
        raise not_reversible(original.kind, "it moved more than points")
    lots = await _lots_granted_by(uow, original.transaction_id)  # domain rows before accounts
    if lots:  # a grant: zero the lot it created
        for lot in lots:
            if lot.source not in _REVERSIBLE_GRANT_SOURCES:
                raise not_reversible(original.kind, f"points from {lot.source} cannot be taken back here")
            if lot.remaining != lot.original:
                raise FailedPrecondition(
                    "some of the granted points were spent or expired already",
                    reason="POINTS_ALREADY_SPENT",
                    metadata={"granted": str(lot.original), "remaining": str(lot.remaining)},
                )
        reversal = await _post(uow, original, reason)
        await uow.lots.move(reversal.transaction_id, [(lot.lot_id, -lot.remaining) for lot in lots])
        return reversal
    # A deduction: give back exactly what was taken from each lot.
    movements = await uow.lots.movements_of(original.transaction_id)
    if not movements or original.kind != "points_adjust":
        raise not_reversible(original.kind, "no lot record to restore")
    if original.member_id:
        await uow.lots.for_member(original.member_id, for_update=True)
    reversal = await _post(uow, original, reason)
    taken = [(lot_id, -delta) for lot_id, delta in movements]
    await uow.lots.move(reversal.transaction_id, rules.restore_lots(taken, sum(n for _, n in taken)))
    return reversal
