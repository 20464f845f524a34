"""wallet_apply: a whole planned command (ledger, lots, rows, outbox, idempotency key) in one call

Revision ID: 0011_wallet_apply_function
Revises: 0010_ledger_post_function
Create Date: 2026-12-07 05:00:00

`ledger_post` (0010) applies a planned ledger transaction in one round trip, but a checkout still
wrote its other rows statement by statement. `wallet_apply` applies everything a planned command
writes in ONE call, in autocommit (the call is its own transaction). The rules stay in Python: the
service reads without locks, plans (services/wallet/service_layer/one_call.py), and this function:

1. records the idempotency key first (AIP-155): when the key exists already — a duplicate that
   raced this one — it raises 40001, so the caller re-reads and replays the recorded response;
2. moves point lots (domain rows, lot-id order, locked by the UPDATE), re-checking the remaining
   points the plan assumed;
3. posts the ledger transaction with `ledger_post` (member accounts locked in id order, assumed
   balances re-checked; an overdraft can only mean the plan is stale);
4. changes the member's stored-value lots (after the accounts: the wallet-wide lock order),
   re-checking the amounts the plan assumed for the lots it takes from (a credit adds, creating
   the lot when missing);
5. inserts the command's rows (checkout, commission records, lot movements, earned lot,
   stored-value movements, outbox rows) from one jsonb object {table: [row, ...]}, for a fixed
   list of tables, with the columns the rows carry (the others take their defaults);
6. queues the relay's wake-up (`pg_notify`) when it wrote outbox rows.

Any assumption that no longer holds raises SQLSTATE 40001 ("stale plan") before anything commits:
the caller re-plans. Tested against the Python model in tests/integration/wallet/test_wallet_apply.py.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_wallet_apply_function"
down_revision: str | Sequence[str] | None = "0010_ledger_post_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WALLET_APPLY = """
CREATE OR REPLACE FUNCTION wallet_apply(
    p_tenant text,
    -- the idempotency key (kit/idempotency.py's table and format); NULL method: none
    p_idem_method text, p_idem_request_id text, p_idem_hash bytea, p_idem_response bytea,
    -- point lots: (lot, delta, remaining the plan assumed)
    p_lot_ids uuid[], p_lot_deltas bigint[], p_lot_expected bigint[],
    -- the ledger transaction: ledger_post's arguments
    p_transaction_id uuid, p_kind text, p_member_id uuid, p_store_id text, p_description text,
    p_reverses uuid, p_request_id text, p_reference text,
    p_new_ids uuid[], p_new_kinds text[], p_new_owners text[], p_new_units text[],
    p_guarded_ids uuid[], p_guarded_deltas bigint[], p_guarded_signs int[], p_guarded_expected bigint[],
    p_posting_ids uuid[], p_posting_amounts bigint[], p_posting_units text[],
    -- stored-value lots of p_member_id: (store, principal delta, bonus delta, assumed principal,
    -- assumed bonus); NULL assumptions: a credit (added, the lot created when missing)
    p_sv_stores text[], p_sv_principal bigint[], p_sv_bonus bigint[],
    p_sv_expected_principal bigint[], p_sv_expected_bonus bigint[],
    -- rows to insert: {"table": [{column: value, ...}, ...], ...}
    p_rows jsonb,
    -- the relay's NOTIFY channel (when outbox rows are written)
    p_notify_channel text,
    OUT create_time timestamptz,
    OUT balance_ids uuid[],
    OUT balances bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    posted record;
    moved int;
    tbl text;
    tbl_rows jsonb;
    cols text;
BEGIN
    IF p_idem_method IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, method, request_id, request_hash, response)
        VALUES (p_tenant, p_idem_method, p_idem_request_id, p_idem_hash, p_idem_response)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stale plan: request % was recorded meanwhile', p_idem_request_id
                USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;

    IF cardinality(p_lot_ids) > 0 THEN
        -- lock the lots in id order first (domain rows before accounts), then move them; the
        -- UPDATE re-checks the remaining points the plan assumed on the locked rows
        PERFORM 1 FROM point_lots l
        WHERE l.tenant_id = p_tenant AND l.lot_id = ANY (p_lot_ids)
        ORDER BY l.lot_id
        FOR UPDATE;
        UPDATE point_lots l SET remaining = l.remaining + m.delta
        FROM unnest(p_lot_ids, p_lot_deltas, p_lot_expected) AS m(id, delta, expected)
        WHERE l.tenant_id = p_tenant AND l.lot_id = m.id AND l.remaining = m.expected;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved <> cardinality(p_lot_ids) THEN
            RAISE EXCEPTION 'stale plan: a point lot changed since it was read'
                USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;

    IF cardinality(p_posting_ids) > 0 THEN
        SELECT * INTO posted FROM ledger_post(
            p_tenant, p_transaction_id, p_kind, p_member_id, p_store_id, p_description, p_reverses,
            p_request_id, p_reference, p_new_ids, p_new_kinds, p_new_owners, p_new_units,
            p_guarded_ids, p_guarded_deltas, p_guarded_signs, p_guarded_expected,
            p_posting_ids, p_posting_amounts, p_posting_units);
        IF posted.overdrawn IS NOT NULL THEN
            -- the plan was made on balances that allowed it: they moved
            RAISE EXCEPTION 'stale plan: account % would be overdrawn', posted.overdrawn
                USING ERRCODE = 'serialization_failure';
        END IF;
        create_time := posted.create_time;
        balance_ids := posted.balance_ids;
        balances := posted.balances;
    ELSE
        create_time := now();
    END IF;

    IF cardinality(p_sv_stores) > 0 THEN
        FOR i IN 1 .. cardinality(p_sv_stores) LOOP
            IF p_sv_expected_principal[i] IS NULL THEN
                INSERT INTO stored_value_lots AS s
                    (tenant_id, member_id, store_id, principal_minor, bonus_minor)
                VALUES (p_tenant, p_member_id, p_sv_stores[i], p_sv_principal[i], p_sv_bonus[i])
                ON CONFLICT (tenant_id, member_id, store_id) DO UPDATE
                SET principal_minor = s.principal_minor + excluded.principal_minor,
                    bonus_minor = s.bonus_minor + excluded.bonus_minor;
            ELSE
                UPDATE stored_value_lots s
                SET principal_minor = s.principal_minor + p_sv_principal[i],
                    bonus_minor = s.bonus_minor + p_sv_bonus[i]
                WHERE s.tenant_id = p_tenant AND s.member_id = p_member_id AND s.store_id = p_sv_stores[i]
                  AND s.principal_minor = p_sv_expected_principal[i]
                  AND s.bonus_minor = p_sv_expected_bonus[i];
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'stale plan: the stored-value lot of store % changed', p_sv_stores[i]
                        USING ERRCODE = 'serialization_failure';
                END IF;
            END IF;
        END LOOP;
    END IF;

    FOR tbl, tbl_rows IN SELECT key, value FROM jsonb_each(p_rows) LOOP
        IF tbl NOT IN ('checkouts', 'commission_records', 'lot_movements', 'point_lots',
                       'stored_value_lot_movements', 'bonus_releases', 'outbox') THEN
            RAISE EXCEPTION 'wallet_apply: % is not a table it writes', tbl
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        CONTINUE WHEN jsonb_array_length(tbl_rows) = 0;
        SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(tbl_rows -> 0) AS k;
        EXECUTE format(
            'INSERT INTO %I (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%I, $1)',
            tbl, cols, cols, tbl
        ) USING tbl_rows;
    END LOOP;

    IF p_notify_channel IS NOT NULL AND jsonb_array_length(coalesce(p_rows -> 'outbox', '[]')) > 0 THEN
        PERFORM pg_notify(p_notify_channel, '');
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(WALLET_APPLY)


def downgrade() -> None:
    op.execute("DROP FUNCTION wallet_apply")
