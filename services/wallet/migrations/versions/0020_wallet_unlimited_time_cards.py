"""Unlimited time cards (月卡/季卡/年卡 with unlimited uses): member_package_items.unlimited, max_uses_per_day

Revision ID: 0020_wallet_unlimited_time_cards
Revises: 0019_wallet_reward_kinds
Create Date: 2026-12-07 15:40:00

An unlimited item counts no sessions (total and remaining stay 0) but a booking may still hold
uses of it, so the held-sessions check no longer compares with the remaining count for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_wallet_unlimited_time_cards"
down_revision: str | Sequence[str] | None = "0019_wallet_reward_kinds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "member_package_items",
        sa.Column("unlimited", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "member_package_items",
        sa.Column("max_uses_per_day", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.drop_constraint("ck_member_package_items_held", "member_package_items", type_="check")
    op.create_check_constraint(
        "ck_member_package_items_held",
        "member_package_items",
        "sessions_held >= 0 AND (unlimited OR sessions_held <= sessions_remaining)",
    )


def downgrade() -> None:
    op.drop_constraint("ck_member_package_items_held", "member_package_items", type_="check")
    op.create_check_constraint(
        "ck_member_package_items_held",
        "member_package_items",
        "sessions_held >= 0 AND sessions_held <= sessions_remaining",
    )
    op.drop_column("member_package_items", "max_uses_per_day")
    op.drop_column("member_package_items", "unlimited")
