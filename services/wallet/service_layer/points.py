"""Points (积分) by lot: every grant is a lot with its own expiry; spending takes the
soonest-expiring usable lots first and records which lots it took from, so a refund or a reversal
gives back exactly those points to exactly those lots.

Ledger side: granting debits `points_issued` and credits the member's points account; redeeming
moves points from the member to `points_redeemed`, expiry to `points_expired`. The member's
points balance always equals the sum of their lots' `remaining`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument
from kit.ids import new_id
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import ledger, rules
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

GRANT_SOURCES = ("purchase", "referral", "activity", "check_in", "birthday", "adjustment", "refund_restore")
_ISSUED = AccountKey(ledger.POINTS_ISSUED, "", ledger.POINTS)
_REDEEMED = AccountKey(ledger.POINTS_REDEEMED, "", ledger.POINTS)
_EXPIRED = AccountKey(ledger.POINTS_EXPIRED, "", ledger.POINTS)


def member_points(member_id: str) -> AccountKey:
    return AccountKey(ledger.MEMBER_POINTS, member_id, ledger.POINTS)


async def grant(
    uow: UoW,
    *,
    member_id: str,
    points: int,
    source: str,
    reason: str = "",
    store_id: str | None = None,
    draft: TransactionDraft | None = None,
) -> tuple[TransactionDraft, dict]:
    """Adds a grant to `draft` (or a new one) and returns the lot to insert once posted."""
    if points <= 0 or points > ledger.MAX_AMOUNT:
        raise InvalidArgument([("points", f"must be within 1..{ledger.MAX_AMOUNT}")])
    if source not in GRANT_SOURCES:
        raise InvalidArgument([("source", f"must be one of {', '.join(GRANT_SOURCES)}")])
    settings = await uow.settings.get()
    draft = draft or TransactionDraft(
        "points_earn", member_id=member_id, store_id=store_id, description=reason
    )
    return draft, plan_grant(
        settings,
        draft,
        member_id=member_id,
        points=points,
        source=source,
        reason=reason,
        now=datetime.now(UTC),
    )


def plan_grant(
    settings, draft: TransactionDraft, *, member_id: str, points: int, source: str, reason: str, now: datetime
) -> dict:
    """Adds a grant of `points` to `draft`; returns the lot to insert once posted (pure)."""
    draft.move(points, debit=_ISSUED, credit=member_points(member_id))
    pending_until = (
        now + timedelta(days=settings.pending_days)
        if settings.pending_days and source == "purchase"
        else None
    )
    return {
        "lot_id": new_id(),
        "member_id": member_id,
        "source": source,
        "original": points,
        "remaining": points,
        "earned_time": now,
        "expire_time": rules.points_expiry(
            now, settings.expiry_policy, months=settings.expiry_months, days=settings.expiry_days
        ),
        "pending_until": pending_until,
        "reason": reason,
    }


async def record_grant(uow: UoW, posted: PostedTransaction, lot: dict) -> None:
    await uow.lots.add(transaction_id=posted.transaction_id, **lot)


async def grant_points(
    uow: UoW, caller: Principal, *, member_id: str, points: int, source: str, reason: str
) -> tuple[PostedTransaction, dict]:
    caller.require(auth.WALLET_ADJUST if source == "adjustment" else auth.WALLET_WRITE)
    if source == "adjustment" and not reason.strip():
        raise InvalidArgument([("reason", "a staff adjustment needs a reason (it is audited)")])
    await uow.members.require(member_id)
    draft, lot = await grant(uow, member_id=member_id, points=points, source=source, reason=reason)
    draft.kind = "points_adjust" if source == "adjustment" else "points_earn"
    posted = await uow.ledger.post(draft)
    await record_grant(uow, posted, lot)
    return posted, lot


async def take(
    uow: UoW, *, member_id: str, points: int, sink: AccountKey, draft: TransactionDraft
) -> list[tuple[str, int]]:
    """Adds taking `points` from the member's lots (soonest-expiring first) to `draft`; returns the
    lot movements to record once posted. Locks the member's lots (domain rows before accounts)."""
    rows = await uow.lots.for_member(member_id, for_update=True)
    return plan_take(uow.lots.as_lots(rows), member_id=member_id, points=points, sink=sink, draft=draft)


def plan_take(
    lots: list,
    *,
    member_id: str,
    points: int,
    sink: AccountKey,
    draft: TransactionDraft,
    now: datetime | None = None,
) -> list[tuple[str, int]]:
    """Adds taking `points` from `lots` (soonest-expiring first) to `draft`; returns the lot
    movements (lot id, negative delta). Pure: the caller read (or locked) the lots."""
    try:
        taken = rules.consume_lots(lots, points, now or datetime.now(UTC))
    except ValueError:
        raise FailedPrecondition("not enough points", reason="INSUFFICIENT_POINTS") from None
    draft.move(points, debit=member_points(member_id), credit=sink)
    return [(lot_id, -n) for lot_id, n in taken]


async def deduct_points(
    uow: UoW, caller: Principal, *, member_id: str, points: int, reason: str
) -> PostedTransaction:
    """Staff adjustment downwards (reason + permission, audited through the ledger)."""
    caller.require(auth.WALLET_ADJUST)
    if not reason.strip():
        raise InvalidArgument([("reason", "a staff adjustment needs a reason (it is audited)")])
    if points <= 0 or points > ledger.MAX_AMOUNT:
        raise InvalidArgument([("points", f"must be within 1..{ledger.MAX_AMOUNT}")])
    await uow.members.require(member_id)
    draft = TransactionDraft("points_adjust", member_id=member_id, description=reason)
    movements = await take(uow, member_id=member_id, points=points, sink=_REDEEMED, draft=draft)
    posted = await uow.ledger.post(draft)
    await uow.lots.move(posted.transaction_id, movements)
    return posted


async def expire_lots(uow: UoW, member_id: str, now: datetime) -> PostedTransaction | None:
    """Expires every lot of one member whose time has come (the expiry job calls this)."""
    rows = await uow.lots.for_member(member_id, for_update=True)
    due = [
        (r.lot_id, r.remaining) for r in rows if r.remaining > 0 and r.expire_time and r.expire_time <= now
    ]
    total = sum(n for _, n in due)
    if not total:
        return None
    draft = TransactionDraft("points_expire", member_id=member_id, description="points expired").move(
        total, debit=member_points(member_id), credit=_EXPIRED
    )
    posted = await uow.ledger.post(draft)
    await uow.lots.move(posted.transaction_id, [(lot_id, -n) for lot_id, n in due])
    return posted
