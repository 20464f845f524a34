"""tier_changes.reason_code: ListTierChanges shows why a tier changed as a code, like the
TierChanged event (staff overrides recorded before are MANUAL; other older rows stay '' =
UNSPECIFIED, their cause was not stored)

Revision ID: 0022_tier_change_reason_codes
Revises: 0021_import_operation_attempts
Create Date: 2026-12-07 19:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_tier_change_reason_codes"
down_revision: str | Sequence[str] | None = "0021_import_operation_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tier_changes", sa.Column("reason_code", sa.Text(), server_default="", nullable=False))
    op.execute("UPDATE tier_changes SET reason_code = 'MANUAL' WHERE staff_override")


def downgrade() -> None:
    op.drop_column("tier_changes", "reason_code")
