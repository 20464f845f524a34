"""commission records for top-ups (`TopUpRequest.sold_by`), with position, tender and category

Revision ID: 0012_commission_top_ups
Revises: 0011_wallet_apply_function
Create Date: 2026-12-07 13:10:00

A record now belongs to a checkout line, a package card sold, or a top-up's ledger transaction
(`transaction_id`), exactly one of them. `staff_position`, `tender` (the payment type it was earned
on; '' for several) and `category` are kept on the record so `GetCommissionReport` can group by
them (rows written before this revision have them empty).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_commission_top_ups"
down_revision: str | Sequence[str] | None = "0011_wallet_apply_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("commission_records", sa.Column("transaction_id", sa.UUID(as_uuid=False), nullable=True))
    op.add_column(
        "commission_records", sa.Column("staff_position", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("commission_records", sa.Column("tender", sa.Text(), server_default="", nullable=False))
    op.add_column("commission_records", sa.Column("category", sa.Text(), server_default="", nullable=False))
    op.drop_constraint("ck_commission_records_source", "commission_records", type_="check")
    op.create_check_constraint(
        "ck_commission_records_source",
        "commission_records",
        "num_nonnulls(checkout_id, package_id, transaction_id) = 1",
    )
    op.create_index(
        "ix_commission_records_transaction", "commission_records", ["tenant_id", "transaction_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_commission_records_transaction", table_name="commission_records")
    op.execute("DELETE FROM commission_records WHERE transaction_id IS NOT NULL")
    op.drop_constraint("ck_commission_records_source", "commission_records", type_="check")
    op.create_check_constraint(
        "ck_commission_records_source", "commission_records", "num_nonnulls(checkout_id, package_id) = 1"
    )
    op.drop_column("commission_records", "category")
    op.drop_column("commission_records", "tender")
    op.drop_column("commission_records", "staff_position")
    op.drop_column("commission_records", "transaction_id")
