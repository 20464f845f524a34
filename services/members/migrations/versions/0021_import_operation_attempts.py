"""import_operations.attempts: an import run that keeps failing stops after a bounded number of
attempts (counted since its last committed batch) instead of being retried forever

Revision ID: 0021_import_operation_attempts
Revises: 0020_segment_facts_on_members
Create Date: 2026-12-07 18:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_import_operation_attempts"
down_revision: str | Sequence[str] | None = "0020_segment_facts_on_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "import_operations", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("import_operations", "attempts")
