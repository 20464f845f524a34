"""member_package_items: the partial index the package expiry job finds expired items with value
left by (deferred revenue or unused counted sessions past the item's expiry are recognised)

Revision ID: 0023_wallet_package_expiry
Revises: 0022_wallet_hold_use_time
Create Date: 2026-12-07 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_wallet_package_expiry"
down_revision: str | Sequence[str] | None = "0022_wallet_hold_use_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_member_package_items_expiring",
        "member_package_items",
        ["expire_time"],
        postgresql_where=sa.text("deferred_minor > 0 OR (sessions_remaining > 0 AND NOT unlimited)"),
    )


def downgrade() -> None:
    op.drop_index("ix_member_package_items_expiring", table_name="member_package_items")
