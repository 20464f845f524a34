"""Finance views (domain.md §3): stored-value and points liability, package deferred revenue and
inter-store clearing. Read-only, computed from the ledger — the postings are the truth; domain
rows are read only for what the ledger cannot say (which store sold a package card, how a hold
was funded, which points are still pending, which store consumed a session).

`as_of` counts a posting when its ledger transaction's `create_time <= as_of`.

Stored-value attribution: each member's stored value is owed by the store that sold it (the
top-up's store), kept as lots per selling store and their movements, written with every ledger
transaction that moves stored value (services/wallet/domain/sv_lots.py). A store's liability is
the sum of its lots' movements up to `as_of`: what it sold less what was spent, refunded or
reversed out of it, wherever that happened. Value reserved by holds stays in its lots until
captured, so the rows include held value as the proto says, never go negative, and add up to
the total owed (sum of member `sv_principal` + `sv_bonus` + `sv_held` balances).

Inter-store clearing: package sessions (from `package_consumptions`, refund rows netted) plus
stored-value principal taken from one store's lots at another store (checkout, package bought
with stored value, captured hold, stored-value refund), less what refunds of those gave back —
what the selling store owes the store that delivered (or paid out). Bonus is the selling store's
own promotion and is not cleared (`ClearingEntry.stored_value_minor` is principal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text

from kit import auth
from kit.auth import Principal
from kit.errors import InvalidArgument
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

MINOR_PER_MAJOR = 100  # fen per yuan; the redemption rate is in points per major unit


@dataclass
class StoreLiability:
    store_id: str
    principal: int = 0
    bonus: int = 0
    locked_bonus: int = 0


@dataclass
class StoredValueLiability:
    as_of: datetime
    currency: str
    rows: list[StoreLiability] = field(default_factory=list)

    @property
    def total_principal(self) -> int:
        return sum(r.principal for r in self.rows)

    @property
    def total_bonus(self) -> int:
        return sum(r.bonus for r in self.rows)


@dataclass
class PointsLiability:
    as_of: datetime
    currency: str
    outstanding: int
    pending: int
    valued_minor: int


@dataclass
class StoreDeferred:
    store_id: str
    deferred: int = 0
    sessions: int = 0


@dataclass
class DeferredRevenue:
    as_of: datetime
    currency: str
    rows: list[StoreDeferred]

    @property
    def total(self) -> int:
        return sum(r.deferred for r in self.rows)


@dataclass
class ClearingRow:
    sold_store: str
    consumed_store: str
    package_minor: int
    stored_value_minor: int = 0

    @property
    def amount_minor(self) -> int:
        return self.package_minor + self.stored_value_minor


# Movements are written in their ledger transaction, so `create_time` is the transaction's.
_SV_LOTS_BY_STORE = text(
    """
    SELECT store_id, sum(principal_minor) AS principal, sum(bonus_minor) AS bonus
    FROM stored_value_lot_movements
    WHERE tenant_id = :t AND create_time <= :as_of
    GROUP BY store_id
    """
)

# Bonus promised by monthly plans and not released (nor voided) at as_of.
_LOCKED_BONUS_BY_STORE = text(
    """
    SELECT b.store_id, sum(b.amount_minor) AS locked
    FROM bonus_releases b
    JOIN ledger_transactions tu ON tu.tenant_id = b.tenant_id AND tu.transaction_id = b.top_up_transaction_id
    LEFT JOIN ledger_transactions s ON s.tenant_id = b.tenant_id AND s.transaction_id = b.transaction_id
    WHERE b.tenant_id = :t AND tu.create_time <= :as_of
      AND (s.transaction_id IS NULL OR s.create_time > :as_of)
    GROUP BY b.store_id
    """
)

_SUM_KIND = text(
    """
    SELECT coalesce(-sum(p.amount), 0)
    FROM postings p
    JOIN accounts a ON a.tenant_id = p.tenant_id AND a.account_id = p.account_id
    JOIN ledger_transactions lt ON lt.tenant_id = p.tenant_id AND lt.transaction_id = p.transaction_id
    WHERE p.tenant_id = :t AND a.kind = :kind AND lt.create_time <= :as_of
    """
)

# Points of lots granted by as_of, still pending at as_of, as they stood at as_of.
_POINTS_PENDING = text(
    """
    SELECT coalesce(sum(l.original + coalesce((
        SELECT sum(m.delta) FROM lot_movements m
        JOIN ledger_transactions mt ON mt.tenant_id = m.tenant_id AND mt.transaction_id = m.transaction_id
        WHERE m.tenant_id = l.tenant_id AND m.lot_id = l.lot_id AND mt.create_time <= :as_of), 0)), 0)
    FROM point_lots l
    JOIN ledger_transactions g ON g.tenant_id = l.tenant_id AND g.transaction_id = l.transaction_id
    WHERE l.tenant_id = :t AND g.create_time <= :as_of AND l.pending_until > :as_of
    """
)

_DEFERRED_BY_STORE = text(
    """
    SELECT a.owner AS store_id, -sum(p.amount) AS deferred
    FROM postings p
    JOIN accounts a ON a.tenant_id = p.tenant_id AND a.account_id = p.account_id
    JOIN ledger_transactions lt ON lt.tenant_id = p.tenant_id AND lt.transaction_id = p.transaction_id
    WHERE p.tenant_id = :t AND a.kind = 'deferred_package_revenue' AND a.unit = :cur
      AND lt.create_time <= :as_of
    GROUP BY a.owner
    """
)

# package_item(_held) accounts are owned by "{package_id}:{service}"; the card row says who sold
# it. Sessions reserved by holds are still owed to the member.
_SESSIONS_BY_STORE = text(
    """
    SELECT mp.store_sold AS store_id, -sum(p.amount) AS sessions
    FROM postings p
    JOIN accounts a ON a.tenant_id = p.tenant_id AND a.account_id = p.account_id
    JOIN ledger_transactions lt ON lt.tenant_id = p.tenant_id AND lt.transaction_id = p.transaction_id
    JOIN member_packages mp
      ON mp.tenant_id = a.tenant_id AND mp.package_id::text = split_part(a.owner, ':', 1)
    WHERE p.tenant_id = :t AND a.kind IN ('package_item', 'package_item_held')
      AND lt.create_time <= :as_of
    GROUP BY mp.store_sold
    """
)

_PACKAGE_CLEARING = text(
    """
    SELECT store_sold, store_used, sum(value_minor) AS value
    FROM package_consumptions
    WHERE tenant_id = :t AND store_sold <> store_used AND create_time >= :start AND create_time < :end
    GROUP BY store_sold, store_used
    HAVING sum(value_minor) <> 0
    ORDER BY store_sold, store_used
    """
)

# Principal taken from a lot at another store (spend), net of what refunds gave back (restore).
_STORED_VALUE_CLEARING = text(
    """
    SELECT store_id AS store_sold, at_store_id AS store_used, -sum(principal_minor) AS value
    FROM stored_value_lot_movements
    WHERE tenant_id = :t AND kind IN ('spend', 'restore') AND store_id <> at_store_id
      AND create_time >= :start AND create_time < :end
    GROUP BY store_id, at_store_id
    HAVING sum(principal_minor) <> 0
    """
)


def _at(as_of: datetime | None) -> datetime:
    return as_of or datetime.now(UTC)


async def stored_value_liability(
    uow: UoW, caller: Principal, as_of: datetime | None = None
) -> StoredValueLiability:
    caller.require(auth.WALLET_FINANCE)
    at = _at(as_of)
    cur = (await uow.settings.get()).currency_code
    params = {"t": uow.tenant, "cur": cur, "as_of": at}
    rows: dict[str, StoreLiability] = {}

    def row(store_id: str) -> StoreLiability:
        return rows.setdefault(store_id, StoreLiability(store_id))

    for r in (await uow.session.execute(_SV_LOTS_BY_STORE, params)).all():
        row(r.store_id).principal += int(r.principal)
        row(r.store_id).bonus += int(r.bonus)
    for r in (await uow.session.execute(_LOCKED_BONUS_BY_STORE, params)).all():
        row(r.store_id).locked_bonus += int(r.locked)
    shown = [r for _, r in sorted(rows.items()) if r.principal or r.bonus or r.locked_bonus]
    return StoredValueLiability(at, cur, shown)


async def points_liability(uow: UoW, caller: Principal, as_of: datetime | None = None) -> PointsLiability:
    caller.require(auth.WALLET_FINANCE)
    at = _at(as_of)
    settings = await uow.settings.get()
    params = {"t": uow.tenant, "as_of": at}
    outstanding = int((await uow.session.execute(_SUM_KIND, {**params, "kind": "points"})).scalar_one())
    pending = int((await uow.session.execute(_POINTS_PENDING, params)).scalar_one())
    valued = outstanding * MINOR_PER_MAJOR // settings.redemption_points_per_yuan
    return PointsLiability(at, settings.currency_code, outstanding, pending, valued)


async def package_deferred_revenue(
    uow: UoW, caller: Principal, as_of: datetime | None = None
) -> DeferredRevenue:
    caller.require(auth.WALLET_FINANCE)
    at = _at(as_of)
    cur = (await uow.settings.get()).currency_code
    params = {"t": uow.tenant, "cur": cur, "as_of": at}
    rows: dict[str, StoreDeferred] = {}
    for r in (await uow.session.execute(_DEFERRED_BY_STORE, params)).all():
        rows.setdefault(r.store_id, StoreDeferred(r.store_id)).deferred += int(r.deferred)
    for r in (await uow.session.execute(_SESSIONS_BY_STORE, params)).all():
        rows.setdefault(r.store_id, StoreDeferred(r.store_id)).sessions += int(r.sessions)
    shown = [r for _, r in sorted(rows.items()) if r.deferred or r.sessions]
    return DeferredRevenue(at, cur, shown)


async def inter_store_clearing(
    uow: UoW, caller: Principal, start: datetime, end: datetime
) -> tuple[str, list[ClearingRow]]:
    caller.require(auth.WALLET_FINANCE)
    if end <= start:
        raise InvalidArgument([("end_time", "must be after start_time")])
    cur = (await uow.settings.get()).currency_code
    params = {"t": uow.tenant, "start": start, "end": end}
    rows: dict[tuple[str, str], ClearingRow] = {}
    for r in (await uow.session.execute(_PACKAGE_CLEARING, params)).all():
        rows[(r.store_sold, r.store_used)] = ClearingRow(r.store_sold, r.store_used, int(r.value))
    for r in (await uow.session.execute(_STORED_VALUE_CLEARING, params)).all():
        pair = (r.store_sold, r.store_used)
        rows.setdefault(pair, ClearingRow(*pair, package_minor=0)).stored_value_minor += int(r.value)
    return cur, [rows[pair] for pair in sorted(rows)]
