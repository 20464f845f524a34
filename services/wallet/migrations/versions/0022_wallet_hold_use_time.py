"""holds.use_time: the day an open session hold will be used, so an unlimited card's daily cap
counts pending (booked, not yet captured) holds on that day with the day's uses

Revision ID: 0022_wallet_hold_use_time
Revises: 0021_wallet_apply_static_inserts
Create Date: 2026-12-07 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_wallet_hold_use_time"
down_revision: str | Sequence[str] | None = "0021_wallet_apply_static_inserts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("holds", sa.Column("use_time", sa.DateTime(timezone=True), nullable=True))
    # the daily cap's lookup: a card item's open session holds
    op.create_index(
        "ix_holds_open_sessions",
        "holds",
        ["tenant_id", "package_id", "service"],
        postgresql_where=sa.text("state = 'authorized' AND package_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_holds_open_sessions", table_name="holds")
    op.drop_column("holds", "use_time")
