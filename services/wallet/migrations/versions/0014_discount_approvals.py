"""discount approvals (院长审批) and the checkout that used one

Revision ID: 0014_discount_approvals
Revises: 0013_free_care_grants
Create Date: 2026-12-07 13:40:00

`ApproveCheckoutDiscount` writes a single-use approval of a manual discount beyond the tier rate;
a checkout that uses it records it (`checkouts.discount_approval_id`) and the approval records
the checkout. The ceiling is the wallet setting `max_manual_discount_bps` (JSON settings).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_discount_approvals"
down_revision: str | Sequence[str] | None = "0013_free_care_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discount_approvals",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("approval_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("discount_bps", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approver", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkout_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("use_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "approval_id", name="pk_discount_approvals"),
        sa.CheckConstraint("discount_bps BETWEEN 1 AND 10000", name="ck_discount_approvals_bps"),
    )
    op.add_column("checkouts", sa.Column("discount_approval_id", sa.UUID(as_uuid=False), nullable=True))


def downgrade() -> None:
    op.drop_column("checkouts", "discount_approval_id")
    op.drop_table("discount_approvals")
