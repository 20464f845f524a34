"""engagement: campaign approval over a cost threshold, holdout groups, campaign settings

Revision ID: 0016_campaign_approval_holdout
Revises: 0015_members_import_operations
Create Date: 2026-12-07 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_campaign_approval_holdout"
down_revision: str | Sequence[str] | None = "0015_members_import_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("holdout_percent", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "campaigns", sa.Column("holdout_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("campaigns", sa.Column("created_by", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("reviewed_by", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("rejection_reason", sa.Text(), nullable=True))
    op.drop_constraint("ck_campaigns_state", "campaigns", type_="check")
    op.create_check_constraint(
        "ck_campaigns_state",
        "campaigns",
        "state IN ('scheduled', 'running', 'paused', 'completed', 'cancelled',"
        " 'pending_approval', 'rejected')",
    )
    op.create_check_constraint(
        "ck_campaigns_holdout_percent", "campaigns", "holdout_percent BETWEEN 0 AND 50"
    )
    op.drop_constraint("ck_campaign_recipients_status", "campaign_recipients", type_="check")
    op.create_check_constraint(
        "ck_campaign_recipients_status",
        "campaign_recipients",
        "status IN ('pending', 'sent', 'suppressed', 'holdout')",
    )
    op.create_table(
        "campaign_settings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("approval_threshold_minor", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_campaign_settings"),
        sa.CheckConstraint(
            "approval_threshold_minor BETWEEN 0 AND 100000000", name="ck_campaign_settings_threshold"
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_settings")
    op.drop_constraint("ck_campaign_recipients_status", "campaign_recipients", type_="check")
    op.create_check_constraint(
        "ck_campaign_recipients_status", "campaign_recipients", "status IN ('pending', 'sent', 'suppressed')"
    )
    op.drop_constraint("ck_campaigns_holdout_percent", "campaigns", type_="check")
    op.drop_constraint("ck_campaigns_state", "campaigns", type_="check")
    op.create_check_constraint(
        "ck_campaigns_state",
        "campaigns",
        "state IN ('scheduled', 'running', 'paused', 'completed', 'cancelled')",
    )
    for column in (
        "rejection_reason",
        "reviewed_at",
        "reviewed_by",
        "created_by",
        "holdout_count",
        "holdout_percent",
    ):
        op.drop_column("campaigns", column)
