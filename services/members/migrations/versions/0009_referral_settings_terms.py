"""referral_settings: the voucher and points of the referral reward, per tenant

Revision ID: 0009_referral_settings_terms
Revises: 0008_member_spend_points
Create Date: 2026-12-07 13:20:00

`UpdateReferralSettings` sets them; `ReferralRewardEarned` carries them to the wallet. Rows
written before this revision (a threshold only) get the defaults.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_referral_settings_terms"
down_revision: str | Sequence[str] | None = "0008_member_spend_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "referral_settings",
        sa.Column("referrer_voucher_minor", sa.BigInteger(), server_default="5000", nullable=False),
    )
    op.add_column(
        "referral_settings",
        sa.Column("voucher_valid_days", sa.Integer(), server_default="90", nullable=False),
    )
    op.add_column(
        "referral_settings",
        sa.Column("referrer_points", sa.BigInteger(), server_default="200", nullable=False),
    )
    op.add_column(
        "referral_settings",
        sa.Column("referee_points", sa.BigInteger(), server_default="200", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("referral_settings", "referee_points")
    op.drop_column("referral_settings", "referrer_points")
    op.drop_column("referral_settings", "voucher_valid_days")
    op.drop_column("referral_settings", "referrer_voucher_minor")
