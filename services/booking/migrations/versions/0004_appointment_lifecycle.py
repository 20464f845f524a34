"""the appointment lifecycle (check-in, completion, no-show, late cancel, reschedule)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = "state IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')"


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("appointments", sa.Column("booked_by", sa.Text(), server_default="", nullable=False))
    op.add_column("appointments", sa.Column("waitlist_entry", sa.Text(), nullable=True))
    op.add_column(
        "appointments",
        sa.Column("reschedule_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("appointments", sa.Column("check_in_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("cancel_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("cancelled_by", sa.Integer(), nullable=True))
    op.add_column(
        "appointments",
        sa.Column("late_cancel", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "appointments",
        sa.Column("late_cancel_waived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("appointments", sa.Column("no_show_time", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("ck_appointments_state", "appointments", _STATES)
    op.create_check_constraint(
        "ck_appointments_reschedule_count_not_negative", "appointments", "reschedule_count >= 0"
    )

    # Reminders get a generation (one per reschedule) in their key, and a `skipped` state.
    op.add_column(
        "scheduled_reminders",
        sa.Column("generation", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.drop_constraint("pk_scheduled_reminders", "scheduled_reminders", type_="primary")
    op.create_primary_key(
        "pk_scheduled_reminders", "scheduled_reminders", ["tenant_id", "appointment_id", "generation", "kind"]
    )
    op.drop_constraint("ck_scheduled_reminders_state", "scheduled_reminders", type_="check")
    op.create_check_constraint(
        "ck_scheduled_reminders_state",
        "scheduled_reminders",
        "state IN ('scheduled', 'fired', 'cancelled', 'skipped')",
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM scheduled_reminders WHERE state = 'skipped' OR generation > 0")
    op.drop_constraint("ck_scheduled_reminders_state", "scheduled_reminders", type_="check")
    op.create_check_constraint(
        "ck_scheduled_reminders_state", "scheduled_reminders", "state IN ('scheduled', 'fired', 'cancelled')"
    )
    op.drop_constraint("pk_scheduled_reminders", "scheduled_reminders", type_="primary")
    op.create_primary_key(
        "pk_scheduled_reminders", "scheduled_reminders", ["tenant_id", "appointment_id", "kind"]
    )
    op.drop_column("scheduled_reminders", "generation")

    op.drop_constraint("ck_appointments_reschedule_count_not_negative", "appointments", type_="check")
    op.drop_constraint("ck_appointments_state", "appointments", type_="check")
    for column in (
        "no_show_time",
        "late_cancel_waived",
        "late_cancel",
        "cancelled_by",
        "cancel_time",
        "complete_time",
        "check_in_time",
        "reschedule_count",
        "waitlist_entry",
        "booked_by",
    ):
        op.drop_column("appointments", column)
