"""The wallet's side of `peony import`: imported members' opening balances.

Each accepted row with any balance becomes ONE balanced ledger transaction (kind
``opening_balance``, reference ``imports/{import}``) posted through ``ledger_post`` — the path
every wallet transaction takes, so balances stay the sum of their postings — against the tenant's
``opening_balance`` account (one per unit):

    principal  debit opening_balance (CNY)      credit sv_principal (member)
    bonus      debit opening_balance (CNY)      credit sv_bonus (member)
    points     debit opening_balance (PTS)      credit points (member)      + a lot with its expiry
    sessions   debit opening_balance (SESSION)  credit package_item (card:service) per item
                                                + the card and its items with their expiry

plus the stored value's attribution to the member's home store (``stored_value_lots``). A batch
is one database transaction, recorded row by row in ``wallet_import_rows`` (primary key tenant,
import, row), so a re-run skips what a previous run committed. Ids are UUIDv5 of (tenant, import,
row): a re-run after a crash writes the very rows the crashed run would have.

Imported cards carry no money of their own: the legacy system's deferred revenue is not in the
export, so the items' allocated and deferred values are 0 (consuming them recognises no revenue).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.wallet.adapters import package_tables as pt
from services.wallet.adapters import tables as t
from services.wallet.adapters import voucher_tables as vt
from services.wallet.adapters.import_tables import wallet_import_rows
from services.wallet.adapters.ledger_repository import LedgerRepository
from services.wallet.adapters.repository import SettingsRepository
from services.wallet.domain import ledger
from services.wallet.domain.ledger import AccountKey, TransactionDraft

OPENING = "opening_balance"
IMPORT_SOURCE = "import"  # point_lots.source of an imported lot
_NS = uuid.UUID("5d1c2a9e-7b0f-4e58-a1c3-2f9e8d6b4a10")


@dataclass(frozen=True)
class OpeningItem:
    service: str  # services/{id}
    display_name: str
    sessions: int
    expire_time: datetime | None


@dataclass(frozen=True)
class OpeningBalance:
    row: int
    member_id: str
    store_id: str  # the member's home store: it holds the stored value
    principal_minor: int
    bonus_minor: int
    points: int
    points_expire_time: datetime | None
    items: tuple[OpeningItem, ...]

    @property
    def empty(self) -> bool:
        return not (self.principal_minor or self.bonus_minor or self.points or self.items)


@dataclass(frozen=True)
class ImportedVoucher:
    row: int
    member_id: str
    code: str
    display_name: str
    amount_off_minor: int
    min_spend_minor: int
    valid_until: datetime | None


def import_reference(import_id: str) -> str:
    return f"imports/{import_id}"


class OpeningBalanceImporter:
    def __init__(self, engine: AsyncEngine, tenant: str):
        self.engine = engine
        self.tenant = tenant

    def _id(self, import_id: str, row: int, what: str) -> str:
        return str(uuid.uuid5(_NS, f"{self.tenant}|{import_id}|{row}|{what}"))

    async def currency(self) -> str:
        async with self.engine.connect() as conn:
            return (await SettingsRepository(conn, self.tenant).get()).currency_code

    async def apply(
        self, conn: AsyncConnection, import_id: str, batch: list[OpeningBalance], *, currency: str
    ) -> int:
        """Applies one batch in one transaction on ``conn`` and commits; returns the rows it wrote
        (rows an earlier run recorded are skipped). A second run of the same import racing this
        one loses on the primary key of ``wallet_import_rows``: the batch is then applied again,
        and finds those rows recorded."""
        for attempt in range(3):
            try:
                written = await self._apply(conn, import_id, batch, currency)
                await conn.commit()
                return written
            except IntegrityError:
                await conn.rollback()
                if attempt == 2:
                    raise
            except BaseException:
                await conn.rollback()
                raise
        raise AssertionError("unreachable")

    async def _apply(
        self, conn: AsyncConnection, import_id: str, batch: list[OpeningBalance], currency: str
    ) -> int:
        if not batch:
            return 0
        r = wallet_import_rows.c
        done = set(
            (
                await conn.execute(
                    select(r.row_number).where(
                        r.tenant_id == self.tenant,
                        r.import_id == import_id,
                        r.row_number.in_([b.row for b in batch]),
                    )
                )
            ).scalars()
        )
        fresh = [b for b in batch if b.row not in done]
        if not fresh:
            return 0
        now = datetime.now(UTC)
        reference = import_reference(import_id)
        money = AccountKey(ledger.OPENING_BALANCE, "", currency)
        points_side = AccountKey(ledger.OPENING_BALANCE, "", ledger.POINTS)
        sessions_side = AccountKey(ledger.OPENING_BALANCE, "", ledger.SESSIONS)
        drafts: list[tuple[str, TransactionDraft]] = []
        sv_lots, sv_moves, lots, packages, items, records = [], [], [], [], [], []
        for b in fresh:
            txn = self._id(import_id, b.row, "transaction") if not b.empty else None
            records.append(
                {
                    "tenant_id": self.tenant,
                    "import_id": import_id,
                    "row_number": b.row,
                    "member_id": b.member_id,
                    "transaction_id": txn,
                }
            )
            if txn is None:
                continue
            draft = TransactionDraft(
                OPENING,
                member_id=b.member_id,
                store_id=b.store_id,
                description=f"opening balance: import {import_id} row {b.row}",
                reference=reference,
            )
            draft.move(
                b.principal_minor, debit=money, credit=AccountKey(ledger.SV_PRINCIPAL, b.member_id, currency)
            )
            draft.move(b.bonus_minor, debit=money, credit=AccountKey(ledger.SV_BONUS, b.member_id, currency))
            draft.move(
                b.points,
                debit=points_side,
                credit=AccountKey(ledger.MEMBER_POINTS, b.member_id, ledger.POINTS),
            )
            if b.principal_minor or b.bonus_minor:
                sv_lots.append(
                    {
                        "tenant_id": self.tenant,
                        "member_id": b.member_id,
                        "store_id": b.store_id,
                        "principal_minor": b.principal_minor,
                        "bonus_minor": b.bonus_minor,
                    }
                )
                sv_moves.append(
                    {
                        "tenant_id": self.tenant,
                        "transaction_id": txn,
                        "member_id": b.member_id,
                        "store_id": b.store_id,
                        "at_store_id": b.store_id,
                        "kind": "credit",
                        "principal_minor": b.principal_minor,
                        "bonus_minor": b.bonus_minor,
                    }
                )
            if b.points:
                lots.append(
                    {
                        "tenant_id": self.tenant,
                        "lot_id": self._id(import_id, b.row, "lot"),
                        "member_id": b.member_id,
                        "source": IMPORT_SOURCE,
                        "original": b.points,
                        "remaining": b.points,
                        "earned_time": now,
                        "expire_time": b.points_expire_time,
                        "reason": f"opening balance: import {import_id} row {b.row}",
                        "transaction_id": txn,
                    }
                )
            if b.items:
                package_id = self._id(import_id, b.row, "package")
                for item in b.items:
                    draft.move(
                        item.sessions,
                        debit=sessions_side,
                        credit=AccountKey(
                            ledger.PACKAGE_ITEM, f"{package_id}:{item.service}", ledger.SESSIONS
                        ),
                    )
                    items.append(
                        {
                            "tenant_id": self.tenant,
                            "package_id": package_id,
                            "service": item.service,
                            "display_name": item.display_name,
                            "sessions_total": item.sessions,
                            "sessions_remaining": item.sessions,
                            "allocated_minor": 0,
                            "session_value_minor": 0,
                            "deferred_minor": 0,
                            "expire_time": item.expire_time,
                        }
                    )
                packages.append(
                    {
                        "tenant_id": self.tenant,
                        "package_id": package_id,
                        "member_id": b.member_id,
                        "product_id": "import",
                        "display_name": " + ".join(i.display_name for i in b.items)[:200],
                        "state": "active",
                        "price_minor": 0,
                        "store_sold": b.store_id,
                        "purchase_time": now,
                        "sale_transaction_id": txn,
                    }
                )
            drafts.append((txn, draft))
        # Lock order as every wallet writer: the member's accounts (ledger_post), then its lots.
        await LedgerRepository(conn, self.tenant).post_credits(drafts)
        if sv_lots:
            stmt = pg_insert(t.stored_value_lots)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "member_id", "store_id"],
                    set_={
                        "principal_minor": t.stored_value_lots.c.principal_minor
                        + stmt.excluded.principal_minor,
                        "bonus_minor": t.stored_value_lots.c.bonus_minor + stmt.excluded.bonus_minor,
                    },
                ),
                sv_lots,
            )
            await conn.execute(insert(t.stored_value_lot_movements), sv_moves)
        if lots:
            await conn.execute(insert(t.point_lots), lots)
        if packages:
            await conn.execute(insert(pt.member_packages), packages)
            await conn.execute(insert(pt.member_package_items), items)
        await conn.execute(insert(wallet_import_rows), records)
        return len(fresh)

    async def reconcile(self, import_id: str, currency: str) -> dict[str, int]:
        """What the ledger holds for an import: Σ principal, bonus, points and sessions credited by
        its opening transactions, the opening accounts' debits, and how many (transaction, unit)
        pairs do not balance (must be 0)."""
        sums = text(
            "SELECT a.kind, a.unit, sum(p.amount) AS total FROM ledger_transactions lt"
            " JOIN postings p ON p.tenant_id = lt.tenant_id AND p.transaction_id = lt.transaction_id"
            " JOIN accounts a ON a.tenant_id = p.tenant_id AND a.account_id = p.account_id"
            " WHERE lt.tenant_id = :tenant AND lt.kind = :kind AND lt.reference = :ref"
            " GROUP BY a.kind, a.unit"
        )
        unbalanced = text(
            "SELECT count(*) FROM (SELECT p.transaction_id, p.unit FROM ledger_transactions lt"
            " JOIN postings p ON p.tenant_id = lt.tenant_id AND p.transaction_id = lt.transaction_id"
            " WHERE lt.tenant_id = :tenant AND lt.kind = :kind AND lt.reference = :ref"
            " GROUP BY p.transaction_id, p.unit HAVING sum(p.amount) <> 0) AS u"
        )
        args = {"tenant": self.tenant, "kind": OPENING, "ref": import_reference(import_id)}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sums, args)).all()
            bad = (await conn.execute(unbalanced, args)).scalar_one()
            transactions = (
                await conn.execute(
                    select(func.count()).where(
                        t.ledger_transactions.c.tenant_id == self.tenant,
                        t.ledger_transactions.c.kind == OPENING,
                        t.ledger_transactions.c.reference == import_reference(import_id),
                    )
                )
            ).scalar_one()
        by = {(r.kind, r.unit): int(r.total) for r in rows}
        return {
            "principal_minor": -by.get((ledger.SV_PRINCIPAL.code, currency), 0),
            "bonus_minor": -by.get((ledger.SV_BONUS.code, currency), 0),
            "points": -by.get((ledger.MEMBER_POINTS.code, ledger.POINTS), 0),
            "sessions": -by.get((ledger.PACKAGE_ITEM.code, ledger.SESSIONS), 0),
            "opening_money_debit": by.get((ledger.OPENING_BALANCE.code, currency), 0),
            "opening_points_debit": by.get((ledger.OPENING_BALANCE.code, ledger.POINTS), 0),
            "opening_sessions_debit": by.get((ledger.OPENING_BALANCE.code, ledger.SESSIONS), 0),
            "opening_transactions": transactions,
            "unbalanced_transactions": bad,
        }

    async def apply_vouchers(
        self, conn: AsyncConnection, import_id: str, batch: list[ImportedVoucher], *, dry_run: bool = False
    ) -> dict[int, bool]:
        """Issues a batch of legacy vouchers (amount off, all stores) in one transaction; answers
        row -> True (issued now or by an earlier run) / False (its code is taken: rejected). A
        voucher is a promise, not money on an account, so it has no ledger transaction."""
        for attempt in range(3):
            try:
                result = await self._apply_vouchers(conn, import_id, batch, dry_run)
                await (conn.rollback() if dry_run else conn.commit())
                return result
            except IntegrityError:  # a code taken since the check, or a concurrent run
                await conn.rollback()
                if attempt == 2:
                    raise
            except BaseException:
                await conn.rollback()
                raise
        raise AssertionError("unreachable")

    async def _apply_vouchers(
        self, conn: AsyncConnection, import_id: str, batch: list[ImportedVoucher], dry_run: bool
    ) -> dict[int, bool]:
        r = wallet_import_rows.c
        done = set(
            (
                await conn.execute(
                    select(r.row_number).where(
                        r.tenant_id == self.tenant,
                        r.import_id == import_id,
                        r.row_number.in_([v.row for v in batch]),
                    )
                )
            ).scalars()
        )
        fresh = [v for v in batch if v.row not in done]
        taken = set(
            (
                await conn.execute(
                    select(vt.vouchers.c.code).where(
                        vt.vouchers.c.tenant_id == self.tenant,
                        vt.vouchers.c.code.in_([v.code for v in fresh]),
                    )
                )
            ).scalars()
        )
        result = dict.fromkeys(done, True)
        rows, records = [], []
        now = datetime.now(UTC)
        for v in fresh:
            if v.code in taken:
                result[v.row] = False
                continue
            taken.add(v.code)
            result[v.row] = True
            rows.append(
                {
                    "tenant_id": self.tenant,
                    "voucher_id": self._id(import_id, v.row, "voucher"),
                    "member_id": v.member_id,
                    "template_id": "import",
                    "code": v.code,
                    "state": "issued",
                    "display_name": v.display_name or "legacy voucher",
                    "kind": "amount_off",
                    "amount_off_minor": v.amount_off_minor,
                    "min_spend_minor": v.min_spend_minor,
                    "valid_from": now,
                    "valid_until": v.valid_until,
                    "reason": f"import {import_id}",
                }
            )
            records.append(
                {
                    "tenant_id": self.tenant,
                    "import_id": import_id,
                    "row_number": v.row,
                    "member_id": v.member_id,
                }
            )
        if rows:
            await conn.execute(insert(vt.vouchers), rows)
            await conn.execute(insert(wallet_import_rows), records)
        return result

    async def voucher_totals(self, import_id: str) -> dict[str, int]:
        """The vouchers an import issued: how many and Σ amount off."""
        c = vt.vouchers.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.sum(c.amount_off_minor), 0)).where(
                        c.tenant_id == self.tenant, c.reason == f"import {import_id}"
                    )
                )
            ).one()
        return {"vouchers": int(row[0]), "amount_minor": int(row[1])}
