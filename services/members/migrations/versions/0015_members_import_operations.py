"""import_uploads, import_upload_chunks, import_operations, import_operation_errors: the ImportService

Revision ID: 0015_members_import_operations
Revises: 0014_members_campaign_rewards
Create Date: 2026-12-07 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_members_import_operations"
down_revision: str | Sequence[str] | None = "0014_members_campaign_rewards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_uploads",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("upload_id", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("received_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "received_bytes >= 0 AND received_bytes <= size_bytes", name="ck_import_uploads_received"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "upload_id", name="pk_import_uploads"),
    )
    op.create_table(
        "import_upload_chunks",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("upload_id", sa.Text(), nullable=False),
        sa.Column("offset_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "upload_id"],
            ["import_uploads.tenant_id", "import_uploads.upload_id"],
            name="fk_import_upload_chunks_upload",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "upload_id", "offset_bytes", name="pk_import_upload_chunks"),
    )
    op.create_table(
        "import_operations",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("operation_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("upload_id", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), server_default="", nullable=False),
        sa.Column("mapping_yaml", sa.Text(), server_default="", nullable=False),
        sa.Column("encoding", sa.Text(), server_default="", nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_imported", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_already", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tally", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("language", sa.Text(), server_default="en", nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_code", sa.Text(), server_default="", nullable=False),
        sa.Column("error_message", sa.Text(), server_default="", nullable=False),
        sa.Column("lease_owner", sa.Text(), server_default="", nullable=False),
        sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finish_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_import_operations_state",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "operation_id", name="pk_import_operations"),
    )
    op.create_index(
        "ix_import_operations_unfinished",
        "import_operations",
        ["state", "lease_expire_time"],
        postgresql_where=sa.text("finish_time IS NULL"),
    )
    op.create_index(
        "ix_import_operations_tenant_time", "import_operations", ["tenant_id", "create_time", "operation_id"]
    )
    op.create_table(
        "import_operation_errors",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("operation_id", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "operation_id"],
            ["import_operations.tenant_id", "import_operations.operation_id"],
            name="fk_import_operation_errors_operation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "operation_id",
            "row_number",
            "column_name",
            "code",
            name="pk_import_operation_errors",
        ),
    )


def downgrade() -> None:
    op.drop_table("import_operation_errors")
    op.drop_index("ix_import_operations_tenant_time", table_name="import_operations")
    op.drop_index("ix_import_operations_unfinished", table_name="import_operations")
    op.drop_table("import_operations")
    op.drop_table("import_upload_chunks")
    op.drop_table("import_uploads")
