"""Tables of the wallet's voucher records (registered on the wallet's shared MetaData): voucher
templates and vouchers, the points rewards catalog, daily check-ins and granted referral rewards.

The database guards the rules that matter under concurrency: a voucher code is unique per
tenant, a member checks in at most once per local day (primary key), a referee earns the referral
reward at most once (primary key), and a reward's stock never goes below -1 (= unlimited).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from services.wallet.adapters.tables import metadata


def _terms() -> list[Column]:
    """The voucher terms a template defines and each voucher copies at issue."""
    return [
        Column("display_name", Text, nullable=False),
        Column("kind", Text, nullable=False),  # amount_off | percent_off | free_service
        Column("amount_off_minor", BigInteger, nullable=False, server_default=text("0")),
        Column("percent_off_bps", Integer, nullable=False, server_default=text("0")),
        Column("max_discount_minor", BigInteger, nullable=False, server_default=text("0")),
        Column("free_service", Text, nullable=False, server_default=""),
        Column("min_spend_minor", BigInteger, nullable=False, server_default=text("0")),
        Column("stores", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # store ids
    ]


voucher_templates = Table(
    "voucher_templates",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    *_terms(),
    Column("valid_days", Integer, nullable=False, server_default=text("0")),
    Column("valid_from", DateTime(timezone=True), nullable=True),
    Column("valid_until", DateTime(timezone=True), nullable=True),
    Column("currency_code", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "template_id", name="pk_voucher_templates"),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("voucher_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("template_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("state", Text, nullable=False),  # issued | redeemed | voided | expired
    *_terms(),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=True),  # exclusive; None = no end
    Column("reason", Text, nullable=False, server_default=""),
    Column("redeemed_checkout_id", Text, nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "voucher_id", name="pk_vouchers"),
    UniqueConstraint("tenant_id", "code", name="uq_vouchers_code"),
    CheckConstraint("state IN ('issued', 'redeemed', 'voided', 'expired')", name="ck_vouchers_state"),
    Index("ix_vouchers_member", "tenant_id", "member_id", "create_time"),
    Index(
        "ix_vouchers_checkout",
        "tenant_id",
        "redeemed_checkout_id",
        postgresql_where=text("redeemed_checkout_id IS NOT NULL"),
    ),
)

rewards = Table(
    "rewards",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("reward_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("points_cost", BigInteger, nullable=False),
    Column("stock", BigInteger, nullable=False),  # -1 = unlimited
    Column("kind", Text, nullable=False),  # product | service | voucher
    Column("item", Text, nullable=False),  # products/…, services/… or voucherTemplates/…
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "reward_id", name="pk_rewards"),
    CheckConstraint("stock >= -1", name="ck_rewards_stock"),
    CheckConstraint("points_cost > 0", name="ck_rewards_points_cost"),
)

# One row per member per local day: the primary key is what refuses a second check-in.
check_ins = Table(
    "check_ins",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("streak_days", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("store_id", Text, nullable=True),
    Column("transaction_id", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", "local_date", name="pk_check_ins"),
)

# The referral reward, granted at most once per referee (the primary key).
referral_rewards = Table(
    "referral_rewards",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("referee_id", UUID(as_uuid=False), nullable=False),
    Column("referrer_id", UUID(as_uuid=False), nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("voucher_id", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "referee_id", name="pk_referral_rewards"),
)
