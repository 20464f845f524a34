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
   then, for a payment the PIN guards, re-checks the PIN row the service verified the PIN on
   (same hash, no failed attempt, not locked) and holds it FOR SHARE until commit, so a PIN
   changed, failed or locked meanwhile makes the plan stale;
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

`wallet_context` is the read before such a plan in one call too: one jsonb document with the
store's and the member's projection rows, the PIN row, the recorded idempotency key, the
settings, the member's balances, point lots and stored-value lots, the bonus still locked in
plans, and — as asked — a checkout's first-visit flag and commission rules or a top-up's plan
(bytea as hex, times as ISO 8601).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

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
    -- the member whose PIN the service verified, and the PIN hash it verified against; NULL: none
    p_pin_member uuid, p_pin_hash bytea,
    -- point lots: (lot, delta, remaining the plan assumed)
    p_lot_ids uuid[], p_lot_deltas bigint[], p_lot_expected bigint[],
    -- the ledger transaction: ledger_post's arguments
    p_transaction_id uuid, p_kind text, p_member_id uuid, p_store_id text, p_description text,
    p_reverses uuid, p_request_id text, p_reference text,
    p_new_ids uuid[], p_new_kinds text[], p_new_owners text[], p_new_units text[],
    p_guarded_ids uuid[], p_guarded_deltas bigint[], p_guarded_signs int[], p_guarded_expected bigint[],
    p_posting_ids uuid[], p_posting_amounts bigint[], p_posting_units text[],
    -- when it happened: the time the service planned with (its response and events carry it)
    p_create_time timestamptz,
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

    IF p_pin_member IS NOT NULL THEN
        PERFORM 1 FROM payment_pins p
        WHERE p.tenant_id = p_tenant AND p.member_id = p_pin_member AND p.pin_hash = p_pin_hash
          AND p.failed_attempts = 0 AND p.locked_until IS NULL
        FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stale plan: the payment PIN changed since it was verified'
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
            p_posting_ids, p_posting_amounts, p_posting_units, p_create_time);
        IF posted.overdrawn IS NOT NULL THEN
            -- the plan was made on balances that allowed it: they moved
            RAISE EXCEPTION 'stale plan: account % would be overdrawn', posted.overdrawn
                USING ERRCODE = 'serialization_failure';
        END IF;
        create_time := posted.create_time;
        balance_ids := posted.balance_ids;
        balances := posted.balances;
    ELSE
        create_time := coalesce(p_create_time, now());
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


