"""The record of imported rows (`peony import` and the ImportService), on the members
``metadata``: one row per (tenant, import, file row) with its outcome, written in the same
transaction as the member it created. Its primary key is what makes an import idempotent by
(import id, row). Below it, the ImportService's uploads and operations.

``tables.py`` imports this module at its bottom so Alembic sees the table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.members.adapters.tables import metadata

IMPORTED = "imported"
REJECTED = "rejected"

member_import_rows = Table(
    "member_import_rows",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("import_id", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("outcome", Text, nullable=False),  # imported | rejected
    Column("member_id", UUID(as_uuid=False), nullable=True),
    Column("field", Text, nullable=False, server_default=""),  # the Peony field a rejection names
    Column("reason", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "import_id", "row_number", name="pk_member_import_rows"),
)

# --- the ImportService: uploads (the file, in chunks) and operations (the durable jobs) ----------

import_uploads = Table(
    "import_uploads",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("upload_id", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("received_bytes", BigInteger, nullable=False, server_default="0"),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "upload_id", name="pk_import_uploads"),
    CheckConstraint(
        "received_bytes >= 0 AND received_bytes <= size_bytes", name="ck_import_uploads_received"
    ),
)

# One row per chunk, keyed by its offset: a chunk sent twice cannot be stored twice.
import_upload_chunks = Table(
    "import_upload_chunks",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("upload_id", Text, nullable=False),
    Column("offset_bytes", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("tenant_id", "upload_id", "offset_bytes", name="pk_import_upload_chunks"),
    ForeignKeyConstraint(
        ["tenant_id", "upload_id"],
        ["import_uploads.tenant_id", "import_uploads.upload_id"],
        name="fk_import_upload_chunks_upload",
        ondelete="CASCADE",
    ),
)

# A durable import job: claimed by a worker with FOR UPDATE SKIP LOCKED under a lease it renews;
# `rows_read` is the checkpoint (rows of the file consumed, committed with each batch's progress).
import_operations = Table(
    "import_operations",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("operation_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("upload_id", Text, nullable=False),
    Column("mapping", Text, nullable=False, server_default=""),
    Column("mapping_yaml", Text, nullable=False, server_default=""),
    Column("encoding", Text, nullable=False, server_default=""),
    Column("dry_run", Boolean, nullable=False),
    Column("import_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # pending | running | succeeded | failed | cancelled
    Column("rows_total", BigInteger, nullable=False, server_default="0"),
    Column("rows_read", BigInteger, nullable=False, server_default="0"),
    Column("rows_imported", BigInteger, nullable=False, server_default="0"),
    Column("rows_already", BigInteger, nullable=False, server_default="0"),
    Column("rows_rejected", BigInteger, nullable=False, server_default="0"),
    Column("tally", JSONB, nullable=False, server_default="{}"),  # running sums (file, accepted)
    Column("language", Text, nullable=False, server_default="en"),
    Column("summary", JSONB, nullable=True),
    Column("error_code", Text, nullable=False, server_default=""),
    Column("error_message", Text, nullable=False, server_default=""),
    # Attempts (claims) since the last committed batch: bounded by the worker's max attempts.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", Text, nullable=False, server_default=""),
    Column("lease_expire_time", DateTime(timezone=True), nullable=True),
    Column("cancel_time", DateTime(timezone=True), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finish_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "operation_id", name="pk_import_operations"),
    CheckConstraint(
        "state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
        name="ck_import_operations_state",
    ),
    Index(
        "ix_import_operations_unfinished",
        "state",
        "lease_expire_time",
        postgresql_where="finish_time IS NULL",
    ),
    Index("ix_import_operations_tenant_time", "tenant_id", "create_time", "operation_id"),
)

# The row error report of an operation; re-running a batch after a crash adds nothing twice.
import_operation_errors = Table(
    "import_operation_errors",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("operation_id", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("column_name", Text, nullable=False),
    Column("code", Text, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "operation_id", "row_number", "column_name", "code", name="pk_import_operation_errors"
    ),
    ForeignKeyConstraint(
        ["tenant_id", "operation_id"],
        ["import_operations.tenant_id", "import_operations.operation_id"],
        name="fk_import_operation_errors_operation",
        ondelete="CASCADE",
    ),
)
