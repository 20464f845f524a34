"""wallet_import_rows: opening balances of a `peony import`, idempotent by (import, row)

Revision ID: 0017_wallet_import_openings
Revises: 0016_wallet_programme_grants
Create Date: 2026-12-07 12:45:00

The opening transactions themselves are ordinary ledger transactions (kind ``opening_balance``,
reference ``imports/{import}``) against the new tenant account kind ``opening_balance``; an
account kind is a value, not a schema change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_wallet_import_openings"
down_revision: str | Sequence[str] | None = "0016_wallet_programme_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_import_rows",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("transaction_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "import_id", "row_number", name="pk_wallet_import_rows"),
    )


def downgrade() -> None:
    op.drop_table("wallet_import_rows")
