"""engagement: refunds un-count redemptions (campaign_reward_uses.checkout)

Revision ID: 0019_campaign_reward_restores
Revises: 0018_programme_reward_settings
Create Date: 2026-12-07 19:10:00

A use now records the checkout that made it; the wallet's ``VoucherRestored`` and
``PackageSessionsRestored`` (a refund gave the voucher / sessions back) are recorded as negative
uses dated like the use of the same checkout they undo.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_campaign_reward_restores"
down_revision: str | Sequence[str] | None = "0018_programme_reward_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaign_reward_uses", sa.Column("checkout", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("campaign_reward_uses", "checkout")
