"""paid membership (会员费 / 续费): memberships and the periods their fees bought

Revision ID: 0015_memberships
Revises: 0014_discount_approvals
Create Date: 2026-12-07 13:50:00

A checkout line of item `membershipFee` extends the member's paid membership
(services/wallet/service_layer/membership.py); the wallet jobs publish `MembershipRenewalDue`
and `MembershipExpired` once per period; `GetMembershipRenewalRate` reads the periods.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_memberships"
down_revision: str | Sequence[str] | None = "0014_discount_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("paid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("periods_paid", sa.Integer(), nullable=False),
        sa.Column("renewals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_notice_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_notice_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", name="pk_memberships"),
    )
    op.create_index("ix_memberships_paid_until", "memberships", ["paid_until"])
    op.create_table(
        "membership_periods",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("checkout_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("renewal", sa.Boolean(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "checkout_id", name="pk_membership_periods"),
    )
    op.create_index(
        "ix_membership_periods_member", "membership_periods", ["tenant_id", "member_id", "period_start"]
    )
    op.create_index("ix_membership_periods_end", "membership_periods", ["tenant_id", "period_end"])


def downgrade() -> None:
    op.drop_index("ix_membership_periods_end", table_name="membership_periods")
    op.drop_index("ix_membership_periods_member", table_name="membership_periods")
    op.drop_table("membership_periods")
    op.drop_index("ix_memberships_paid_until", table_name="memberships")
    op.drop_table("memberships")
