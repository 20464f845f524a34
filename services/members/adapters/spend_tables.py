"""Tables of qualifying spend (本金消费) and referral rewards, on the members ``metadata``.

Kept apart from ``tables.py`` so the spend feature stays in files of its own; ``tables.py`` imports
this module at its bottom so Alembic (which reads ``tables.metadata``) sees these tables too.

- ``member_spend``: one row per checkout (positive) and one per refund (negative), written by the
  wallet-events consumer. The primary key makes a checkout (and each refund of it) count once.
- ``referral_rewards``: one row per referee whose cumulative qualifying spend reached the tenant's
  threshold; its primary key is what makes the reward "exactly once per referee".
- ``referral_settings``: per-tenant referral terms (`UpdateReferralSettings`); no row means the
  defaults (``domain/referral.py``).
"""

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

from services.members.adapters.tables import metadata

CHECKOUT = "checkout"
REFUND = "refund"

member_spend = Table(
    "member_spend",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("checkout_id", Text, nullable=False),
    # '' for the checkout's own (positive) entry; the refund id for a refund's (negative) entry.
    Column("refund_id", Text, nullable=False, server_default=""),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),  # 'checkout' or 'refund'
    Column("qualifying_spend_minor", BigInteger, nullable=False),
    # Points the checkout earned (negative: a refund's clawback); they qualify for tiers whose
    # `qualifying_points` is set.
    Column("qualifying_points", BigInteger, nullable=False, server_default="0"),
    # A checkout entry is a visit; a refund entry with full=true undoes its checkout's visit.
    Column("visit", Boolean, nullable=False),
    Column("full_refund", Boolean, nullable=False, server_default="false"),
    Column("store_id", Text, nullable=False, server_default=""),
    Column("currency_code", Text, nullable=False, server_default=""),
    # When the spend counts for the rolling window (a refund counts at its checkout's time).
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("record_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "checkout_id", "refund_id", name="pk_member_spend"),
    Index("ix_member_spend_member", "tenant_id", "member_id", "occurred_at"),
)

referral_rewards = Table(
    "referral_rewards",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("referee_id", UUID(as_uuid=False), nullable=False),
    Column("referrer_id", UUID(as_uuid=False), nullable=False),
    Column("qualifying_spend_minor", BigInteger, nullable=False),
    Column("threshold_minor", BigInteger, nullable=False),
    Column("currency_code", Text, nullable=False),
    Column("checkout_id", Text, nullable=False),  # the checkout that crossed the threshold
    Column("reward_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "referee_id", name="pk_referral_rewards"),
    Index("ix_referral_rewards_referrer", "tenant_id", "referrer_id", "reward_time"),
)

referral_settings = Table(
    "referral_settings",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("referral_threshold_minor", BigInteger, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("referrer_voucher_minor", BigInteger, nullable=False, server_default="5000"),
    Column("voucher_valid_days", Integer, nullable=False, server_default="90"),
    Column("referrer_points", BigInteger, nullable=False, server_default="200"),
    Column("referee_points", BigInteger, nullable=False, server_default="200"),
)


# Segments' reads of the per-checkout spend rows: a window scan (index-only) and "visited store X".
Index(
    "ix_member_spend_window",
    member_spend.c.tenant_id,
    member_spend.c.occurred_at,
    postgresql_include=["member_id", "qualifying_spend_minor", "visit", "full_refund"],
)
Index("ix_member_spend_store", member_spend.c.tenant_id, member_spend.c.store_id, member_spend.c.member_id)
