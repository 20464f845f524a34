"""member_spend.qualifying_points: points earned at checkouts count toward tiers

Revision ID: 0008_member_spend_points
Revises: 0007_tier_anniversary_reviews
Create Date: 2026-12-07 13:00:00

A tier's `qualifying_points` (tier.proto) reaches on the points a member earned at checkouts over
the ladder's window, net of refunds' clawbacks (CheckoutCompleted.points_earned,
CheckoutRefunded.points_clawed_back). Rows recorded before this revision count 0 points.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_member_spend_points"
down_revision: str | Sequence[str] | None = "0007_tier_anniversary_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "member_spend", sa.Column("qualifying_points", sa.BigInteger(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("member_spend", "qualifying_points")
