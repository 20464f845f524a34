"""The ledger under concurrency, on real PostgreSQL: balanced, exact, never overdrawn."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from kit.config import to_async_url
from kit.db import retry_transaction
from kit.errors import FailedPrecondition
from services.wallet.adapters.ledger_repository import LedgerRepository
from services.wallet.domain import ledger
from services.wallet.domain.ledger import AccountKey, TransactionDraft

pytestmark = pytest.mark.integration
TENANT = "bank"


@pytest.fixture
async def wallet_db(infra):
    url = to_async_url(await infra.amigrated_database("wallet", "wallet_ledger"))
    engine = create_async_engine(url, pool_size=20)
    yield engine
    await engine.dispose()


async def invariants(engine) -> None:
    async with engine.connect() as conn:
        drift = (
            await conn.execute(
                text(
                    "SELECT a.account_id FROM account_balances a LEFT JOIN postings p"
                    " ON p.tenant_id = a.tenant_id AND p.account_id = a.account_id"
                    " GROUP BY a.account_id, a.balance HAVING a.balance <> COALESCE(sum(p.amount), 0)"
                )
            )
        ).all()
        unbalanced = (
            await conn.execute(
                text(
                    "SELECT transaction_id, unit FROM postings"
                    " GROUP BY transaction_id, unit HAVING sum(amount) <> 0"
                )
            )
        ).all()
        overdrawn = (
            await conn.execute(
                text(
                    "SELECT account_id FROM accounts"
                    " WHERE kind IN ('sv_principal', 'sv_bonus', 'sv_held', 'points', 'package_item')"
                    " AND balance > 0"
                )
            )
        ).all()
    assert (drift, unbalanced, overdrawn) == ([], [], [])


async def test_concurrent_transfers_keep_every_invariant(wallet_db):
    sessions = async_sessionmaker(wallet_db, expire_on_commit=False)
    members = [f"m{i}" for i in range(6)]
    tender = AccountKey(ledger.TENDER, "store-1", "CNY")
    revenue = AccountKey(ledger.REVENUE, "store-1", "CNY")

    async def post(draft: TransactionDraft) -> bool:
        async def attempt() -> bool:
            async with sessions() as session, session.begin():
                await LedgerRepository(session, TENANT).post(draft)
            return True

        try:
            return await retry_transaction(attempt)
        except FailedPrecondition as err:
            assert err.reason == "INSUFFICIENT_BALANCE"
            return False

    for m in members:  # everyone starts with ¥100
        assert await post(
            TransactionDraft("top_up").move(
                10_000, debit=tender, credit=AccountKey(ledger.SV_PRINCIPAL, m, "CNY")
            )
        )

    rng = random.Random(7)

    async def client(i: int) -> tuple[int, int]:
        ok = refused = 0
        for _ in range(40):
            a, b = rng.sample(members, 2)
            amount = rng.randint(1, 6_000)
            src, dst = AccountKey(ledger.SV_PRINCIPAL, a, "CNY"), AccountKey(ledger.SV_PRINCIPAL, b, "CNY")
            if rng.random() < 0.3:  # a spend: money leaves the members for revenue
                draft = TransactionDraft("spend").move(amount, debit=src, credit=revenue)
            else:  # a transfer between two members, touching two guarded accounts in random order
                draft = TransactionDraft("transfer").move(amount, debit=src, credit=dst)
            if await post(draft):
                ok += 1
            else:
                refused += 1
        return ok, refused

    results = await asyncio.gather(*(client(i) for i in range(32)))
    assert sum(r[1] for r in results) > 0, "the test should drive some accounts to refusal"
    await invariants(wallet_db)
    async with wallet_db.connect() as conn:
        held = (
            await conn.execute(text("SELECT -sum(balance) FROM accounts WHERE kind = 'sv_principal'"))
        ).scalar_one()
        spent = (
            await conn.execute(text("SELECT -balance FROM account_balances WHERE kind = 'revenue'"))
        ).scalar_one()
    assert held + spent == 6 * 10_000  # money is neither lost nor made up


async def test_database_refuses_an_overdraft_even_if_code_did_not(wallet_db):
    async with wallet_db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO accounts (tenant_id, account_id, kind, owner, unit, balance)"
                " VALUES ('t', gen_random_uuid(), 'points', 'm', 'PTS', 0)"
            )
        )
    with pytest.raises(IntegrityError, match="ck_accounts_member_not_overdrawn"):
        async with wallet_db.begin() as conn:
            await conn.execute(text("UPDATE accounts SET balance = 1 WHERE kind = 'points'"))


async def test_a_transaction_can_be_reversed_exactly_once(wallet_db):
    sessions = async_sessionmaker(wallet_db, expire_on_commit=False)
    # Tenant accounts only: the unique index, not the overdraft check, must refuse the repeat.
    tender = AccountKey(ledger.TENDER, "s", "CNY")
    member = AccountKey(ledger.REVENUE, "s", "CNY")
    async with sessions() as session, session.begin():
        repo = LedgerRepository(session, TENANT)
        posted = await repo.post(
            TransactionDraft("top_up", member_id=None).move(500, debit=tender, credit=member)
        )
    async with sessions() as session, session.begin():
        repo = LedgerRepository(session, TENANT)
        original = await repo.get(posted.transaction_id)
        mirror = ledger.reversal_of(
            original.kind, original.postings, reverses=original.transaction_id, member_id=None, store_id=None
        )
        await repo.post(mirror)
    async with wallet_db.connect() as conn:  # a tenant account's balance is the sum of its postings
        assert (
            await conn.execute(
                text("SELECT balance FROM account_balances WHERE kind = 'revenue' AND owner = 's'")
            )
        ).scalar_one() == 0
    with pytest.raises(IntegrityError, match="uq_ledger_transactions_reverses"):
        async with sessions() as session, session.begin():
            await LedgerRepository(session, TENANT).post(
                ledger.reversal_of(
                    original.kind,
                    original.postings,
                    reverses=original.transaction_id,
                    member_id=None,
                    store_id=None,
                )
            )
    await invariants(wallet_db)
