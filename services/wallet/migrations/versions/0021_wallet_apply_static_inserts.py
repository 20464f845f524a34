"""wallet_apply inserts its rows with one static INSERT per table, and refuses unknown columns

Revision ID: 0021_wallet_apply_static_inserts
Revises: 0020_wallet_unlimited_time_cards
Create Date: 2026-12-07 19:00:00

0011's `wallet_apply` inserted the plan's rows (`p_rows`, {table: [row, ...]}) with one
`EXECUTE format('INSERT INTO %I (%s) ...')` per table, the column list taken from the first row's
keys. Dynamic SQL is parsed and planned on every call (≈ 310 µs per insert against ≈ 200-250 µs
for the same insert written statically, measured on the bench machine), and a key that only a
later row carried was dropped without a word.

This version keeps the function's arguments, results and every other step as they were and:

- inserts each table's rows with a static INSERT over a fixed column list (PL/pgSQL caches its
  plan), `jsonb_populate_recordset` turning the rows into the table's row type; a column a row
  leaves out takes the column's default (the same defaults as the table's, written here as
  `coalesce(..., default)`), as before;
- refuses — SQLSTATE 22023 (invalid_parameter_value), before anything is written, since the
  check runs first — a table outside the list (as before) and now also any row carrying a key that
  is not one of its table's columns here, so the Python side cannot lose data silently.

Adding a column the plan writes means replacing this function in a new migration (the list below
is the contract), which tests/integration/wallet/test_wallet_apply.py exercises.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0021_wallet_apply_static_inserts"
down_revision: str | Sequence[str] | None = "0020_wallet_unlimited_time_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The columns each table's rows may carry: a value, or (for a column with a default) the SQL of
# that default, used when the row leaves the column out. Identity columns (movement ids, the
# outbox's seq) and the relay's own outbox columns are not writable through the plan.
WRITABLE_COLUMNS: dict[str, dict[str, str | None]] = {
    "checkouts": {
        "tenant_id": None,
        "checkout_id": None,
        "member_id": None,
        "store_id": None,
        "state": None,
        "customer_type": None,
        "tier_id": "''",
        "tier_discount_bps": "0",
        "currency_code": None,
        "lines": None,
        "line_results": None,
        "vouchers": "'{}'::text[]",
        "points_to_redeem": "0",
        "tenders": None,
        "subtotal_minor": None,
        "package_covered_minor": None,
        "tier_discount_minor": None,
        "voucher_discount_minor": None,
        "points_deduction_minor": None,
        "total_due_minor": None,
        "principal_funded_minor": None,
        "bonus_funded_minor": None,
        "qualifying_spend_minor": None,
        "points_earned": None,
        "earned_lot_id": None,
        "redeemed_lots": None,
        "package_uses": None,
        "voucher_uses": None,
        "refunded_minor": "0",
        "refunded_units": None,
        "transaction_id": None,
        "create_time": "now()",
        "update_time": "now()",
        "discount_approval_id": None,
    },
    "commission_records": {
        "tenant_id": None,
        "record_id": None,
        "checkout_id": None,
        "refund_id": None,
        "line_index": None,
        "staff": None,
        "amount_minor": None,
        "base_minor": None,
        "rule_id": None,
        "store_id": None,
        "item": None,
        "currency_code": None,
        "create_time": "now()",
        "package_id": None,
        "transaction_id": None,
        "staff_position": "''",
        "tender": "''",
        "category": "''",
    },
    "lot_movements": {"tenant_id": None, "transaction_id": None, "lot_id": None, "delta": None},
    "point_lots": {
        "tenant_id": None,
        "lot_id": None,
        "member_id": None,
        "source": None,
        "original": None,
        "remaining": None,
        "earned_time": None,
        "expire_time": None,
        "pending_until": None,
        "reason": "''",
        "transaction_id": None,
        "expiring_notified": "false",
    },
    "stored_value_lot_movements": {
        "tenant_id": None,
        "transaction_id": None,
        "member_id": None,
        "store_id": None,
        "at_store_id": None,
        "kind": None,
        "principal_minor": None,
        "bonus_minor": None,
        "restores_transaction_id": None,
        "create_time": "now()",
    },
    "bonus_releases": {
        "tenant_id": None,
        "release_id": None,
        "member_id": None,
        "store_id": None,
        "top_up_transaction_id": None,
        "due_time": None,
        "amount_minor": None,
        "state": None,
        "transaction_id": None,
    },
    "outbox": {
        "event_id": None,
        "tenant_id": None,
        "aggregate_type": None,
        "aggregate_id": None,
        "subject": None,
        "event_type": None,
        "payload": None,
        "headers": "'{}'::jsonb",
    },
}


def _sql_array(names) -> str:
    return "ARRAY[" + ", ".join(f"'{n}'" for n in names) + "]"


def _column_check() -> str:
    """One query over every row of every table: the first row carrying a key its table does not
    have here (`row - allowed keys` is then not empty), named with those keys."""
    cases = "\n".join(
        f"               WHEN '{table}' THEN {_sql_array(columns)}"
        for table, columns in WRITABLE_COLUMNS.items()
    )
    return f"""
    SELECT t.key, x.extra INTO bad_table, unknown_keys
    FROM jsonb_each(p_rows) AS t, jsonb_array_elements(t.value) AS r,
         LATERAL (SELECT r.value - CASE t.key
{cases}
           END AS extra) AS x
    WHERE x.extra <> '{{}}'::jsonb
    LIMIT 1;
    IF bad_table IS NOT NULL THEN
        RAISE EXCEPTION 'wallet_apply: a % row carries a column it does not write: %', bad_table,
            (SELECT string_agg(k, ', ') FROM jsonb_object_keys(unknown_keys) AS k)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
