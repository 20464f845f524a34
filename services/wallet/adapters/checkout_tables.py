"""Tables of the wallet's checkout records (registered on the wallet's shared MetaData).

A checkout row keeps everything a refund needs to reverse it exactly: the lines as requested,
each line's computed amounts and funding, the points lots it took from, the lot it granted, the
package and voucher uses, and its ledger transaction. History is never edited: refunds and
commission clawbacks are new rows; only `state`, `refunded_minor`, `refunded_units` move.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from services.wallet.adapters.tables import metadata

checkouts = Table(
    "checkouts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("checkout_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=True),  # NULL for a walk-in
    Column("store_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # completed | partially_refunded | refunded | reversed
    Column("customer_type", Text, nullable=False),  # new | member
    Column("tier_id", Text, nullable=False, server_default=""),
    Column("tier_discount_bps", Integer, nullable=False, server_default=text("0")),
    Column("currency_code", Text, nullable=False),
    Column("lines", JSONB, nullable=False),  # the lines as requested
    Column("line_results", JSONB, nullable=False),  # computed amounts, funding, points per line
    Column("vouchers", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("points_to_redeem", BigInteger, nullable=False, server_default=text("0")),
    Column("tenders", JSONB, nullable=False),  # [[tender, amount], ...] as received
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("package_covered_minor", BigInteger, nullable=False),
    Column("tier_discount_minor", BigInteger, nullable=False),
    Column("voucher_discount_minor", BigInteger, nullable=False),
    Column("points_deduction_minor", BigInteger, nullable=False),
    Column("total_due_minor", BigInteger, nullable=False),
    Column("principal_funded_minor", BigInteger, nullable=False),
    Column("bonus_funded_minor", BigInteger, nullable=False),
    Column("qualifying_spend_minor", BigInteger, nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("earned_lot_id", UUID(as_uuid=False), nullable=True),
    Column("redeemed_lots", JSONB, nullable=False),  # [[lot_id, taken], ...]
    Column("package_uses", JSONB, nullable=False),
    Column("voucher_uses", JSONB, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("refunded_units", JSONB, nullable=False),  # units refunded so far, per line
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # the store manager's approval of a discount beyond the tier's, when one was used
    Column("discount_approval_id", UUID(as_uuid=False), nullable=True),
    PrimaryKeyConstraint("tenant_id", "checkout_id", name="pk_checkouts"),
    Index("ix_checkouts_member", "tenant_id", "member_id", "create_time"),
    Index("ix_checkouts_store", "tenant_id", "store_id", "create_time"),
    Index("ix_checkouts_time", "tenant_id", "create_time", "checkout_id"),
    Index("ix_checkouts_transaction", "tenant_id", "transaction_id"),
)

checkout_refunds = Table(
    "checkout_refunds",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("refund_id", UUID(as_uuid=False), nullable=False),
    Column("checkout_id", UUID(as_uuid=False), nullable=False),
    Column("full", Boolean, nullable=False),
    Column("lines", JSONB, nullable=False),  # [[line_index, quantity], ...]
    Column("amount_minor", BigInteger, nullable=False),
    Column("principal_refunded_minor", BigInteger, nullable=False),
    Column("bonus_refunded_minor", BigInteger, nullable=False),
    Column("tenders", JSONB, nullable=False),  # [[tender, amount], ...]
    Column("points_restored", BigInteger, nullable=False),
    Column("points_clawed_back", BigInteger, nullable=False),
    Column("sessions_restored", BigInteger, nullable=False),
    Column("vouchers_restored", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("lot_restores", JSONB, nullable=False),  # [[lot_id, restored], ...]
    Column("reason", Text, nullable=False, server_default=""),
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "refund_id", name="pk_checkout_refunds"),
    Index("ix_checkout_refunds_checkout", "tenant_id", "checkout_id", "create_time"),
)

commission_rules = Table(
    "commission_rules",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("item", Text, nullable=False, server_default=""),
    Column("category", Text, nullable=False, server_default=""),
    Column("store_id", Text, nullable=False, server_default=""),
    Column("staff_position", Text, nullable=False, server_default=""),
    Column("customer_type", Text, nullable=False, server_default=""),
    Column("tender", Text, nullable=False, server_default=""),
    Column("basis", Text, nullable=False),  # percent | fixed
    Column("percent_bps", Integer, nullable=False, server_default=text("0")),
    Column("fixed_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "rule_id", name="pk_commission_rules"),
)

commission_records = Table(
    "commission_records",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("record_id", UUID(as_uuid=False), nullable=False),
    # A record belongs to a checkout line or to a package card sold (`SellPackage.sold_by`) ...
    Column("checkout_id", UUID(as_uuid=False), nullable=True),
    Column("package_id", UUID(as_uuid=False), nullable=True),
    Column("refund_id", UUID(as_uuid=False), nullable=True),  # set on a checkout refund's clawback
    Column("line_index", Integer, nullable=False),
    Column("staff", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("base_minor", BigInteger, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("item", Text, nullable=False),
    Column("currency_code", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # ... or to a top-up (`TopUpRequest.sold_by`): its ledger transaction.
    Column("transaction_id", UUID(as_uuid=False), nullable=True),
    # What GetCommissionReport groups by besides staff, item and store.
    Column("staff_position", Text, nullable=False, server_default=""),
    Column("tender", Text, nullable=False, server_default=""),  # '' = several tenders
    Column("category", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("tenant_id", "record_id", name="pk_commission_records"),
    CheckConstraint(
        "num_nonnulls(checkout_id, package_id, transaction_id) = 1", name="ck_commission_records_source"
    ),
    Index("ix_commission_records_package", "tenant_id", "package_id"),
    Index("ix_commission_records_transaction", "tenant_id", "transaction_id"),
    Index("ix_commission_records_time", "tenant_id", "create_time", "record_id"),
    Index("ix_commission_records_staff", "tenant_id", "staff", "create_time"),
    Index("ix_commission_records_checkout", "tenant_id", "checkout_id"),
)


# A store manager's approval of a manual discount beyond the tier rate (院长审批,
# `ApproveCheckoutDiscount`): single use — the checkout that uses it locks the row and sets
# `checkout_id` in its own transaction. Never deleted (the audit of who allowed what).
discount_approvals = Table(
    "discount_approvals",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("approval_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=True),  # None: any customer
    Column("discount_bps", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("approver", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    Column("checkout_id", UUID(as_uuid=False), nullable=True),
    Column("use_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "approval_id", name="pk_discount_approvals"),
    CheckConstraint("discount_bps BETWEEN 1 AND 10000", name="ck_discount_approvals_bps"),
)
