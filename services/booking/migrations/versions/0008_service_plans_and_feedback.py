"""service plans, follow-ups, visit feedback and complaints

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "service_plans",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("trigger_service_id", sa.Text(), nullable=False),
        sa.Column("follow_up_service_id", sa.Text(), nullable=False),
        sa.Column("follow_up_after_days", sa.Integer(), nullable=False),
        sa.Column("remind_days_before", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("follow_up_after_days BETWEEN 1 AND 730", name="ck_service_plans_after_days"),
        sa.CheckConstraint("remind_days_before BETWEEN 0 AND 30", name="ck_service_plans_remind_days"),
        sa.PrimaryKeyConstraint("tenant_id", "plan_id", name="pk_service_plans"),
    )
    op.create_index("ix_service_plans_trigger", "service_plans", ["tenant_id", "trigger_service_id"])

    op.create_table(
        "follow_ups",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("follow_up_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("follow_up_service_id", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("remind_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("complete_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), server_default="scheduled", nullable=False),
        sa.Column("resolve_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('scheduled', 'fired', 'skipped')", name="ck_follow_ups_state"),
        sa.PrimaryKeyConstraint("tenant_id", "follow_up_id", name="pk_follow_ups"),
        sa.UniqueConstraint("tenant_id", "appointment_id", "plan_id", name="uq_follow_ups_appointment_plan"),
    )
    op.create_index("ix_follow_ups_member", "follow_ups", ["tenant_id", "member_id", "remind_utc"])
    op.create_index("ix_follow_ups_plan", "follow_ups", ["tenant_id", "plan_id", "state"])
    op.create_index(
        "ix_follow_ups_due", "follow_ups", ["remind_utc"], postgresql_where=sa.text("state = 'scheduled'")
    )

    op.create_table(
        "feedback",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("staff", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_feedback_rating"),
        sa.PrimaryKeyConstraint("tenant_id", "appointment_id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_store", "feedback", ["tenant_id", "store_id", "create_time"])
    op.create_index("ix_feedback_time", "feedback", ["tenant_id", "create_time"])

    op.create_table(
        "complaints",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("complaint_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=True),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("staff", sa.Text(), nullable=True),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), server_default="open", nullable=False),
        sa.Column("first_response_due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_breached", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "replies",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolve_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('open', 'in_progress', 'resolved')", name="ck_complaints_state"),
        sa.PrimaryKeyConstraint("tenant_id", "complaint_id", name="pk_complaints"),
    )
    op.create_index("ix_complaints_time", "complaints", ["tenant_id", "create_time"])
    op.create_index("ix_complaints_member", "complaints", ["tenant_id", "member_id", "create_time"])
    op.create_index(
        "ix_complaints_sla_due",
        "complaints",
        ["first_response_due_time"],
        postgresql_where=sa.text("state = 'open' AND NOT sla_breached"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("complaints")
    op.drop_table("feedback")
    op.drop_table("follow_ups")
    op.drop_table("service_plans")
