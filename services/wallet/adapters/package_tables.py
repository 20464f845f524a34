"""Tables of the wallet's package records (registered on the wallet's shared MetaData).

The ledger holds the sessions (one `package_item` account per card item) and the money (deferred
revenue per selling store); these rows hold what the ledger cannot: the terms of each product, the
state of each card, each item's session value and remaining deferred value (so every consumption
and refund moves an exact amount), and a row per consumption for inter-store clearing.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.wallet.adapters.tables import metadata

package_products = Table(
    "package_products",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("product_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    # [{service, display_name, sessions, list_price_minor, validity_days, validity_months}]
    Column("items", JSONB, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "product_id", name="pk_package_products"),
    CheckConstraint("price_minor > 0", name="ck_package_products_price"),
)

member_packages = Table(
    "member_packages",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("package_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("product_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("state", Text, nullable=False),  # active | frozen | refunded | exhausted
    Column("price_minor", BigInteger, nullable=False),
    Column("store_sold", Text, nullable=False),
    Column("purchase_time", DateTime(timezone=True), nullable=False),
    Column("frozen_until", DateTime(timezone=True), nullable=True),
    Column("transferred_from", UUID(as_uuid=False), nullable=True),  # source card (its package_id)
    Column("transferred_from_member", UUID(as_uuid=False), nullable=True),  # and its owner
    Column("transferred_to", UUID(as_uuid=False), nullable=True),
    Column("sale_transaction_id", UUID(as_uuid=False), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "package_id", name="pk_member_packages"),
    CheckConstraint(
        "state IN ('active', 'frozen', 'refunded', 'exhausted')", name="ck_member_packages_state"
    ),
    Index("ix_member_packages_member", "tenant_id", "member_id", "package_id"),
)

member_package_items = Table(
    "member_package_items",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("package_id", UUID(as_uuid=False), nullable=False),
    Column("service", Text, nullable=False),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("sessions_total", BigInteger, nullable=False),
    Column("sessions_remaining", BigInteger, nullable=False),  # includes sessions_held
    # sessions reserved by authorised holds (also on the item's package_item_held account)
    Column("sessions_held", BigInteger, nullable=False, server_default=text("0")),
    Column("allocated_minor", BigInteger, nullable=False),  # the item's share of the price
    Column("session_value_minor", BigInteger, nullable=False),  # allocated // sessions_total
    Column("deferred_minor", BigInteger, nullable=False),  # value of the remaining sessions
    Column("expire_time", DateTime(timezone=True), nullable=True),
    # an unlimited time card's item: no sessions counted (total/remaining 0), its deferred value
    # recognised over [purchase, expire) (domain/packages.py); holds still count sessions_held
    Column("unlimited", Boolean, nullable=False, server_default=text("false")),
    # its optional cap of uses per day in the store's zone (0 = none), copied from the product
    Column("max_uses_per_day", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("tenant_id", "package_id", "service", name="pk_member_package_items"),
    CheckConstraint(
        "sessions_remaining >= 0 AND sessions_remaining <= sessions_total",
        name="ck_member_package_items_remaining",
    ),
    CheckConstraint("deferred_minor >= 0", name="ck_member_package_items_deferred"),
    CheckConstraint(
        "sessions_held >= 0 AND (unlimited OR sessions_held <= sessions_remaining)",
        name="ck_member_package_items_held",
    ),
    # the package expiry job's: items with value left, by expiry
    Index(
        "ix_member_package_items_expiring",
        "expire_time",
        postgresql_where=text("deferred_minor > 0 OR (sessions_remaining > 0 AND NOT unlimited)"),
    ),
)

# One row per consumption (and a negative one per restore by a checkout refund): finance clears
# revenue between the store that sold the card and the store that gave the service from these.
package_consumptions = Table(
    "package_consumptions",
    metadata,
    Column("consumption_id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("package_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("service", Text, nullable=False),
    Column("sessions", BigInteger, nullable=False),  # negative for a restore
    Column("store_sold", Text, nullable=False),
    Column("store_used", Text, nullable=False),
    Column("value_minor", BigInteger, nullable=False),  # revenue recognised (negative: restored)
    Column("transaction_id", UUID(as_uuid=False), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_package_consumptions_package", "tenant_id", "package_id"),
    Index("ix_package_consumptions_stores", "tenant_id", "store_sold", "store_used", "create_time"),
)

# The tier benefit "free care each month" (每月N次免费护理): one row per member and month granted,
# written with the package card it created; the primary key makes the grant once per member and
# month whatever the replicas or retries (service_layer/benefits.py).
free_care_grants = Table(
    "free_care_grants",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("month", Date, nullable=False),  # the first day of the month, home store's calendar
    Column("package_id", UUID(as_uuid=False), nullable=False),
    Column("tier_id", Text, nullable=False),
    Column("sessions", Integer, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", "month", name="pk_free_care_grants"),
)