"""


def _insert(table: str, columns: dict[str, str | None]) -> str:
    names = ", ".join(columns)
    values = ", ".join(
        f"r.{name}" if default is None else f"coalesce(r.{name}, {default})"
        for name, default in columns.items()
    )
    return f"""
    IF jsonb_array_length(coalesce(p_rows -> '{table}', '[]')) > 0 THEN
        INSERT INTO {table} ({names})
        SELECT {values}
        FROM jsonb_populate_recordset(NULL::{table}, p_rows -> '{table}') AS r;
    END IF;
"""


def _migration_0011():
    spec = importlib.util.spec_from_file_location(
        "wallet_apply_0011", Path(__file__).with_name("0011_wallet_apply_function.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wallet_apply_0011() -> str:
    return _migration_0011().WALLET_APPLY


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# The joins of a few rows given as arrays (unnest) to their table: written so that the table side
# is a primary-key probe (`id = ANY (array)`) whatever the statistics say. Planned on a table whose
# statistics were stale (a tenant's rows estimated at 2), `tenant_id = p_tenant AND id = m.id`
# became a scan of every row of the tenant hashed against the array — a cost that grows with the
# tenant (seen with auto_explain in a test database: 70 lots scanned to move one).
_LOT_UPDATE_0011 = "WHERE l.tenant_id = p_tenant AND l.lot_id = m.id AND l.remaining = m.expected;"
_LOT_UPDATE = (
    "WHERE l.tenant_id = p_tenant AND l.lot_id = ANY (p_lot_ids)\n"
    "          AND l.lot_id = m.id AND l.remaining = m.expected;"
)
_LOCK_ACCOUNTS_0010 = "JOIN accounts a ON a.tenant_id = p_tenant AND a.account_id = g.id\n"
_LOCK_ACCOUNTS = (
    "JOIN accounts a ON a.tenant_id = p_tenant AND a.account_id = ANY (p_guarded_ids)\n"
    "                        AND a.account_id = g.id\n"
)
_UPDATE_ACCOUNTS_0010 = "WHERE a.tenant_id = p_tenant AND a.account_id = g.id AND g.delta <> 0;"
_UPDATE_ACCOUNTS = (
    "WHERE a.tenant_id = p_tenant AND a.account_id = ANY (p_guarded_ids)\n"
    "      AND a.account_id = g.id AND g.delta <> 0;"
)


def _ledger_post_0011() -> str:
    return _migration_0011().ledger_post_with_create_time()


def ledger_post_by_key() -> str:
    sql = _replace_once(_ledger_post_0011(), _LOCK_ACCOUNTS_0010, _LOCK_ACCOUNTS)
    return _replace_once(sql, _UPDATE_ACCOUNTS_0010, _UPDATE_ACCOUNTS)


# 0011's row loop, from the jsonb_each to the end of the loop, replaced by the static inserts
_DYNAMIC_LOOP_START = "    FOR tbl, tbl_rows IN SELECT key, value FROM jsonb_each(p_rows) LOOP\n"
_DYNAMIC_LOOP_END = "    END LOOP;\n\n    IF p_notify_channel IS NOT NULL"
_DECLARED_0011 = "    tbl text;\n    tbl_rows jsonb;\n    cols text;\n"
_BODY_START = "    cols text;\nBEGIN\n"


def wallet_apply_static() -> str:
    sql = _wallet_apply_0011()
    start = sql.index(_DYNAMIC_LOOP_START)
    end = sql.index(_DYNAMIC_LOOP_END)
    assert sql.count(_DYNAMIC_LOOP_START) == 1 and sql.count(_DYNAMIC_LOOP_END) == 1
    assert sql.count(_DECLARED_0011) == 1
    tables = _sql_array(WRITABLE_COLUMNS)
    checks = f"""
    -- the rows' shape first: a plan this function cannot write whole writes nothing
    IF p_rows - {tables} <> '{{}}'::jsonb THEN
        RAISE EXCEPTION 'wallet_apply: % is not a table it writes',
            (SELECT string_agg(k, ', ') FROM jsonb_object_keys(p_rows - {tables}) AS k)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
""" + _column_check()
    inserts = "".join(_insert(t, c) for t, c in WRITABLE_COLUMNS.items()).lstrip("\n")
    sql = (
        sql[:start] + inserts + "\n    IF p_notify_channel IS NOT NULL" + sql[end + len(_DYNAMIC_LOOP_END) :]
    )
    assert sql.count(_BODY_START) == 1
    sql = sql.replace(_BODY_START, _BODY_START + checks)
    sql = _replace_once(sql, _LOT_UPDATE_0011, _LOT_UPDATE)
    return sql.replace(_DECLARED_0011, "    bad_table text;\n    unknown_keys jsonb;\n")


def upgrade() -> None:
    op.execute(ledger_post_by_key())
    op.execute(wallet_apply_static())


def downgrade() -> None:
    op.execute(_wallet_apply_0011())
    op.execute(_ledger_post_0011())
