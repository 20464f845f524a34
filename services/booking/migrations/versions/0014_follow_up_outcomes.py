"""follow-up outcomes: staff record what came of a fired follow-up call (回访结果)

Revision ID: 0014_follow_up_outcomes
Revises: 0013_apply_booking_whole
Create Date: 2026-12-07 13:00:00

A fired follow-up stays on its store's work list (`ListDueFollowUps`, the partial index below)
until `ResolveFollowUp` moves it to `resolved` with its outcome, the time, the caller and,
for `booked`, the appointment it led to. The check keeps state and outcome consistent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_follow_up_outcomes"
down_revision: str | Sequence[str] | None = "0013_apply_booking_whole"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("follow_ups", sa.Column("outcome", sa.Text(), nullable=True))
    op.add_column("follow_ups", sa.Column("outcome_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("follow_ups", sa.Column("resolved_by", sa.Text(), nullable=True))
    op.add_column(
        "follow_ups", sa.Column("booked_appointment_id", postgresql.UUID(as_uuid=False), nullable=True)
    )
    op.drop_constraint("ck_follow_ups_state", "follow_ups", type_="check")
    op.create_check_constraint(
        "ck_follow_ups_state", "follow_ups", "state IN ('scheduled', 'fired', 'skipped', 'resolved')"
    )
    op.create_check_constraint(
        "ck_follow_ups_outcome",
        "follow_ups",
        "(state = 'resolved') = (outcome IS NOT NULL)"
        " AND (outcome IS NULL OR outcome IN ('reached', 'booked', 'declined', 'unreachable'))"
        " AND (booked_appointment_id IS NULL OR outcome = 'booked')",
    )
    op.create_index(
        "ix_follow_ups_work_list",
        "follow_ups",
        ["tenant_id", "store_id", "due_date", "remind_utc", "follow_up_id"],
        postgresql_where=sa.text("state = 'fired'"),
    )


def downgrade() -> None:
    op.drop_index("ix_follow_ups_work_list", table_name="follow_ups")
    op.drop_constraint("ck_follow_ups_outcome", "follow_ups", type_="check")
    op.execute("UPDATE follow_ups SET state = 'fired' WHERE state = 'resolved'")
    op.drop_constraint("ck_follow_ups_state", "follow_ups", type_="check")
    op.create_check_constraint(
        "ck_follow_ups_state", "follow_ups", "state IN ('scheduled', 'fired', 'skipped')"
    )
    for column in ("booked_appointment_id", "resolved_by", "outcome_time", "outcome"):
        op.drop_column("follow_ups", column)
