"""store directory: the wallet's projection of the members service's stores

Revision ID: 0009_store_directory
Revises: 0008
Create Date: 2026-12-07 02:00:00

Every money movement names a store; the wallet checks it against this table (fed by
StoreCreated / StoreUpdated, filled by read-through on a miss; kit/store_projection.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_store_directory"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_directory",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "store_id", name="pk_store_directory"),
    )


def downgrade() -> None:
    op.drop_table("store_directory")
