"""campaign rewards beyond points (voucher, free sessions), refusals, and their redemptions

Revision ID: 0014_members_campaign_rewards
Revises: 0013_members_campaigns
Create Date: 2026-12-07 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_members_campaign_rewards"
down_revision: str | Sequence[str] | None = "0013_members_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("reward_voucher_template_id", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("reward_free_service", sa.Text(), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column("reward_free_sessions", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "campaigns",
        sa.Column(
            "reward_free_sessions_valid_days", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
    )
    op.add_column(
        "campaigns",
        sa.Column("rewards_refused_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        "ck_campaigns_reward_free_sessions", "campaigns", "reward_free_sessions BETWEEN 0 AND 100"
    )
    op.create_table(
        "campaign_rewards",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reward_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "reward_id", name="pk_campaign_rewards"),
        sa.CheckConstraint("kind IN ('voucher', 'package')", name="ck_campaign_rewards_kind"),
    )
    op.create_index("ix_campaign_rewards_campaign", "campaign_rewards", ["tenant_id", "campaign_id"])
    op.create_table(
        "campaign_reward_uses",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reward_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("sessions", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name="pk_campaign_reward_uses"),
        sa.CheckConstraint("kind IN ('voucher', 'package')", name="ck_campaign_reward_uses_kind"),
    )
    op.create_index(
        "ix_campaign_reward_uses_reward", "campaign_reward_uses", ["tenant_id", "kind", "reward_id"]
    )


def downgrade() -> None:
    op.drop_table("campaign_reward_uses")
    op.drop_table("campaign_rewards")
    op.drop_constraint("ck_campaigns_reward_free_sessions", "campaigns", type_="check")
    for column in (
        "rewards_refused_count",
        "reward_free_sessions_valid_days",
        "reward_free_sessions",
        "reward_free_service",
        "reward_voucher_template_id",
    ):
        op.drop_column("campaigns", column)
