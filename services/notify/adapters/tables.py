"""The notify database schema (plus the kit's idempotency, outbox and inbox tables).

"At most one message per (trigger event, trigger, recipient)" is the unique key
``uq_messages_trigger`` (and the deterministic primary key): concurrent or repeated handling of
one event cannot create a second row. ``messages`` is also the durable send queue: pending rows
(queued / deferred) with a ``due_time`` are picked up by the dispatcher with
``FOR UPDATE SKIP LOCKED``. No address is stored: only a keyed hash and the masked form.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from kit.db import kit_metadata_tables

metadata = MetaData()
kit_metadata_tables(metadata)

messages = Table(
    "messages",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("message_id", UUID(as_uuid=False), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("channel", Text, nullable=False, server_default=""),
    Column("trigger", Text, nullable=False),
    Column("trigger_event_id", UUID(as_uuid=False), nullable=False),
    Column("locale", Text, nullable=False, server_default=""),
    Column("body", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("send_time", DateTime(timezone=True), nullable=True),
    Column("purpose", Text, nullable=False, server_default="transactional"),
    Column("decision", Text, nullable=False, server_default=""),
    Column("due_time", DateTime(timezone=True), nullable=True),
    # The triggering event (an EventEnvelope's payload; events carry no PII): rendered at send time.
    Column("event_type", Text, nullable=False, server_default=""),
    Column("event_payload", LargeBinary, nullable=True),
    Column("provider", Text, nullable=False, server_default=""),
    Column("provider_message_id", Text, nullable=False, server_default=""),
    Column("address_hash", Text, nullable=False, server_default=""),
    Column("address_masked", Text, nullable=False, server_default=""),
    Column("billable_units", Integer, nullable=False, server_default=text("0")),
    Column("cost_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("deliver_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "message_id", name="pk_messages"),
    UniqueConstraint("tenant_id", "trigger_event_id", "trigger", "recipient", name="uq_messages_trigger"),
    # ListMessages pages by (create_time, message_id), optionally for one recipient.
    Index("ix_messages_created", "tenant_id", "create_time", "message_id"),
    Index("ix_messages_recipient", "tenant_id", "recipient", "create_time", "message_id"),
    Index("ix_messages_trigger", "tenant_id", "trigger", "create_time", "message_id"),
    # The send queue: pending rows, and claims (their lease) in case a dispatcher dies holding one.
    Index("ix_messages_due", "due_time", postgresql_where=text("state IN ('queued', 'deferred', 'sending')")),
    # Delivery receipts find their message by the provider's id.
    Index(
        "ix_messages_provider_id",
        "provider",
        "provider_message_id",
        postgresql_where=text("provider_message_id <> ''"),
    ),
    # Frequency caps count a member's recent marketing sends.
    Index(
        "ix_messages_marketing",
        "tenant_id",
        "recipient",
        "send_time",
        postgresql_where=text("purpose = 'marketing'"),
    ),
)

# A tenant's own templates; the built-in defaults live in code (domain/default_templates.py).
templates = Table(
    "templates",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("channel", Text, nullable=False),  # a channel or "*" (any)
    Column("locale", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("subject", Text, nullable=False, server_default=""),
    Column("template_code", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "trigger", "channel", "locale", name="pk_templates"),
)

# Paid-channel spend per tenant and day: reserved by one conditional upsert per send, so the
# cap holds across replicas (the row lock serialises them), never check-then-insert.
spend_daily = Table(
    "spend_daily",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("spent_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("units", BigInteger, nullable=False, server_default=text("0")),
    Column("cap_reached_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "day", name="pk_spend_daily"),
)

# Receipts that arrived before the send that caused them committed (a fast provider): kept here
# until the dispatcher records that send and applies them. An advisory lock on (provider,
# provider message id), taken by both sides, makes "not found yet" and "recorded" exclusive.
early_receipts = Table(
    "early_receipts",
    metadata,
    Column("provider", Text, nullable=False),
    Column("provider_message_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "provider_message_id", name="pk_early_receipts"),
)
