"""Engagement programme grants (生日礼包 …), on the wallet ``metadata``.

``programme_grants``: one row per (programme, member, period) the wallet has rewarded, e.g.
("birthday", member, "2027") or ("campaign", member, campaign id), with what it granted
(points, voucher, free-session card) or why part of it was refused. Its primary key makes a
grant exactly once whatever the producer publishes twice; the row, the ledger transaction and
the events commit together.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

from services.wallet.adapters.tables import metadata

programme_grants = Table(
    "programme_grants",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("programme", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("period", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("transaction_id", Text, nullable=True),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("voucher_id", Text, nullable=True),  # the voucher issued, when the reward has one
    Column("package_id", Text, nullable=True),  # the free-session card granted
    Column("refused_reason", Text, nullable=True),  # e.g. VOUCHER_TEMPLATE_INACTIVE: final
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "programme", "member_id", "period", name="pk_programme_grants"),
)
