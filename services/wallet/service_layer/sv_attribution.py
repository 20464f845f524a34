"""Keeps every member's stored value attributed to the store that sold it, in the same unit of
work as each ledger transaction that moves it (rules: services/wallet/domain/sv_lots.py).

Call after `uow.ledger.post(...)`: the ledger has then locked the member's accounts, and the
member's lots are locked after them (the one lock order every writer uses).
"""

from __future__ import annotations

from kit.errors import FailedPrecondition
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import ledger, sv_lots
from services.wallet.domain.sv_lots import Share
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


def movement_rows(
    posted: PostedTransaction, member_id: str, kind: str, shares: list[Share], sign: int, **extra
) -> list:
    return [
        {
            "transaction_id": posted.transaction_id,
            "member_id": member_id,
            "store_id": s.store_id,
            "at_store_id": posted.store_id or "",
            "kind": kind,
            "principal_minor": sign * s.principal,
            "bonus_minor": sign * s.bonus,
            **extra,
        }
        for s in shares
    ]


async def _apply(uow: UoW, member_id: str, rows: list[dict]) -> None:
    for r in rows:
        await uow.sv_lots.change(member_id, r["store_id"], r["principal_minor"], r["bonus_minor"])
    await uow.sv_lots.record(rows)


async def credit(
    uow: UoW, posted: PostedTransaction, *, member_id: str, store_id: str, principal: int, bonus: int
) -> None:
    """Stored value sold (a top-up, a bonus instalment, a card refunded to stored value): owed by
    `store_id`, the store that holds the money."""
    if principal or bonus:
        await _apply(
            uow, member_id, movement_rows(posted, member_id, "credit", [Share(store_id, principal, bonus)], 1)
        )


async def spend(uow: UoW, posted: PostedTransaction, *, member_id: str, principal: int, bonus: int) -> None:
    """Stored value leaving the member at the transaction's store: taken from the lots in spend
    order (the store's own first)."""
    if not (principal or bonus):
        return
    lots = await uow.sv_lots.lock(member_id)
    try:
        shares = sv_lots.take(lots, principal=principal, bonus=bonus, at_store=posted.store_id or "")
    except sv_lots.LotsShort as e:  # the ledger allowed the spend, so the lots must cover it
        raise AssertionError(f"stored-value lots disagree with the ledger for {member_id}: {e}") from None
    await _apply(uow, member_id, movement_rows(posted, member_id, "spend", shares, -1))


async def restore(
    uow: UoW,
    posted: PostedTransaction,
    *,
    member_id: str,
    spend_transaction_id: str,
    principal: int,
    bonus: int,
) -> None:
    """A refund of (part of) a spend: back to exactly the lots that spend took from."""
    if not (principal or bonus):
        return
    await uow.sv_lots.lock(member_id)
    taken = await uow.sv_lots.moved_by(spend_transaction_id, "spend")
    if not taken:  # a spend from before stored value was attributed (migration 0008)
        await credit(
            uow, posted, member_id=member_id, store_id=posted.store_id or "", principal=principal, bonus=bonus
        )
        return
    back = {s.store_id: s for s in await uow.sv_lots.restored_for(spend_transaction_id)}
    outstanding = [
        Share(
            t.store_id,
            -t.principal - (back[t.store_id].principal if t.store_id in back else 0),
            -t.bonus - (back[t.store_id].bonus if t.store_id in back else 0),
        )
        for t in taken
    ]
    try:
        shares = sv_lots.give_back(outstanding, principal=principal, bonus=bonus)
    except sv_lots.LotsShort as e:  # the refund rules never give back more than was spent
        raise AssertionError(
            f"refund restores more stored value than {spend_transaction_id} took: {e}"
        ) from None
    await _apply(
        uow,
        member_id,
        movement_rows(posted, member_id, "restore", shares, 1, restores_transaction_id=spend_transaction_id),
    )


async def take_back_credit(
    uow: UoW, posted: PostedTransaction, original: PostedTransaction, *, member_id: str
) -> None:
    """A reversed top-up takes back exactly what it added to its store's lot: refused when that
    store's lot no longer holds it (it was spent), even if other stores' lots would cover it."""
    credit_transaction_id = original.transaction_id
    locked = await uow.sv_lots.lock(member_id)
    lots = {lot.store_id: lot for lot in locked}
    added = await uow.sv_lots.moved_by(credit_transaction_id, "credit")
    if not added:  # a top-up from before stored value was attributed (migration 0008): its store first
        gave = {ledger.SV_PRINCIPAL.code: 0, ledger.SV_BONUS.code: 0}
        for p in original.postings:
            if p.account.owner == member_id and p.account.kind.code in gave:
                gave[p.account.kind.code] -= p.amount
        try:
            added = sv_lots.take(
                locked,
                principal=gave[ledger.SV_PRINCIPAL.code],
                bonus=gave[ledger.SV_BONUS.code],
                at_store=original.store_id or "",
            )
        except sv_lots.LotsShort as e:  # the ledger allowed the reversal, so the lots must cover it
            raise AssertionError(f"stored-value lots disagree with the ledger for {member_id}: {e}") from None
    for s in added:
        lot = lots.get(s.store_id)
        if lot is None or lot.principal < s.principal or lot.bonus < s.bonus:
            raise FailedPrecondition(
                "the stored value this top-up sold was spent already",
                reason="INSUFFICIENT_BALANCE",
                metadata={"store": f"stores/{s.store_id}"},
            )
    await _apply(
        uow,
        member_id,
        movement_rows(
            posted, member_id, "reversal", added, -1, restores_transaction_id=credit_transaction_id
        ),
    )
