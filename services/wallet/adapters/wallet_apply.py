"""One planned wallet command applied in one database round trip: the `wallet_apply` function
(migration 0011) called through a plain asyncpg pool (``kit.db.create_pg_pool``: a prepared
statement per connection, no ORM, no reset round trip on release), in autocommit — the call is its
own transaction.

The caller plans without locks; the function locks, re-checks what the plan assumed and raises
SQLSTATE 40001 when something moved (``asyncpg.SerializationError``: re-plan).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import DEFAULT_STATEMENT_TIMEOUT_MS, create_pg_pool
from kit.telemetry import tracer
from services.wallet.domain.ledger import AccountKey, Normal, TransactionDraft

# wallet_apply's 37 arguments, in order
_CALL = (
    "SELECT create_time, balance_ids, balances FROM wallet_apply($1, $2, $3, $4, $5, $6, $7, $8, $9,"
    " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,"
    " $29, $30, $31, $32, $33, $34, $35, $36, $37)"
)


_CONTEXT = "SELECT wallet_context($1, $2, $3, $4, $5, $6, $7, $8, $9)"

# One tracer for the two calls' spans: `tracer()` per call built a proxy tracer (and, once the
# SDK provider is set, a new SDK tracer) on every checkout; a proxy made once resolves once.
_DB_TRACER = tracer("peony.wallet.db")


@dataclass
class IdempotencyKey:
    """The AIP-155 key row (kit/idempotency.py's table): written first, so a raced duplicate is
    told apart (40001) and replays the recorded response."""

    method: str
    request_id: str
    request_hash: bytes
    response: bytes


@dataclass
class LedgerPlan:
    """A ledger transaction as `ledger_post` takes it: the draft, its id, the balances of its
    member accounts the plan assumed (every guarded account it touches: the post-balances are
    then known before the call) and the accounts to create when missing."""

    transaction_id: str
    draft: TransactionDraft
    request_id: str
    assumed: dict[AccountKey, int]
    new_accounts: list[AccountKey]
    create_time: datetime  # the time the response and events carry


@dataclass
class StoredValueLotChange:
    store_id: str
    principal: int
    bonus: int
    assumed: tuple[int, int] | None  # (principal, bonus) the lot had; None: a credit


@dataclass
class WalletPlan:
    tenant: str
    idempotency: IdempotencyKey | None = None
    pin_verified: tuple[str, bytes] | None = None  # (member, PIN hash) the PIN was verified on
    lot_moves: list[tuple[str, int, int]] = field(default_factory=list)  # (lot, delta, assumed remaining)
    ledger: LedgerPlan | None = None
    sv_changes: list[StoredValueLotChange] = field(default_factory=list)
    rows: dict[str, list[dict]] = field(default_factory=dict)  # table -> rows
    notify_channel: str | None = None


@dataclass
class Applied:
    create_time: datetime
    balances: dict[str, int]  # member account id -> balance after


def _json_default(value: Any) -> Any:
    # orjson writes str, int, None, lists, dicts, datetimes / dates (ISO 8601) and UUIDs itself
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()  # bytea's input form
    raise TypeError(f"{type(value).__name__} cannot go into a wallet_apply row")


def rows_json(rows: dict[str, list[dict]]) -> str:
    """The rows as wallet_apply's jsonb argument. orjson, not the json module: ~15x less CPU for a
    checkout's ~8 KB of rows (bench/README.md); the same JSON values."""
    return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


class WalletApply:
    """Calls `wallet_apply` on a pool of its own, opened on first use from the engine's URL."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        max_size: int = 10,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
        pgbouncer: bool = False,
    ):
        self._pgbouncer = pgbouncer
        self._url = engine.url.render_as_string(hide_password=False)
        self.database = str(engine.url)  # as LedgerRepository names it (password hidden)
        self._service = service
        self._max_size = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await create_pg_pool(
                        self._url,
                        service=self._service,
                        min_size=1,
                        max_size=self._max_size,
                        statement_timeout_ms=self._statement_timeout_ms,
                        pgbouncer=self._pgbouncer,
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def context(
        self,
        tenant: str,
        store_id: str,
        member_id: str | None,
        method: str,
        request_id: str,
        account_ids: list[str],
        *,
        with_store_lots: bool,
        for_checkout: bool,
        plan_id: str | None,
    ) -> dict:
        """What a command's plan reads, in one call (`wallet_context`, migration 0011)."""
        pool = await self._get_pool()
        with _DB_TRACER.start_as_current_span("wallet_context") as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.operation", "wallet_context")
            doc = await pool.fetchval(
                _CONTEXT,
                tenant,
                store_id,
                member_id,
                method,
                request_id,
                account_ids,
                with_store_lots,
                for_checkout,
                plan_id,
            )
        return orjson.loads(doc)

    async def __call__(self, plan: WalletPlan) -> Applied:
        args = _arguments(plan)
        pool = await self._get_pool()
        with _DB_TRACER.start_as_current_span("wallet_apply") as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.operation", "wallet_apply")
            row = await pool.fetchrow(_CALL, *args)
        assert row is not None
        return Applied(
            create_time=row["create_time"],
            balances={
                str(aid): int(b)
                for aid, b in zip(row["balance_ids"] or [], row["balances"] or [], strict=True)
            },
        )


def _arguments(plan: WalletPlan) -> list[Any]:
    tenant = plan.tenant
    idem = plan.idempotency
    led = plan.ledger
    if led is not None:
        draft = led.draft
        draft.validate()
        deltas: dict[AccountKey, int] = {}
        for p in draft.postings:
            deltas[p.account] = deltas.get(p.account, 0) + p.amount
        guarded = sorted((k for k in deltas if k.kind.guarded), key=lambda k: k.account_id(tenant))
        missing = [k for k in guarded if k not in led.assumed]
        assert not missing, f"the plan assumed no balance for {missing}"
        new = list(dict.fromkeys([*guarded, *led.new_accounts]))
        ledger_args = [
            led.transaction_id,
            draft.kind,
            draft.member_id,
            draft.store_id,
            draft.description,
            draft.reverses,
            led.request_id,
            draft.reference,
            [k.account_id(tenant) for k in new],
            [k.kind.code for k in new],
            [k.owner for k in new],
            [k.unit for k in new],
            [k.account_id(tenant) for k in guarded],
            [deltas[k] for k in guarded],
            [-1 if k.kind.normal is Normal.CREDIT else 1 for k in guarded],
            [led.assumed[k] for k in guarded],
            [p.account.account_id(tenant) for p in draft.postings],
            [p.amount for p in draft.postings],
            [p.account.unit for p in draft.postings],
            led.create_time,
        ]
    else:
        ledger_args = [None] * 8 + [[]] * 11 + [None]
    moves = sorted(plan.lot_moves)
    sv = plan.sv_changes
    return [
        tenant,
        idem.method if idem else None,
        idem.request_id if idem else None,
        idem.request_hash if idem else None,
        idem.response if idem else None,
        plan.pin_verified[0] if plan.pin_verified else None,
        plan.pin_verified[1] if plan.pin_verified else None,
        [m[0] for m in moves],
        [m[1] for m in moves],
        [m[2] for m in moves],
        *ledger_args,
        [c.store_id for c in sv],
        [c.principal for c in sv],
        [c.bonus for c in sv],
        [c.assumed[0] if c.assumed else None for c in sv],
        [c.assumed[1] if c.assumed else None for c in sv],
        rows_json(plan.rows),
        plan.notify_channel,
    ]
