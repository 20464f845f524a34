"""ledger_post: a planned ledger transaction applied in one round trip

Revision ID: 0010_ledger_post_function
Revises: 0009_store_directory
Create Date: 2026-12-07 02:40:00

Posting used to cost 3 to 5 round trips (create missing accounts, lock member accounts, insert
the transaction, insert postings, update balances). The rules stay in Python
(services/wallet/domain/ledger.py): the service plans the postings and, per member-owned account,
the delta, the sign of its normal direction and — when the plan was computed from a balance read
without a lock — the balance it assumed. This function applies the plan in one call:

1. creates the accounts the caller does not know to exist (id order, ON CONFLICT DO NOTHING);
2. locks the member-owned accounts in id order (the wallet-wide order: domain rows, then these);
3. re-checks the plan's assumptions: a locked balance that differs from the assumed one raises
   SQLSTATE 40001 ("stale plan"), so the unit of work re-runs and re-plans (kit.db.retry_transaction);
4. refuses an overdraft by returning the account (the caller raises the domain error, and the
   unit of work rolls back, so a refused posting writes nothing);
5. writes the transaction, its postings (in the plan's order) and the new balances.

Tested against the Python model in tests/integration/wallet/test_ledger_post_function.py.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_ledger_post_function"
down_revision: str | Sequence[str] | None = "0009_store_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_POST = """
CREATE OR REPLACE FUNCTION ledger_post(
    p_tenant text,
    p_transaction_id uuid,
    p_kind text,
    p_member_id uuid,
    p_store_id text,
    p_description text,
    p_reverses uuid,
    p_request_id text,
    p_reference text,
    -- accounts to create when missing
    p_new_ids uuid[], p_new_kinds text[], p_new_owners text[], p_new_units text[],
    -- member-owned accounts: delta, +1/-1 for debit/credit normal, assumed balance (NULL: none)
    p_guarded_ids uuid[], p_guarded_deltas bigint[], p_guarded_signs int[], p_guarded_expected bigint[],
    -- postings in order
    p_posting_ids uuid[], p_posting_amounts bigint[], p_posting_units text[],
    OUT create_time timestamptz,
    OUT overdrawn uuid,
    OUT overdrawn_balance bigint,
    OUT balance_ids uuid[],
    OUT balances bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF cardinality(p_new_ids) > 0 THEN
        INSERT INTO accounts (tenant_id, account_id, kind, owner, unit)
        SELECT p_tenant, n.id, n.kind, n.owner, n.unit
        FROM unnest(p_new_ids, p_new_kinds, p_new_owners, p_new_units) AS n(id, kind, owner, unit)
        ORDER BY n.id
        ON CONFLICT DO NOTHING;
    END IF;

    balance_ids := '{}';
    balances := '{}';
    FOR r IN
        SELECT a.account_id, a.balance, g.delta, g.sign, g.expected
        FROM unnest(p_guarded_ids, p_guarded_deltas, p_guarded_signs, p_guarded_expected)
             AS g(id, delta, sign, expected)
        JOIN accounts a ON a.tenant_id = p_tenant AND a.account_id = g.id
        ORDER BY a.account_id
        FOR UPDATE OF a
    LOOP
        IF r.expected IS NOT NULL AND r.expected <> r.balance THEN
            RAISE EXCEPTION 'stale plan: account % changed since it was read', r.account_id
                USING ERRCODE = 'serialization_failure';
        END IF;
        IF r.sign * (r.balance + r.delta) < 0 THEN
            overdrawn := r.account_id;
            overdrawn_balance := r.balance + r.delta;
            RETURN;
        END IF;
        balance_ids := balance_ids || r.account_id;
        balances := balances || (r.balance + r.delta);
    END LOOP;
    IF cardinality(balance_ids) <> cardinality(p_guarded_ids) THEN
        RAISE EXCEPTION 'ledger_post: a member account is missing' USING ERRCODE = 'foreign_key_violation';
    END IF;

    INSERT INTO ledger_transactions (
        tenant_id, transaction_id, kind, member_id, store_id, description, reverses, request_id, reference
    ) VALUES (
        p_tenant, p_transaction_id, p_kind, p_member_id, p_store_id, p_description, p_reverses,
        p_request_id, p_reference
    ) RETURNING ledger_transactions.create_time INTO create_time;

    INSERT INTO postings (tenant_id, transaction_id, account_id, amount, unit)
    SELECT p_tenant, p_transaction_id, p.id, p.amount, p.unit
    FROM unnest(p_posting_ids, p_posting_amounts, p_posting_units) WITH ORDINALITY AS p(id, amount, unit, n)
    ORDER BY p.n;

    UPDATE accounts a SET balance = a.balance + g.delta
    FROM unnest(p_guarded_ids, p_guarded_deltas) AS g(id, delta)
    WHERE a.tenant_id = p_tenant AND a.account_id = g.id AND g.delta <> 0;
END
$$;
"""


def upgrade() -> None:
    op.execute(LEDGER_POST)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post")
