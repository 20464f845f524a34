"""`ledger_post` (migration 0010) against the Python model of the ledger.

The SQL function applies a planned transaction in one round trip; the rules stay in
services/wallet/domain/ledger.py. For random wallets and random plans, what the database does must
be what the model says: the same postings in the same order, the same balances, the same refusal
(an overdraft, with nothing written) and "stale, re-plan" (SQLSTATE 40001, nothing written)
exactly when a balance the plan assumed has changed.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from kit.config import to_async_url
from kit.db import sqlstate
from kit.errors import FailedPrecondition
from services.wallet.adapters.ledger_repository import LedgerRepository
from services.wallet.domain import ledger
from services.wallet.domain.ledger import AccountKey, TransactionDraft

pytestmark = pytest.mark.integration

MEMBER_ACCOUNTS = [
    AccountKey(ledger.SV_PRINCIPAL, "m1", "CNY"),
    AccountKey(ledger.SV_BONUS, "m1", "CNY"),
    AccountKey(ledger.SV_PRINCIPAL, "m2", "CNY"),
    AccountKey(ledger.MEMBER_POINTS, "m1", ledger.POINTS),
]
TENANT_SIDE = {
    "CNY": [AccountKey(ledger.TENDER, "s1:cash", "CNY"), AccountKey(ledger.REVENUE, "s1", "CNY")],
    ledger.POINTS: [AccountKey(ledger.POINTS_ISSUED, "", ledger.POINTS)],
}
ALL = MEMBER_ACCOUNTS + [k for ks in TENANT_SIDE.values() for k in ks]

# a move: (debit index, credit index, amount) over ALL, kept within one unit by the test
moves = st.lists(
    st.tuples(st.integers(0, len(ALL) - 1), st.integers(0, len(ALL) - 1), st.integers(1, 3_000)),
    min_size=1,
    max_size=6,
)
# what the plan assumed about each member account: the truth, a stale value, or nothing
assumptions = st.lists(st.sampled_from(["exact", "stale", "none"]), min_size=4, max_size=4)


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def sessions(infra, loop):
    url = to_async_url(loop.run_until_complete(infra.amigrated_database("wallet", "wallet_ledger_post")))
    engine = create_async_engine(url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    loop.run_until_complete(engine.dispose())


async def _balances(session, tenant: str) -> dict[AccountKey, int]:
    rows = (
        await session.execute(
            text("SELECT account_id::text, balance FROM account_balances WHERE tenant_id = :t"),
            {"t": tenant},
        )
    ).all()
    found = dict(rows)
    return {k: found.get(k.account_id(tenant), 0) for k in ALL}


def _model(
    tenant: str, draft: TransactionDraft, before: dict[AccountKey, int], assumed: dict[AccountKey, int]
):
    """What the ledger rules say: ("stale" | "overdrawn" | "posted", balances after)."""
    after = dict(before)
    for p in draft.postings:
        after[p.account] += p.amount
    touched = sorted(
        {p.account for p in draft.postings if p.account.kind.guarded}, key=lambda k: k.account_id(tenant)
    )
    for key in touched:  # the function checks in lock order, i.e. account id order
        if key in assumed and assumed[key] != before[key]:
            return "stale", before
        if ledger.available(key.kind, after[key]) < 0:
            return "overdrawn", before
    return "posted", after


_tenant_seq = iter(range(10**9))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    opening=st.lists(st.integers(0, 5_000), min_size=4, max_size=4),
    planned=moves,
    assume=assumptions,
)
def test_the_applied_transaction_is_what_the_model_says(loop, sessions, opening, planned, assume):
    tenant = f"plan-{next(_tenant_seq)}"  # a fresh wallet per example

    async def go():
        # opening balances: each member account credited from the tenant side of its unit
        async with sessions() as session, session.begin():
            repo = LedgerRepository(session, tenant)
            for key, amount in zip(MEMBER_ACCOUNTS, opening, strict=True):
                if amount:
                    source = TENANT_SIDE[key.unit][0]
                    await repo.post(TransactionDraft("opening").move(amount, debit=source, credit=key))
        async with sessions() as session:
            before = await _balances(session, tenant)

        draft = TransactionDraft("plan", description="property")
        for d, c, amount in planned:
            debit, credit = ALL[d], ALL[c]
            if debit == credit or debit.unit != credit.unit:  # another account of the same unit
                others = [k for k in ALL if k.unit == debit.unit and k != debit]
                credit = others[c % len(others)]
            draft.move(amount, debit=debit, credit=credit)
        assumed = {
            key: before[key] + (1 if how == "stale" else 0)
            for key, how in zip(MEMBER_ACCOUNTS, assume, strict=True)
            if how != "none"
        }
        expected, expected_balances = _model(tenant, draft, before, assumed)

        outcome, posted = "posted", None
        try:
            async with sessions() as session, session.begin():
                posted = await LedgerRepository(session, tenant).post(draft, assumed=assumed)
        except FailedPrecondition as err:
            assert err.reason == "INSUFFICIENT_BALANCE"
            outcome = "overdrawn"
        except DBAPIError as err:
            assert sqlstate(err) == "40001", err
            outcome = "stale"
        assert outcome == expected

        async with sessions() as session:
            assert await _balances(session, tenant) == expected_balances
            rows = (
                await session.execute(
                    text(
                        "SELECT p.account_id::text, p.amount, p.unit FROM postings p"
                        " JOIN ledger_transactions t USING (tenant_id, transaction_id)"
                        " WHERE t.tenant_id = :t AND t.kind = 'plan' ORDER BY p.posting_id"
                    ),
                    {"t": tenant},
                )
            ).all()
        if outcome != "posted":
            assert rows == []  # a refused plan writes nothing
            return
        assert [tuple(r) for r in rows] == [
            (p.account.account_id(tenant), p.amount, p.account.unit) for p in draft.postings
        ]
        guarded = {p.account for p in draft.postings if p.account.kind.guarded}
        assert posted.balances == {k: expected_balances[k] for k in guarded}

    loop.run_until_complete(go())
