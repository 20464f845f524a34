"""programme_grants records rewards beyond points: the voucher, the free-session card, a refusal

Revision ID: 0019_wallet_reward_kinds
Revises: 0018_wallet_context_store_tz
Create Date: 2026-12-07 15:40:00

A campaign's or programme's reward may be a voucher of a template or free sessions of a service;
the grant row keeps what was issued, or why it was refused (a template deleted or deactivated
after the campaign started: final, never retried).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_wallet_reward_kinds"
down_revision: str | Sequence[str] | None = "0018_wallet_context_store_tz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("programme_grants", sa.Column("voucher_id", sa.Text(), nullable=True))
    op.add_column("programme_grants", sa.Column("package_id", sa.Text(), nullable=True))
    op.add_column("programme_grants", sa.Column("refused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("programme_grants", "refused_reason")
    op.drop_column("programme_grants", "package_id")
    op.drop_column("programme_grants", "voucher_id")
