"""per-store service overrides and staff schedule exceptions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _update_time() -> sa.Column:
    return sa.Column(
        "update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "services", sa.Column("display_order", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("services", _update_time())
    op.add_column("staff", sa.Column("position", sa.Text(), server_default="", nullable=False))
    op.add_column("staff", sa.Column("level", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column(
        "staff",
        sa.Column(
            "breaks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "staff", sa.Column("online_bookable", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    op.add_column("staff", sa.Column("principal", sa.Text(), server_default="", nullable=False))
    op.add_column("staff", _update_time())
    op.add_column("rooms", _update_time())
    op.add_column("equipment", _update_time())

    op.create_table(
        "service_overrides",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("offered", sa.Boolean(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=True),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=True),
        sa.Column("list_price_minor", sa.BigInteger(), nullable=True),
        sa.Column("requirements", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("online_bookable", sa.Boolean(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes BETWEEN 1 AND 1440",
            name="ck_service_overrides_duration",
        ),
        sa.CheckConstraint(
            "buffer_before_minutes IS NULL OR buffer_before_minutes BETWEEN 0 AND 720",
            name="ck_service_overrides_buffer_before",
        ),
        sa.CheckConstraint(
            "buffer_after_minutes IS NULL OR buffer_after_minutes BETWEEN 0 AND 720",
            name="ck_service_overrides_buffer_after",
        ),
        sa.CheckConstraint(
            "list_price_minor IS NULL OR list_price_minor >= 0",
            name="ck_service_overrides_price_not_negative",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "store_id", "service_id", name="pk_service_overrides"),
    )
    op.create_table(
        "schedule_exceptions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("exception_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("staff_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Text(), nullable=True),
        sa.Column("end_time", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name="ck_schedule_exceptions_dates"),
        sa.CheckConstraint(
            "kind IN ('leave', 'sick_leave', 'training', 'blocked', 'extra_shift')",
            name="ck_schedule_exceptions_kind",
        ),
        sa.CheckConstraint(
            "(start_time IS NULL) = (end_time IS NULL) AND (kind <> 'extra_shift' OR start_time IS NOT NULL)",
            name="ck_schedule_exceptions_times",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "exception_id", name="pk_schedule_exceptions"),
    )
    op.create_index(
        "ix_schedule_exceptions_staff",
        "schedule_exceptions",
        ["tenant_id", "store_id", "staff_id", "start_date"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_schedule_exceptions_staff", table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_table("service_overrides")
    op.drop_column("equipment", "update_time")
    op.drop_column("rooms", "update_time")
    for column in ("update_time", "principal", "online_bookable", "breaks", "level", "position"):
        op.drop_column("staff", column)
    op.drop_column("services", "update_time")
    op.drop_column("services", "display_order")