WALLET_CONTEXT = """
CREATE OR REPLACE FUNCTION wallet_context(
    p_tenant text, p_store_id text, p_member_id uuid, p_method text, p_request_id text,
    p_account_ids uuid[], p_with_store_lots boolean, p_for_checkout boolean, p_plan_id text
) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'store', EXISTS (SELECT 1 FROM store_directory s
                     WHERE s.tenant_id = p_tenant AND s.store_id = p_store_id),
    'member', (SELECT jsonb_build_object(
                   'member_id', d.member_id, 'home_store_id', d.home_store_id, 'tier_id', d.tier_id,
                   'discount_bps', d.discount_bps,
                   'points_multiplier_permille', d.points_multiplier_permille, 'tiers', l.tiers)
               FROM member_directory d LEFT JOIN tier_ladders l ON l.tenant_id = d.tenant_id
               WHERE d.tenant_id = p_tenant AND d.member_id = p_member_id),
    'pin', (SELECT jsonb_build_object(
                'pin_hash', encode(p.pin_hash, 'hex'), 'salt', encode(p.salt, 'hex'),
                'failed_attempts', p.failed_attempts, 'locked_until', p.locked_until)
            FROM payment_pins p WHERE p.tenant_id = p_tenant AND p.member_id = p_member_id),
    'recorded', (SELECT jsonb_build_object(
                     'request_hash', encode(k.request_hash, 'hex'), 'response', encode(k.response, 'hex'))
                 FROM idempotency_keys k
                 WHERE k.tenant_id = p_tenant AND k.method = p_method AND k.request_id = p_request_id),
    'settings', (SELECT w.settings FROM wallet_settings w WHERE w.tenant_id = p_tenant),
    'has_checkouts', p_for_checkout AND EXISTS (SELECT 1 FROM checkouts c
                             WHERE c.tenant_id = p_tenant AND c.member_id = p_member_id),
    'balances', (SELECT coalesce(jsonb_object_agg(a.account_id, a.balance), '{}')
                 FROM accounts a WHERE a.tenant_id = p_tenant AND a.account_id = ANY (p_account_ids)),
    'lots', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'lot_id', l.lot_id, 'remaining', l.remaining, 'expire_time', l.expire_time,
                 'earned_time', l.earned_time, 'pending_until', l.pending_until) ORDER BY l.lot_id), '[]')
             FROM point_lots l WHERE l.tenant_id = p_tenant AND l.member_id = p_member_id),
    'store_lots', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'store_id', s.store_id, 'principal', s.principal_minor, 'bonus', s.bonus_minor,
                       'opened', s.create_time) ORDER BY s.store_id), '[]')
                   FROM stored_value_lots s
                   WHERE p_with_store_lots AND s.tenant_id = p_tenant AND s.member_id = p_member_id),
    'locked_bonus', (SELECT coalesce(sum(b.amount_minor), 0) FROM bonus_releases b
                     WHERE b.tenant_id = p_tenant AND b.member_id = p_member_id AND b.state = 'scheduled'),
    'rules', (SELECT coalesce(jsonb_agg(to_jsonb(r) - 'tenant_id' ORDER BY r.create_time, r.rule_id), '[]')
              FROM commission_rules r WHERE p_for_checkout AND r.tenant_id = p_tenant),
    'plan', (SELECT to_jsonb(t) - 'tenant_id' FROM top_up_plans t
             WHERE t.tenant_id = p_tenant AND t.plan_id = p_plan_id)
)
$$;
"""


# ledger_post's 0010 signature, replaced by one with a trailing `p_create_time` (default NULL: now())
_LEDGER_POST_0010_ARGS = (
    "text, uuid, text, uuid, text, text, uuid, text, text, uuid[], text[], text[], text[],"
    " uuid[], bigint[], int[], bigint[], uuid[], bigint[], text[]"
)


def _ledger_post_0010() -> str:
    spec = importlib.util.spec_from_file_location(
        "ledger_post_0010", Path(__file__).with_name("0010_ledger_post_function.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LEDGER_POST


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def ledger_post_with_create_time() -> str:
    """0010's ledger_post taking the transaction's time: a one-call command's response and events
    are built before the call, with the time the service planned with, and the ledger row must say
    the same (a NULL keeps now())."""
    sql = _ledger_post_0010()
    sql = _replace_once(
        sql,
        "    p_posting_ids uuid[], p_posting_amounts bigint[], p_posting_units text[],\n",
        "    p_posting_ids uuid[], p_posting_amounts bigint[], p_posting_units text[],\n"
        "    p_create_time timestamptz DEFAULT NULL,\n",
    )
    sql = _replace_once(
        sql,
        "description, reverses, request_id, reference\n    ) VALUES (",
        "description, reverses, request_id, reference,\n        create_time\n    ) VALUES (",
    )
    return _replace_once(
        sql,
        "        p_request_id, p_reference\n    )",
        "        p_request_id, p_reference, coalesce(p_create_time, now())\n    )",
    )


def upgrade() -> None:
    op.execute(f"DROP FUNCTION ledger_post({_LEDGER_POST_0010_ARGS})")
    op.execute(ledger_post_with_create_time())
    op.execute(WALLET_APPLY)
    op.execute(WALLET_CONTEXT)


def downgrade() -> None:
    op.execute("DROP FUNCTION wallet_context")
    op.execute("DROP FUNCTION wallet_apply")
    op.execute("DROP FUNCTION ledger_post")
    op.execute(_ledger_post_0010())
