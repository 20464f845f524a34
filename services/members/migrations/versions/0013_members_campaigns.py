"""engagement: campaigns and their materialised recipients

Revision ID: 0013_members_campaigns
Revises: 0012_members_import_rows
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_members_campaigns"
down_revision: str | Sequence[str] | None = "0012_members_import_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("message_body", sa.Text(), nullable=False),
        sa.Column("reward_points", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("throttle_per_minute", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("targeted_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "suppressed_no_consent_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("suppressed_inactive_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("estimated_member_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("estimated_sms_cost_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaigns"),
        sa.CheckConstraint(
            "state IN ('scheduled', 'running', 'paused', 'completed', 'cancelled')", name="ck_campaigns_state"
        ),
        sa.CheckConstraint("throttle_per_minute BETWEEN 1 AND 10000", name="ck_campaigns_throttle"),
        sa.CheckConstraint("reward_points BETWEEN 0 AND 100000", name="ck_campaigns_reward_points"),
    )
    op.create_index("ix_campaigns_due", "campaigns", ["state", "start_time"])
    op.create_index("ix_campaigns_sending", "campaigns", ["state", "next_send_at"])
    op.create_table(
        "campaign_recipients",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("suppression_reason", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "member_id", name="pk_campaign_recipients"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'suppressed')", name="ck_campaign_recipients_status"
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaigns_sending", table_name="campaigns")
    op.drop_index("ix_campaigns_due", table_name="campaigns")
    op.drop_table("campaigns")
