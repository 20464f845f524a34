"""account_balances view: every account's balance, whether stored or derived

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Member-owned accounts keep a stored balance (locked and checked on every posting); tenant-side
accounts are never locked, so their balance is the sum of their postings. This view gives one
place to read either.
"""

from collections.abc import Sequence

from alembic import op

from services.wallet.domain.ledger import KINDS

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARDED = ", ".join(f"'{k.code}'" for k in KINDS.values() if k.guarded)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE VIEW account_balances AS
        SELECT a.tenant_id, a.account_id, a.kind, a.owner, a.unit,
               CASE WHEN a.kind IN ({_GUARDED}) THEN a.balance
                    ELSE COALESCE((SELECT sum(p.amount) FROM postings p
                                   WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id), 0)
               END AS balance
        FROM accounts a
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW account_balances")
