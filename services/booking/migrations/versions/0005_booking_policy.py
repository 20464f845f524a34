"""the booking policy and members' no-show standing

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "booking_policies",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("cancel_free_minutes_before", sa.Integer(), nullable=False),
        sa.Column("no_show_limit", sa.Integer(), nullable=False),
        sa.Column("no_show_window_days", sa.Integer(), nullable=False),
        sa.Column("no_show_restriction_days", sa.Integer(), nullable=False),
        sa.Column("count_late_cancels_as_no_shows", sa.Boolean(), nullable=False),
        sa.Column("reminder_minutes_before", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("waitlist_offer_minutes", sa.Integer(), nullable=False),
        sa.Column("complaint_first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("max_open_appointments", sa.Integer(), nullable=False),
        sa.Column("default_booking_window_days", sa.Integer(), nullable=False),
        sa.Column("min_lead_minutes", sa.Integer(), nullable=False),
        sa.Column("slot_step_minutes", sa.Integer(), nullable=False),
        sa.Column("no_show_grace_minutes", sa.Integer(), nullable=False),
        sa.Column("capture_deposit_on_late_cancel", sa.Boolean(), nullable=False),
        sa.Column("capture_deposit_on_no_show", sa.Boolean(), nullable=False),
        sa.Column("capture_session_on_late_cancel", sa.Boolean(), nullable=False),
        sa.Column("capture_session_on_no_show", sa.Boolean(), nullable=False),
        sa.Column("hold_grace_hours", sa.Integer(), nullable=False),
        sa.Column("follow_up_remind_time", sa.Text(), nullable=False),
        sa.Column("feedback_window_days", sa.Integer(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("slot_step_minutes BETWEEN 5 AND 240", name="ck_booking_policies_slot_step"),
        sa.CheckConstraint("no_show_limit >= 0", name="ck_booking_policies_no_show_limit"),
        sa.CheckConstraint("max_open_appointments >= 0", name="ck_booking_policies_max_open"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_booking_policies"),
    )
    op.create_table(
        "member_no_shows",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('no_show', 'late_cancel')", name="ck_member_no_shows_kind"),
        sa.PrimaryKeyConstraint("tenant_id", "appointment_id", "kind", name="pk_member_no_shows"),
    )
    op.create_index(
        "ix_member_no_shows_member",
        "member_no_shows",
        ["tenant_id", "member_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "member_standings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("restricted_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restricted_by", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("restriction_lift_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restriction_lift_reason", sa.Text(), nullable=True),
        sa.Column("restriction_lifted_by", sa.Text(), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_standings"),
    )
    op.create_table(
        "booking_restriction_lifts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("lifted_by", sa.Text(), nullable=False),
        sa.Column("lift_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restricted_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_booking_restriction_lifts"),
    )
    op.create_index(
        "ix_booking_restriction_lifts_member",
        "booking_restriction_lifts",
        ["tenant_id", "member_id", "lift_time"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_booking_restriction_lifts_member", table_name="booking_restriction_lifts")
    op.drop_table("booking_restriction_lifts")
    op.drop_table("member_standings")
    op.drop_index("ix_member_no_shows_member", table_name="member_no_shows")
    op.drop_table("member_no_shows")
    op.drop_table("booking_policies")
