"""free_care_grants: the monthly free-care tier benefit, once per member and month

Revision ID: 0013_free_care_grants
Revises: 0012_commission_top_ups
Create Date: 2026-12-07 13:30:00

One row per member and month granted (services/wallet/service_layer/benefits.py), written with
the package card of the month's free sessions; the primary key makes each grant happen once.
The service of the sessions is the wallet setting `free_care_service` (JSON settings: no column).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_free_care_grants"
down_revision: str | Sequence[str] | None = "0012_commission_top_ups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "free_care_grants",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("package_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", "month", name="pk_free_care_grants"),
    )


def downgrade() -> None:
    op.drop_table("free_care_grants")
