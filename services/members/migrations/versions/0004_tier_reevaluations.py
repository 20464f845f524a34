"""tier re-evaluation jobs (one per tenant and ladder version)

Revision ID: 0004_tier_reevaluations
Revises: 0003
Create Date: 2026-12-07 01:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic. A descriptive id: other branches add their own 0004.
revision: str = "0004_tier_reevaluations"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tier_reevaluations",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("ladder_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("after_member_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("evaluated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "ladder_version", name="pk_tier_reevaluations"),
    )
    op.create_index(
        "ix_tier_reevaluations_state", "tier_reevaluations", ["state", "create_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tier_reevaluations_state", table_name="tier_reevaluations")
    op.drop_table("tier_reevaluations")
