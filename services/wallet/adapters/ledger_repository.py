"""Posting balanced transactions to PostgreSQL.

Concurrency: the member-owned accounts a transaction touches — the only ones that may never be
overdrawn — are locked with `SELECT … FOR UPDATE` in account-id order, their new balances are
checked, and balances and postings are written in the caller's transaction. Callers that also
lock domain rows (holds, lots, packages) lock those first: domain rows, then member accounts.

Tenant-side accounts (tenders, revenue, expenses, deferred revenue, issuance counters) are never
locked and their `balance` column is not maintained: every top-up at a store would otherwise
queue on that store's tender row, and locking them alongside member accounts is how lock-order
cycles (deadlocks) appear. Their balance is, by definition, the sum of their postings (what the
finance views compute); postings remain the single source of truth for every account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.errors import NotFound
from kit.ids import new_id
from services.wallet.adapters import tables as t
from services.wallet.domain.ledger import (
    KINDS,
    AccountKey,
    Normal,
    Posting,
    TransactionDraft,
    check_not_overdrawn,
)


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
    request_id: str = ""
    reference: str = ""
    reversed_by: str | None = None  # filled by reads; a new transaction is not reversed


def reversed_by_column():
    """The id of the transaction reversing each `ledger_transactions` row (a correlated scalar)."""
    r = t.ledger_transactions.alias("reversal")
    return (
        select(r.c.transaction_id)
        .where(r.c.tenant_id == t.ledger_transactions.c.tenant_id)
        .where(r.c.reverses == t.ledger_transactions.c.transaction_id)
        .correlate(t.ledger_transactions)
        .scalar_subquery()
        .label("reversed_by")
    )


_LEDGER_POST = text(
    "SELECT create_time, overdrawn, overdrawn_balance, balance_ids, balances FROM ledger_post("
    ":tenant, :transaction_id, :kind, :member_id, :store_id, :description, :reverses, :request_id,"
    " :reference, :new_ids, :new_kinds, :new_owners, :new_units, :guarded_ids, :guarded_deltas,"
    " :guarded_signs, :guarded_expected, :posting_ids, :posting_amounts, :posting_units)"
)

# (database, tenant, account id) of account rows known to exist, so a posting only inserts rows
# it needs.
_KNOWN_ACCOUNTS: set[tuple[str, str, str]] = set()


class LedgerRepository:
    def __init__(
        self,
        db: AsyncSession | AsyncConnection | None,
        tenant: str,
        request_id: Callable[[], str] = lambda: "",
        *,
        database: str | None = None,
    ):
        """`db` None with `database` (the engine's URL as str()): only for `accounts_to_create`
        and `mark_committed`, when the transaction is posted some other way (`wallet_apply`)."""
        self.db = db  # type: ignore[assignment]
        self.tenant = tenant
        self._request_id = request_id  # of the mutation posting, read at post time
        self._created: list[tuple[str, str, str]] = []
        engine = getattr(db, "bind", None) or getattr(db, "engine", None)
        self._database = database if database is not None else (str(engine.url) if engine is not None else "")

    async def _insert(self, keys: list[AccountKey]) -> None:
        await self.db.execute(
            pg_insert(t.accounts)
            .values(
                [
                    {
                        "tenant_id": self.tenant,
                        "account_id": k.account_id(self.tenant),
                        "kind": k.kind.code,
                        "owner": k.owner,
                        "unit": k.unit,
                    }
                    for k in sorted(keys, key=lambda k: k.account_id(self.tenant))
                ]
            )
            .on_conflict_do_nothing()
        )

    async def _lock(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        """Lock member-owned accounts in id order (creating missing ones) and read their balances."""
        by_id = {k.account_id(self.tenant): k for k in keys}
        if not by_id:
            return {}
        stmt = (
            select(t.accounts.c.account_id, t.accounts.c.balance)
            .where(t.accounts.c.tenant_id == self.tenant, t.accounts.c.account_id.in_(sorted(by_id)))
            .order_by(t.accounts.c.account_id)
            .with_for_update()
        )
        rows = (await self.db.execute(stmt)).all()
        if len(rows) < len(by_id):
            missing = set(by_id) - {r.account_id for r in rows}
            await self._insert([by_id[aid] for aid in missing])
            rows = (await self.db.execute(stmt)).all()
        return {by_id[r.account_id]: r.balance for r in rows}

    def _known(self, key: AccountKey) -> bool:
        return (self._database, self.tenant, key.account_id(self.tenant)) in _KNOWN_ACCOUNTS

    def accounts_to_create(self, draft: TransactionDraft) -> list[AccountKey]:
        """The tenant-side accounts of `draft` not known to exist (a caller posting it some other
        way, e.g. `wallet_apply`, has them created; `mark_committed` remembers them)."""
        new = [
            k
            for k in dict.fromkeys(p.account for p in draft.postings)
            if not k.kind.guarded and not self._known(k)
        ]
        self._created.extend((self._database, self.tenant, k.account_id(self.tenant)) for k in new)
        return new

    def mark_committed(self) -> None:
        """Called after commit: the account rows this transaction created now surely exist."""
        _KNOWN_ACCOUNTS.update(self._created)
        self._created = []

    async def lock_balances(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        """Lock member-owned accounts (creating them empty if new) and return their balances."""
        keys = list(dict.fromkeys(keys))
        assert all(k.kind.guarded for k in keys), "only member-owned accounts are locked"
        return await self._lock(keys)

    async def balances(self, keys: list[AccountKey]) -> dict[AccountKey, int]:
        """Current balances of member-owned accounts without locking (new accounts read as 0)."""
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

    async def post_credits(self, drafts: list[tuple[str, TransactionDraft]]) -> None:
        """Posts many (transaction id, draft) pairs at once, set-based (bulk import's opening
        balances: thousands of transactions a second, where ``ledger_post`` per transaction
        manages a few hundred). The same rows and rules as ``ledger_post``: accounts created when
        missing, member-owned accounts locked in id order, the transactions, their postings (in
        each draft's order) and the member accounts' balances moved by exactly their postings.

        Only for drafts that cannot overdraw — every member-owned account moved in its normal
        direction (a credit to a liability) — so there is no overdraft to report (the CHECK on
        ``accounts`` stays the backstop)."""
        if not drafts:
            return
        tenant = self.tenant
        keys: dict[str, AccountKey] = {}
        deltas: dict[str, int] = {}
        transactions, p_tx, p_acc, p_amount, p_unit = [], [], [], [], []
        request_id = self._request_id()
        for transaction_id, draft in drafts:
            draft.validate()
            for p in draft.postings:
                aid = p.account.account_id(tenant)
                keys[aid] = p.account
                if p.account.kind.guarded:
                    if (p.amount > 0) != (p.account.kind.normal is Normal.DEBIT):
                        raise AssertionError(
                            f"post_credits takes credits to member accounts only ({draft.kind})"
                        )
                    deltas[aid] = deltas.get(aid, 0) + p.amount
                p_tx.append(transaction_id)
                p_acc.append(aid)
                p_amount.append(p.amount)
                p_unit.append(p.account.unit)
            transactions.append(
                {
                    "tenant_id": tenant,
                    "transaction_id": transaction_id,
                    "kind": draft.kind,
                    "member_id": draft.member_id,
                    "store_id": draft.store_id,
                    "description": draft.description,
                    "reverses": draft.reverses,
                    "request_id": request_id,
                    "reference": draft.reference,
                }
            )
        new = sorted(aid for aid, k in keys.items() if k.kind.guarded or not self._known(k))
        await self.db.execute(
            text(
                "INSERT INTO accounts (tenant_id, account_id, kind, owner, unit)"
                " SELECT :tenant, n.id, n.kind, n.owner, n.unit FROM unnest(CAST(:ids AS uuid[]),"
                " CAST(:kinds AS text[]), CAST(:owners AS text[]), CAST(:units AS text[]))"
                " AS n(id, kind, owner, unit) ORDER BY n.id ON CONFLICT DO NOTHING"
            ),
            {
                "tenant": tenant,
                "ids": new,
                "kinds": [keys[a].kind.code for a in new],
                "owners": [keys[a].owner for a in new],
                "units": [keys[a].unit for a in new],
            },
        )
        guarded = sorted(deltas)
        await self.db.execute(
            text(
                "SELECT 1 FROM accounts WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[]))"
                " ORDER BY account_id FOR UPDATE"
            ),
            {"tenant": tenant, "ids": guarded},
        )
        await self.db.execute(insert(t.ledger_transactions), transactions)
        await self.db.execute(
            text(
                "INSERT INTO postings (tenant_id, transaction_id, account_id, amount, unit)"
                " SELECT :tenant, p.tx, p.acc, p.amount, p.unit FROM unnest(CAST(:tx AS uuid[]),"
                " CAST(:acc AS uuid[]), CAST(:amount AS bigint[]), CAST(:unit AS text[]))"
                " WITH ORDINALITY AS p(tx, acc, amount, unit, n) ORDER BY p.n"
            ),
            {"tenant": tenant, "tx": p_tx, "acc": p_acc, "amount": p_amount, "unit": p_unit},
        )
        await self.db.execute(
            text(
                "UPDATE accounts a SET balance = a.balance + d.delta"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:deltas AS bigint[])) AS d(id, delta)"
                " WHERE a.tenant_id = :tenant AND a.account_id = d.id"
            ),
            {"tenant": tenant, "ids": guarded, "deltas": [deltas[a] for a in guarded]},
        )

    async def post(
        self, draft: TransactionDraft, *, assumed: dict[AccountKey, int] | None = None
    ) -> PostedTransaction:
        """Applies `draft` in one round trip (the `ledger_post` function, migration 0010).

        `assumed`: the balances of member-owned accounts the draft was planned on, read without a
        lock; if any changed since, the database raises 40001 and the unit of work re-runs (the
        caller re-plans). Without it the caller holds those accounts' locks already, or the draft
        does not depend on their balances."""
        draft.validate()
        assumed = assumed or {}
        keys = list(dict.fromkeys(p.account for p in draft.postings))
        deltas: dict[AccountKey, int] = {}
        for p in draft.postings:
            deltas[p.account] = deltas.get(p.account, 0) + p.amount
        guarded = sorted((k for k in keys if k.kind.guarded), key=lambda k: k.account_id(self.tenant))
        tenant_side = [k for k in keys if not k.kind.guarded]
        # Member accounts are always ensured (the lock needs the row); tenant-side ones once.
        new = guarded + [k for k in tenant_side if not self._known(k)]
        transaction_id = new_id()
        request_id = self._request_id()
        row = (
            await self.db.execute(
                _LEDGER_POST,
                {
                    "tenant": self.tenant,
                    "transaction_id": transaction_id,
                    "kind": draft.kind,
                    "member_id": draft.member_id,
                    "store_id": draft.store_id,
                    "description": draft.description,
                    "reverses": draft.reverses,
                    "request_id": request_id,
                    "reference": draft.reference,
                    "new_ids": [k.account_id(self.tenant) for k in new],
                    "new_kinds": [k.kind.code for k in new],
                    "new_owners": [k.owner for k in new],
                    "new_units": [k.unit for k in new],
                    "guarded_ids": [k.account_id(self.tenant) for k in guarded],
                    "guarded_deltas": [deltas[k] for k in guarded],
                    "guarded_signs": [-1 if k.kind.normal is Normal.CREDIT else 1 for k in guarded],
                    "guarded_expected": [assumed.get(k) for k in guarded],
                    "posting_ids": [p.account.account_id(self.tenant) for p in draft.postings],
                    "posting_amounts": [p.amount for p in draft.postings],
                    "posting_units": [p.account.unit for p in draft.postings],
                },
            )
        ).one()
        self._created.extend(
            (self._database, self.tenant, k.account_id(self.tenant)) for k in new if not k.kind.guarded
        )
        by_id = {k.account_id(self.tenant): k for k in guarded}
        if row.overdrawn is not None:
            check_not_overdrawn(by_id[str(row.overdrawn)], row.overdrawn_balance)
            raise AssertionError("ledger_post refused a balance the ledger rules allow")  # a bug
        after = {by_id[str(aid)]: balance for aid, balance in zip(row.balance_ids, row.balances, strict=True)}
        return PostedTransaction(
            transaction_id=transaction_id,
            kind=draft.kind,
            member_id=draft.member_id,
            store_id=draft.store_id,
            description=draft.description,
            reverses=draft.reverses,
            create_time=row.create_time,
            postings=list(draft.postings),
            balances=after,
            request_id=request_id,
            reference=draft.reference,
        )

    async def get(self, transaction_id: str, *, for_update: bool = False) -> PostedTransaction:
        stmt = select(t.ledger_transactions, reversed_by_column()).where(
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
            request_id=row.request_id,
            reference=row.reference,
            reversed_by=row.reversed_by,
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
