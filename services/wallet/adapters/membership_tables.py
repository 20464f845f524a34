"""The paid membership (会员费 / 续费): one row per member with a paid membership, and one per
payment (the period it bought). ``tables.py`` imports this module so Alembic sees the tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from services.wallet.adapters.tables import metadata

memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("paid_until", DateTime(timezone=True), nullable=False),
    Column("periods_paid", Integer, nullable=False),
    Column("renewals", Integer, nullable=False, server_default="0"),
    # the `paid_until` the renewal-due / expired notice was published for (once per period)
    Column("due_notice_for", DateTime(timezone=True), nullable=True),
    Column("expired_notice_for", DateTime(timezone=True), nullable=True),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_memberships"),
    Index("ix_memberships_paid_until", "paid_until"),
)

membership_periods = Table(
    "membership_periods",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("checkout_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("periods", Integer, nullable=False),
    Column("renewal", Boolean, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "checkout_id", name="pk_membership_periods"),
    Index("ix_membership_periods_member", "tenant_id", "member_id", "period_start"),
    Index("ix_membership_periods_end", "tenant_id", "period_end"),
)
