"""The wallet database schema: the ledger (accounts, transactions, postings) and the records the
ledger's money rules need (holds, points lots and their movements, bonus release schedules,
payment PINs, plans and settings).

The database guards the money: member-owned accounts carry a CHECK that they are never
overdrawn, postings are append-only, and a transaction can be reversed at most once (unique
`reverses`). Balances change only together with their postings, in one transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kit.db import kit_metadata_tables
from kit.store_projection import store_table
from services.wallet.domain.ledger import KINDS

metadata = MetaData()
kit_metadata_tables(metadata)

_GUARDED = ", ".join(f"'{k.code}'" for k in KINDS.values() if k.guarded)

accounts = Table(
    "accounts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("account_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("unit", Text, nullable=False),
    # Sum of the account's postings (debit +, credit -).
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "account_id", name="pk_accounts"),
    # Every member-owned account is credit-normal: it may never hold less than nothing.
    CheckConstraint(f"kind NOT IN ({_GUARDED}) OR balance <= 0", name="ck_accounts_member_not_overdrawn"),
    Index("ix_accounts_owner", "tenant_id", "owner", "kind"),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=True),
    Column("store_id", Text, nullable=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("reverses", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The request that wrote it ('' for the service's own jobs) and the resource it belongs to
    # (`checkouts/{checkout}`, `holds/{hold}`, …; '' when none), as ledger.proto documents.
    Column("request_id", Text, nullable=False, server_default=""),
    Column("reference", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("tenant_id", "transaction_id", name="pk_ledger_transactions"),
    Index(
        "uq_ledger_transactions_reverses",
        "tenant_id",
        "reverses",
        unique=True,
        postgresql_where=text("reverses IS NOT NULL"),
    ),
    Index("ix_ledger_transactions_member", "tenant_id", "member_id", "create_time"),
    Index("ix_ledger_transactions_store", "tenant_id", "store_id", "create_time"),
)

postings = Table(
    "postings",
    metadata,
    Column("posting_id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("account_id", UUID(as_uuid=False), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("unit", Text, nullable=False),
    CheckConstraint("amount <> 0", name="ck_postings_nonzero"),
    Index("ix_postings_transaction", "tenant_id", "transaction_id"),
    Index("ix_postings_account", "tenant_id", "account_id"),
)

wallet_settings = Table(
    "wallet_settings",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("settings", JSONB, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

payment_pins = Table(
    "payment_pins",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("pin_hash", LargeBinary, nullable=False),  # scrypt with a per-member salt
    Column("salt", LargeBinary, nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_payment_pins"),
)

top_up_plans = Table(
    "top_up_plans",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("plan_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("pay_minor", BigInteger, nullable=False),
    Column("bonus_minor", BigInteger, nullable=False),
    Column("bonus_release", Text, nullable=False),  # immediate | monthly
    Column("release_months", Integer, nullable=False, server_default=text("1")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("stores", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "plan_id", name="pk_top_up_plans"),
)

# Bonus promised by a monthly plan, released by the scheduler when due (or voided by a refund).
bonus_releases = Table(
    "bonus_releases",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("release_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("top_up_transaction_id", UUID(as_uuid=False), nullable=False),
    Column("due_time", DateTime(timezone=True), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("state", Text, nullable=False),  # scheduled | released | voided
    Column("transaction_id", UUID(as_uuid=False), nullable=True),
    PrimaryKeyConstraint("tenant_id", "release_id", name="pk_bonus_releases"),
    Index("ix_bonus_releases_due", "due_time", postgresql_where=text("state = 'scheduled'")),
    Index("ix_bonus_releases_member", "tenant_id", "member_id"),
)

holds = Table(
    "holds",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("hold_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # 0 for a session hold
    Column("principal_minor", BigInteger, nullable=False),  # how the held amount was funded,
    Column("bonus_minor", BigInteger, nullable=False),  # so a void returns it exactly
    # a session hold: `sessions` of the card item (package_id, service); none for stored value
    Column("package_id", UUID(as_uuid=False), nullable=True),
    Column("service", Text, nullable=True),
    Column("sessions", BigInteger, nullable=False, server_default=text("0")),
    Column("captured_sessions", BigInteger, nullable=False, server_default=text("0")),
    Column("state", Text, nullable=False),  # authorized | captured | voided | expired
    Column("reference", Text, nullable=False, server_default=""),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    # a session hold: when its sessions are to be used (NULL: its create_time); the daily cap's day
    Column("use_time", DateTime(timezone=True), nullable=True),
    Column("authorize_transaction_id", UUID(as_uuid=False), nullable=False),
    Column("settle_transaction_id", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "hold_id", name="pk_holds"),
    # a hold reserves stored value or package sessions, never both
    CheckConstraint(
        "(package_id IS NULL AND service IS NULL AND sessions = 0 AND amount_minor > 0)"
        " OR (package_id IS NOT NULL AND service IS NOT NULL AND sessions > 0 AND amount_minor = 0"
        " AND principal_minor = 0 AND bonus_minor = 0)",
        name="ck_holds_kind",
    ),
    CheckConstraint("captured_sessions >= 0 AND captured_sessions <= sessions", name="ck_holds_captured"),
    Index("ix_holds_expiring", "expire_time", postgresql_where=text("state = 'authorized'")),
    Index("ix_holds_member", "tenant_id", "member_id"),
    Index(
        "ix_holds_open_sessions",
        "tenant_id",
        "package_id",
        "service",
        postgresql_where=text("state = 'authorized' AND package_id IS NOT NULL"),
    ),
)

point_lots = Table(
    "point_lots",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("lot_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("source", Text, nullable=False),
    Column("original", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("earned_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=True),
    Column("pending_until", DateTime(timezone=True), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("transaction_id", UUID(as_uuid=False), nullable=False),  # the transaction that granted it
    Column("expiring_notified", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("tenant_id", "lot_id", name="pk_point_lots"),
    CheckConstraint("remaining >= 0 AND remaining <= original", name="ck_point_lots_remaining"),
    Index("ix_point_lots_member", "tenant_id", "member_id", "expire_time"),
    Index("ix_point_lots_expiry", "expire_time", postgresql_where=text("remaining > 0")),
)

# Which lots a transaction took points from (negative) or gave back to (positive): a refund
# restores exactly these.
lot_movements = Table(
    "lot_movements",
    metadata,
    Column("movement_id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("lot_id", UUID(as_uuid=False), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Index("ix_lot_movements_transaction", "tenant_id", "transaction_id"),
)

# Which selling store owes a member's stored value (services/wallet/domain/sv_lots.py): one lot
# per (member, store), amounts reserved by holds included, and every change to a lot with the
# ledger transaction that made it (the finance views read these as of a time).
stored_value_lots = Table(
    "stored_value_lots",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("principal_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("bonus_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", "store_id", name="pk_stored_value_lots"),
    CheckConstraint("principal_minor >= 0 AND bonus_minor >= 0", name="ck_stored_value_lots_not_negative"),
)

stored_value_lot_movements = Table(
    "stored_value_lot_movements",
    metadata,
    Column("movement_id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # NULL only for the opening attribution written by migration 0008
    Column("transaction_id", UUID(as_uuid=False), nullable=True),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),  # the lot's (selling) store
    Column("at_store_id", Text, nullable=False),  # where it happened (the transaction's store)
    Column("kind", Text, nullable=False),  # credit | spend | restore | opening
    Column("principal_minor", BigInteger, nullable=False),  # change of the lot: + in, - out
    Column("bonus_minor", BigInteger, nullable=False),
    # for a restore: the spend transaction it gives back to (for a reversed top-up: the top-up)
    Column("restores_transaction_id", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_stored_value_lot_movements_transaction", "tenant_id", "transaction_id"),
    Index("ix_stored_value_lot_movements_restores", "tenant_id", "restores_transaction_id"),
    Index("ix_stored_value_lot_movements_time", "tenant_id", "create_time"),
)

# --- projection of members (fed by members' events; see services/wallet/adapters/member_directory.py)
# Checkout needs each member's tier benefits on every call: reading them from our own database
# keeps the wallet working (and fast) when the members service is slow or down.
member_directory = Table(
    "member_directory",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("home_store_id", Text, nullable=False),
    Column("tier_id", Text, nullable=False),
    # Benefits carried by the member's last MemberRegistered / TierChanged event; a tenant ladder
    # row (below), when present, is authoritative for the tier's current benefits.
    Column("discount_bps", Integer, nullable=False),
    Column("points_multiplier_permille", Integer, nullable=False),
    Column("registered_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_directory"),
)

# Stores of the members service (StoreCreated / StoreUpdated; kit/store_projection.py): every
# money movement names a store, and an unknown one is refused before anything is written.
store_directory = store_table("store_directory", metadata)

tier_ladders = Table(
    "tier_ladders",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("tiers", JSONB, nullable=False),  # [{tier_id, discount_bps, points_multiplier_permille, ...}]
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Areas keep their tables in their own modules on this MetaData; importing them here makes one
# schema (and one Alembic history) for the whole wallet database.
from services.wallet.adapters import (  # noqa: E402, F401
    checkout_tables,
    import_tables,
    membership_tables,
    package_tables,
    programme_tables,
    voucher_tables,
)
