"""waitlist offers remember the freed time they come from, so its unused part is offered again

Revision ID: 0015_waitlist_offer_origin
Revises: 0014_follow_up_outcomes
Create Date: 2026-12-07 13:10:00

An accepted offer may use only part of the freed span it came from; the rest is offered again,
in the accepting transaction, as a new release of the same origin (`origin_release_id`: the
release first freed by a cancellation, reschedule or no-show). An entry is offered time of one
origin at most once: the candidates' check reads the new index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_waitlist_offer_origin"
down_revision: str | Sequence[str] | None = "0014_follow_up_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "waitlist_offers", sa.Column("origin_release_id", postgresql.UUID(as_uuid=False), nullable=True)
    )
    op.execute("UPDATE waitlist_offers SET origin_release_id = release_id")
    op.alter_column("waitlist_offers", "origin_release_id", nullable=False)
    op.create_index(
        "ix_waitlist_offers_origin_entry", "waitlist_offers", ["tenant_id", "origin_release_id", "entry_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_offers_origin_entry", table_name="waitlist_offers")
    op.drop_column("waitlist_offers", "origin_release_id")
