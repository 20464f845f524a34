"""stored value attributed to the store that sold it: lots per (member, store) and their movements

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 02:30:00

The liability view used to attribute every stored-value posting to its transaction's store, so a
store where members spent value topped up elsewhere showed a negative liability and clearing had
no stored-value entry (issue 9, example 5). From now on each member's stored value is held in
lots per selling store (services/wallet/domain/sv_lots.py) and each change is a movement tied to
its ledger transaction.

Opening attribution of existing members: their outstanding principal and bonus (balances plus
what open holds reserve) are attributed to the stores of the transactions that credited them,
the most recent credits first — as if spend had always taken the oldest value first. It is
recorded as one `opening` movement per lot (no transaction), timed at the migration: views as
of an earlier time see no lots.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPENING = """
WITH outstanding AS (
    SELECT a.tenant_id, a.owner AS member_id, a.kind,
           -a.balance + coalesce((
               SELECT sum(CASE WHEN a.kind = 'sv_principal' THEN h.principal_minor ELSE h.bonus_minor END)
               FROM holds h
               WHERE h.tenant_id = a.tenant_id AND h.member_id::text = a.owner AND h.state = 'authorized'
           ), 0) AS amount
    FROM accounts a
    WHERE a.kind IN ('sv_principal', 'sv_bonus')
),
credits AS (
    SELECT p.tenant_id, a.owner AS member_id, a.kind, coalesce(lt.store_id, '') AS store_id,
           -p.amount AS amount,
           sum(-p.amount) OVER (
               PARTITION BY p.tenant_id, a.owner, a.kind
               ORDER BY lt.create_time DESC, p.posting_id DESC
           ) AS newer_and_this
    FROM postings p
    JOIN accounts a ON a.tenant_id = p.tenant_id AND a.account_id = p.account_id
    JOIN ledger_transactions lt ON lt.tenant_id = p.tenant_id AND lt.transaction_id = p.transaction_id
    WHERE a.kind IN ('sv_principal', 'sv_bonus') AND p.amount < 0 AND lt.kind <> 'void'
),
attributed AS (
    SELECT c.tenant_id, c.member_id, c.kind, c.store_id,
           greatest(0, least(c.amount, o.amount - (c.newer_and_this - c.amount))) AS amount
    FROM credits c
    JOIN outstanding o ON o.tenant_id = c.tenant_id AND o.member_id = c.member_id AND o.kind = c.kind
),
per_lot AS (
    SELECT tenant_id, member_id, store_id,
           sum(amount) FILTER (WHERE kind = 'sv_principal') AS principal,
           sum(amount) FILTER (WHERE kind = 'sv_bonus') AS bonus
    FROM attributed
    GROUP BY tenant_id, member_id, store_id
    HAVING sum(amount) > 0
)
"""


def upgrade() -> None:
    op.create_table(
        "stored_value_lots",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("bonus_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "principal_minor >= 0 AND bonus_minor >= 0", name="ck_stored_value_lots_not_negative"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", "store_id", name="pk_stored_value_lots"),
    )
    op.create_table(
        "stored_value_lot_movements",
        sa.Column("movement_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("transaction_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("at_store_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), nullable=False),
        sa.Column("bonus_minor", sa.BigInteger(), nullable=False),
        sa.Column("restores_transaction_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("movement_id"),
    )
    op.create_index(
        "ix_stored_value_lot_movements_transaction",
        "stored_value_lot_movements",
        ["tenant_id", "transaction_id"],
    )
    op.create_index(
        "ix_stored_value_lot_movements_restores",
        "stored_value_lot_movements",
        ["tenant_id", "restores_transaction_id"],
    )
    op.create_index(
        "ix_stored_value_lot_movements_time", "stored_value_lot_movements", ["tenant_id", "create_time"]
    )
    op.execute(
        _OPENING
        + """
        INSERT INTO stored_value_lots (tenant_id, member_id, store_id, principal_minor, bonus_minor)
        SELECT tenant_id, member_id::uuid, store_id, coalesce(principal, 0), coalesce(bonus, 0) FROM per_lot
        """
    )
    op.execute(
        """
        INSERT INTO stored_value_lot_movements
            (tenant_id, member_id, store_id, at_store_id, kind, principal_minor, bonus_minor)
        SELECT tenant_id, member_id, store_id, store_id, 'opening', principal_minor, bonus_minor
        FROM stored_value_lots
        """
    )


def downgrade() -> None:
    op.drop_table("stored_value_lot_movements")
    op.drop_table("stored_value_lots")
