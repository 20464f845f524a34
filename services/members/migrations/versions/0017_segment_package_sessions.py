"""engagement: unused package sessions per card item, projected for segments

Revision ID: 0017_segment_package_sessions
Revises: 0016_campaign_approval_holdout
Create Date: 2026-12-07 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_segment_package_sessions"
down_revision: str | Sequence[str] | None = "0016_campaign_approval_holdout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_package_sessions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("package_id", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("sessions_remaining", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "package_id", "service_id", name="pk_member_package_sessions"),
        sa.CheckConstraint("sessions_remaining >= 0", name="ck_member_package_sessions_remaining"),
    )
    op.create_index(
        "ix_member_package_sessions_member",
        "member_package_sessions",
        ["tenant_id", "member_id", "service_id"],
        postgresql_include=["sessions_remaining"],
    )
    op.create_index(
        "ix_member_package_sessions_service",
        "member_package_sessions",
        ["tenant_id", "service_id", "member_id"],
        postgresql_include=["sessions_remaining"],
    )


def downgrade() -> None:
    op.drop_index("ix_member_package_sessions_service", table_name="member_package_sessions")
    op.drop_index("ix_member_package_sessions_member", table_name="member_package_sessions")
    op.drop_table("member_package_sessions")
