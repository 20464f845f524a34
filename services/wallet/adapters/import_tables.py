"""The record of imported opening balances (`peony import`), on the wallet's ``metadata``: one row
per (tenant, import, file row), written in the same transaction as the row's opening transaction.
Its primary key makes the wallet's side of an import idempotent by (import id, row).

``tables.py`` imports this module at its bottom so Alembic sees the table.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

from services.wallet.adapters.tables import metadata

wallet_import_rows = Table(
    "wallet_import_rows",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("import_id", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("transaction_id", UUID(as_uuid=False), nullable=True),  # None: the row had no balance
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "import_id", "row_number", name="pk_wallet_import_rows"),
)
