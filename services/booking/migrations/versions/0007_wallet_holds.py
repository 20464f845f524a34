"""appointments' wallet holds and their settlement

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("appointments", sa.Column("hold", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_table(
        "hold_settlements",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("hold_id", sa.Text(), nullable=False),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("action IN ('capture', 'void')", name="ck_hold_settlements_action"),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="ck_hold_settlements_state"),
        sa.PrimaryKeyConstraint("tenant_id", "hold_id", name="pk_hold_settlements"),
    )
    op.create_index(
        "ix_hold_settlements_due",
        "hold_settlements",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_hold_settlements_appointment",
        "hold_settlements",
        ["tenant_id", "appointment_id"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_hold_settlements_appointment", table_name="hold_settlements")
    op.drop_index(
        "ix_hold_settlements_due",
        table_name="hold_settlements",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("hold_settlements")
    op.drop_column("appointments", "hold")
