"""engagement: the anniversary and lapse rewards per tenant (programme_settings)

Revision ID: 0018_programme_reward_settings
Revises: 0017_segment_package_sessions
Create Date: 2026-12-07 19:00:00

``UpdateProgrammeSettings`` writes a row; a tenant without one keeps the deployment's
environment defaults (PEONY_MEMBERS_ANNIVERSARY_POINTS / _VOUCHER_TEMPLATE,
PEONY_MEMBERS_LAPSE_VOUCHER_TEMPLATE).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_programme_reward_settings"
down_revision: str | Sequence[str] | None = "0017_segment_package_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programme_settings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("anniversary_points", sa.BigInteger(), nullable=False),
        sa.Column("anniversary_voucher_template_id", sa.Text(), nullable=False, server_default=""),
        sa.Column("lapse_voucher_template_id", sa.Text(), nullable=False, server_default=""),
        # NULL: the deployment's thresholds (PEONY_MEMBERS_LAPSE_DAYS)
        sa.Column("lapse_days", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_programme_settings"),
        sa.CheckConstraint("anniversary_points BETWEEN 0 AND 100000", name="ck_programme_settings_points"),
    )


def downgrade() -> None:
    op.drop_table("programme_settings")
