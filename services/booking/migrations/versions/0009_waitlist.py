"""the waitlist

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "waitlist_entries",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("wanted_date", sa.Date(), nullable=False),
        sa.Column("staff", sa.Text(), nullable=True),
        sa.Column("earliest_start", sa.Text(), nullable=True),
        sa.Column("latest_start", sa.Text(), nullable=True),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("offers_made", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("appointment_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('waiting', 'offered', 'booked', 'cancelled', 'expired')",
            name="ck_waitlist_entries_state",
        ),
        sa.CheckConstraint("offers_made >= 0", name="ck_waitlist_entries_offers_made"),
        sa.PrimaryKeyConstraint("tenant_id", "entry_id", name="pk_waitlist_entries"),
    )
    op.create_index(
        "ux_waitlist_entries_live",
        "waitlist_entries",
        ["tenant_id", "member_id", "store_id", "service_id", "wanted_date"],
        unique=True,
        postgresql_where=sa.text("state IN ('waiting', 'offered')"),
    )
    op.create_index(
        "ix_waitlist_entries_queue",
        "waitlist_entries",
        ["tenant_id", "store_id", "wanted_date", "create_time", "entry_id"],
        unique=False,
    )
    op.create_index(
        "ix_waitlist_entries_member",
        "waitlist_entries",
        ["tenant_id", "member_id", "create_time"],
        unique=False,
    )
    op.create_index(
        "ix_waitlist_entries_waiting_date",
        "waitlist_entries",
        ["wanted_date"],
        unique=False,
        postgresql_where=sa.text("state = 'waiting'"),
    )
    op.create_table(
        "waitlist_offers",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("offer_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("entry_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("release_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("freed_staff", sa.Text(), nullable=False),
        sa.Column("freed_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("freed_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_start", sa.Text(), nullable=False),
        sa.Column("local_end", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("offer_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("close_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'accepted', 'declined', 'expired', 'withdrawn')",
            name="ck_waitlist_offers_state",
        ),
        sa.CheckConstraint("offer_time <= expire_time", name="ck_waitlist_offers_expire_after_offer"),
        sa.PrimaryKeyConstraint("tenant_id", "offer_id", name="pk_waitlist_offers"),
        sa.UniqueConstraint("tenant_id", "release_id", "entry_id", name="uq_waitlist_offers_release_entry"),
    )
    op.create_index(
        "ux_waitlist_offers_open_entry",
        "waitlist_offers",
        ["tenant_id", "entry_id"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ux_waitlist_offers_open_release",
        "waitlist_offers",
        ["tenant_id", "release_id"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ix_waitlist_offers_due",
        "waitlist_offers",
        ["expire_time"],
        unique=False,
        postgresql_where=sa.text("state = 'open'"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_waitlist_offers_due", table_name="waitlist_offers")
    op.drop_index("ux_waitlist_offers_open_release", table_name="waitlist_offers")
    op.drop_index("ux_waitlist_offers_open_entry", table_name="waitlist_offers")
    op.drop_table("waitlist_offers")
    op.drop_index("ix_waitlist_entries_waiting_date", table_name="waitlist_entries")
    op.drop_index("ix_waitlist_entries_member", table_name="waitlist_entries")
    op.drop_index("ix_waitlist_entries_queue", table_name="waitlist_entries")
    op.drop_index("ux_waitlist_entries_live", table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
