"""tier anniversary reviews: one row per (member, tier_since, anniversary) reviewed

Revision ID: 0007_tier_anniversary_reviews
Revises: 0006_member_contacts
Create Date: 2026-12-07 12:50:00

The durable record of the anniversary downgrade review (services/members/adapters/tier_reviews.py):
its primary key makes each review happen once across replicas and crashes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_tier_anniversary_reviews"
down_revision: str | Sequence[str] | None = "0006_member_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tier_anniversary_reviews",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("tier_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anniversary", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("to_tier_id", sa.Text(), nullable=False),
        sa.Column("review_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "member_id", "tier_since", "anniversary", name="pk_tier_anniversary_reviews"
        ),
    )


def downgrade() -> None:
    op.drop_table("tier_anniversary_reviews")
