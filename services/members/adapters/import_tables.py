"""The record of imported rows (`peony import`), on the members ``metadata``: one row per
(tenant, import, file row) with its outcome, written in the same transaction as the member it
created. Its primary key is what makes an import idempotent by (import id, row).

``tables.py`` imports this module at its bottom so Alembic sees the table.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

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
