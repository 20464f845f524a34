"""member_import_rows: the outcome of each row of a `peony import`, idempotent by (import, row)

Revision ID: 0012_members_import_rows
Revises: 0011_engagement_segments
Create Date: 2026-12-07 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_members_import_rows"
down_revision: str | Sequence[str] | None = "0011_engagement_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_import_rows",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("field", sa.Text(), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "import_id", "row_number", name="pk_member_import_rows"),
    )


def downgrade() -> None:
    op.drop_table("member_import_rows")
