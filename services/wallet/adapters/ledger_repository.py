"""Posting balanced transactions to PostgreSQL.

Concurrency: every account a transaction touches is locked with `SELECT … FOR UPDATE` in
account-id order (one fixed global order, so two postings can never deadlock on accounts), the
new balances are checked, and balances and postings are written in the caller's transaction.
Callers that also lock domain rows (holds, lots, packages) lock those first — the wallet's lock
order is always: domain rows, then accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.errors import NotFound
from kit.ids import new_id
from services.wallet.adapters import tables as t
from services.wallet.domain.ledger import KINDS, AccountKey, Posting, TransactionDraft, check_not_overdrawn


@dataclass
class PostedTransaction:
    transaction_id: str
    kind: str
    member_id: str | None
    store_id: str | None
    description: str
    reverses: str | None
    create_time: datetime
    postings: list[Posting]
    balances: dict[AccountKey, int]  # after the transaction, for every account it touched


class LedgerRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def _lock(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        by_id = {k.account_id(self.tenant): k for k in keys}
        stmt = (
            select(t.accounts.c.account_id, t.accounts.c.balance)
            .where(t.accounts.c.tenant_id == self.tenant, t.accounts.c.account_id.in_(sorted(by_id)))
            .order_by(t.accounts.c.account_id)
            .with_for_update()
        )
        rows = (await self.db.execute(stmt)).all()
        if len(rows) < len(by_id):
            missing = set(by_id) - {r.account_id for r in rows}
            await self.db.execute(
                pg_insert(t.accounts)
                .values(
                    [
                        {
                            "tenant_id": self.tenant,
                            "account_id": aid,
                            "kind": by_id[aid].kind.code,
                            "owner": by_id[aid].owner,
                            "unit": by_id[aid].unit,
                        }
                        for aid in sorted(missing)
                    ]
                )
                .on_conflict_do_nothing()
            )
            rows = (await self.db.execute(stmt)).all()
        return {by_id[r.account_id]: r.balance for r in rows}

    async def lock_balances(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        """Lock accounts (creating them empty if new) and return their balances."""
        return await self._lock(list(dict.fromkeys(keys)))

    async def balances(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        """Current balances without locking; accounts that do not exist yet read as 0."""
        by_id = {k.account_id(self.tenant): k for k in keys}
        rows = (
            await self.db.execute(
                select(t.accounts.c.account_id, t.accounts.c.balance).where(
                    t.accounts.c.tenant_id == self.tenant, t.accounts.c.account_id.in_(list(by_id))
                )
            )
        ).all()
        found = {by_id[r.account_id]: r.balance for r in rows}
        return {k: found.get(k, 0) for k in keys}

    async def post(self, draft: TransactionDraft) -> PostedTransaction:
        draft.validate()
        keys = list(dict.fromkeys(p.account for p in draft.postings))
        current = await self._lock(keys)
        deltas: dict[AccountKey, int] = {}
        for p in draft.postings:
            deltas[p.account] = deltas.get(p.account, 0) + p.amount
        after = {k: current[k] + deltas.get(k, 0) for k in keys}
        for key, balance in after.items():
            check_not_overdrawn(key, balance)

        transaction_id = new_id()
        create_time = (
            await self.db.execute(
                insert(t.ledger_transactions)
                .values(
                    tenant_id=self.tenant,
                    transaction_id=transaction_id,
                    kind=draft.kind,
                    member_id=draft.member_id,
                    store_id=draft.store_id,
                    description=draft.description,
                    reverses=draft.reverses,
                )
                .returning(t.ledger_transactions.c.create_time)
            )
        ).scalar_one()
        await self.db.execute(
            insert(t.postings),
            [
                {
                    "tenant_id": self.tenant,
                    "transaction_id": transaction_id,
                    "account_id": p.account.account_id(self.tenant),
                    "amount": p.amount,
                    "unit": p.account.unit,
                }
                for p in draft.postings
            ],
        )
        changed = [(k, d) for k, d in deltas.items() if d]
        if changed:
            await self.db.execute(
                update(t.accounts)
                .where(t.accounts.c.tenant_id == self.tenant, t.accounts.c.account_id == bindparam("aid"))
                .values(balance=t.accounts.c.balance + bindparam("delta")),
                [{"aid": k.account_id(self.tenant), "delta": d} for k, d in changed],
            )
        return PostedTransaction(
            transaction_id=transaction_id,
            kind=draft.kind,
            member_id=draft.member_id,
            store_id=draft.store_id,
            description=draft.description,
            reverses=draft.reverses,
            create_time=create_time,
            postings=list(draft.postings),
            balances=after,
        )

    async def get(self, transaction_id: str, *, for_update: bool = False) -> PostedTransaction:
        stmt = select(t.ledger_transactions).where(
            t.ledger_transactions.c.tenant_id == self.tenant,
            t.ledger_transactions.c.transaction_id == transaction_id,
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        if row is None:
            raise NotFound(f"transaction {transaction_id} not found", reason="TRANSACTION_NOT_FOUND")
        posting_rows = (
            await self.db.execute(
                select(t.postings.c.amount, t.accounts.c.kind, t.accounts.c.owner, t.accounts.c.unit)
                .join(
                    t.accounts,
                    (t.accounts.c.tenant_id == t.postings.c.tenant_id)
                    & (t.accounts.c.account_id == t.postings.c.account_id),
                )
                .where(t.postings.c.tenant_id == self.tenant, t.postings.c.transaction_id == transaction_id)
                .order_by(t.postings.c.posting_id)
            )
        ).all()
        return PostedTransaction(
            transaction_id=row.transaction_id,
            kind=row.kind,
            member_id=row.member_id,
            store_id=row.store_id,
            description=row.description,
            reverses=row.reverses,
            create_time=row.create_time,
            postings=[Posting(AccountKey(KINDS[r.kind], r.owner, r.unit), r.amount) for r in posting_rows],
            balances={},
        )

    async def reversed_by(self, transaction_id: str) -> str | None:
        return (
            await self.db.execute(
                select(t.ledger_transactions.c.transaction_id).where(
                    t.ledger_transactions.c.tenant_id == self.tenant,
                    t.ledger_transactions.c.reverses == transaction_id,
                )
            )
        ).scalar_one_or_none()
