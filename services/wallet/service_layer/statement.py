"""Reading the ledger as a member's statement: one transaction, or a page of them."""

from __future__ import annotations

from datetime import datetime

from kit.auth import Principal
from kit.errors import NotFound
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.adapters.repository import StatementRepository
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


async def transaction(uow: UoW, caller: Principal, transaction_id: str, member_id: str | None, name: str):
    """The transaction `name` (its id, and the member its name is under, if any) as `caller` may
    see it: one under another member's name is NOT_FOUND."""
    try:
        posted = await uow.ledger.get(transaction_id)
    except NotFound:
        raise
    except Exception:
        raise NotFound(f"{name} not found", reason="TRANSACTION_NOT_FOUND") from None
    if member_id is not None and posted.member_id != member_id:
        raise NotFound(f"{name} not found", reason="TRANSACTION_NOT_FOUND")
    if posted.member_id:
        caller.require_member(f"members/{posted.member_id}")
    return posted


async def page(
    uow: UoW,
    member_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None,
    store_id: str | None,
    start: datetime | None,
    end: datetime | None,
    kinds: list[str],
) -> list[PostedTransaction]:
    await uow.members.require(member_id)
    return await StatementRepository(uow.session, uow.tenant).page(
        member_id, limit=limit, before=before, store_id=store_id, start=start, end=end, kinds=kinds
    )
