"""The kit's messaging tables: ``outbox`` (events waiting for the relay) and ``inbox`` (consumer dedupe).

Every service adds both to its own ``MetaData`` (through ``kit.db.kit_metadata_tables``) and its
Alembic migration creates them, so the outbox row commits in the same transaction as the change
that produced the event and the inbox row in the same transaction as the consumer's effect.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

OUTBOX = "outbox"
INBOX = "inbox"

__all__ = ["INBOX", "OUTBOX", "inbox_table", "outbox_table"]


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table on ``metadata`` (the existing one when it is already there)."""
    if OUTBOX in metadata.tables:
        return metadata.tables[OUTBOX]
    return Table(
        OUTBOX,
        metadata,
        # The relay publishes each aggregate's events in seq order. Seqs are taken at INSERT time,
        # so writers of one aggregate must be serialised (they are: they hold the aggregate's row
        # lock until commit), otherwise a later seq could commit - and be published - first.
        Column("seq", BigInteger, Identity(always=False), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("tenant_id", Text, nullable=False),
        Column("aggregate_type", Text, nullable=False),
        Column("aggregate_id", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        # The serialized peony.events.v1.EventEnvelope, published as is.
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_error", Text, nullable=True),
        # Publish failures caused by the row itself (too large, bad subject, ...), which retrying
        # cannot fix; after the relay's park_after of them the row is parked: set aside so its
        # aggregate's later rows flow, until an operator retries it (`peony outbox retry`).
        Column("rejections", Integer, nullable=False, server_default=text("0")),
        Column("parked_at", DateTime(timezone=True), nullable=True),
        UniqueConstraint("event_id", name="uq_outbox_event_id"),
        # The relay's "is this row its aggregate's head?" probe.
        Index(
            "ix_outbox_unpublished_aggregate",
            "aggregate_id",
            "seq",
            postgresql_where=text("published_at IS NULL"),
        ),
        # The relay's scan of what is still to publish, in seq order.
        Index("ix_outbox_unpublished_seq", "seq", postgresql_where=text("published_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    """The ``inbox`` table on ``metadata`` (the existing one when it is already there)."""
    if INBOX in metadata.tables:
        return metadata.tables[INBOX]
    return Table(
        INBOX,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
