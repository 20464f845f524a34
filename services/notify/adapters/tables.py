"""The notify database schema (plus the kit's idempotency, outbox and inbox tables).

"At most one message per (trigger event, channel, recipient)" is the unique key
``uq_messages_trigger``: concurrent or repeated handling of one event cannot create a second row.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
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
    Column("channel", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("trigger_event_id", UUID(as_uuid=False), nullable=False),
    Column("locale", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("send_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "message_id", name="pk_messages"),
    UniqueConstraint("tenant_id", "trigger_event_id", "channel", "recipient", name="uq_messages_trigger"),
    # ListMessages pages by (create_time, message_id), optionally for one recipient.
    Index("ix_messages_created", "tenant_id", "create_time", "message_id"),
    Index("ix_messages_recipient", "tenant_id", "recipient", "create_time", "message_id"),
)
