"""engagement: saved segments, the member_activity projection, birthday month-day index, programme runs

Revision ID: 0011_engagement_segments
Revises: 0010_member_erasure_encryption
Create Date: 2026-12-07 12:50:00

``birthday_md_bidx`` is filled as members are saved; rows written before this revision are filled by
the birthday worker's backfill (the migration cannot compute it: the key is not the database's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_engagement_segments"
down_revision: str | Sequence[str] | None = "0010_member_erasure_encryption"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("birthday_md_bidx", sa.LargeBinary(), nullable=True))
    op.create_index("ix_members_birthday_md", "members", ["tenant_id", "birthday_md_bidx"])
    op.create_index(
        "ix_members_birthday_md_missing",
        "members",
        ["tenant_id", "member_id"],
        postgresql_where=sa.text("birthday_ct IS NOT NULL AND birthday_md_bidx IS NULL"),
    )
    op.create_index("ix_members_create_time", "members", ["tenant_id", "create_time"])
    op.create_index("ix_members_tags", "members", ["tags"], postgresql_using="gin")
    op.create_index(
        "ix_member_spend_window",
        "member_spend",
        ["tenant_id", "occurred_at"],
        postgresql_include=["member_id", "qualifying_spend_minor", "visit", "full_refund"],
    )
    op.create_index("ix_member_spend_store", "member_spend", ["tenant_id", "store_id", "member_id"])
    op.create_table(
        "segments",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("filter", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "segment_id", name="pk_segments"),
        sa.UniqueConstraint("tenant_id", "display_name", name="uq_segments_display_name"),
    )
    op.create_table(
        "member_activity",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("points_available", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("points_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stored_value_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("stored_value_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_activity"),
    )
    op.create_table(
        "programme_runs",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("programme", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "programme", "member_id", "period", name="pk_programme_runs"),
    )
    op.create_index("ix_member_activity_last_visit", "member_activity", ["tenant_id", "last_visit_at"])
    op.create_index("ix_member_activity_points", "member_activity", ["tenant_id", "points_available"])
    op.create_index("ix_member_activity_stored_value", "member_activity", ["tenant_id", "stored_value_minor"])


def downgrade() -> None:
    op.drop_table("programme_runs")
    op.drop_table("member_activity")
    op.drop_table("segments")
    op.drop_index("ix_member_spend_store", table_name="member_spend")
    op.drop_index("ix_member_spend_window", table_name="member_spend")
    op.drop_index("ix_members_tags", table_name="members")
    op.drop_index("ix_members_create_time", table_name="members")
    op.drop_index("ix_members_birthday_md_missing", table_name="members")
    op.drop_index("ix_members_birthday_md", table_name="members")
    op.drop_column("members", "birthday_md_bidx")
