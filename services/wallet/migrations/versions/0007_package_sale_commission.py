"""commission records for package cards sold (`SellPackageRequest.sold_by`)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:10:00

`sold_by` was documented "for commission" but unused. A record now belongs either to a checkout
line (`checkout_id`) or to a package card sold (`package_id`), exactly one of them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("commission_records", "checkout_id", existing_type=sa.UUID(as_uuid=False), nullable=True)
    op.add_column("commission_records", sa.Column("package_id", sa.UUID(as_uuid=False), nullable=True))
    op.create_check_constraint(
        "ck_commission_records_source", "commission_records", "num_nonnulls(checkout_id, package_id) = 1"
    )
    op.create_index("ix_commission_records_package", "commission_records", ["tenant_id", "package_id"])


def downgrade() -> None:
    op.execute("DELETE FROM commission_records WHERE checkout_id IS NULL")
    op.drop_index("ix_commission_records_package", table_name="commission_records")
    op.drop_constraint("ck_commission_records_source", "commission_records", type_="check")
    op.drop_column("commission_records", "package_id")
    op.alter_column("commission_records", "checkout_id", existing_type=sa.UUID(as_uuid=False), nullable=False)
