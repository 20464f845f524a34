"""notify: messages become the durable send queue with policy decisions; tenant templates; spend;
receipts that arrive before their send committed

Revision ID: 0003_send_queue
Revises: 0002_outbox_parking
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_send_queue"
down_revision: str | Sequence[str] | None = "0002_outbox_parking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW_COLUMNS = [
    sa.Column("purpose", sa.Text(), server_default="transactional", nullable=False),
    sa.Column("decision", sa.Text(), server_default="", nullable=False),
    sa.Column("due_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("event_type", sa.Text(), server_default="", nullable=False),
    sa.Column("event_payload", sa.LargeBinary(), nullable=True),
    sa.Column("provider", sa.Text(), server_default="", nullable=False),
    sa.Column("provider_message_id", sa.Text(), server_default="", nullable=False),
    sa.Column("address_hash", sa.Text(), server_default="", nullable=False),
    sa.Column("address_masked", sa.Text(), server_default="", nullable=False),
    sa.Column("billable_units", sa.Integer(), server_default=sa.text("0"), nullable=False),
    sa.Column("cost_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    sa.Column("deliver_time", sa.DateTime(timezone=True), nullable=True),
]


def upgrade() -> None:
    for column in _NEW_COLUMNS:
        op.add_column("messages", column)
    op.alter_column("messages", "channel", server_default="")
    op.alter_column("messages", "locale", server_default="")
    op.alter_column("messages", "body", server_default="")
    # One message per (trigger event, trigger, recipient): the channel is the policy's choice now.
    op.drop_constraint("uq_messages_trigger", "messages", type_="unique")
    op.create_unique_constraint(
        "uq_messages_trigger", "messages", ["tenant_id", "trigger_event_id", "trigger", "recipient"]
    )
    op.create_index("ix_messages_trigger", "messages", ["tenant_id", "trigger", "create_time", "message_id"])
    op.create_index(
        "ix_messages_due",
        "messages",
        ["due_time"],
        postgresql_where=sa.text("state IN ('queued', 'deferred')"),
    )
    op.create_index(
        "ix_messages_provider_id",
        "messages",
        ["provider", "provider_message_id"],
        postgresql_where=sa.text("provider_message_id <> ''"),
    )
    op.create_index(
        "ix_messages_marketing",
        "messages",
        ["tenant_id", "recipient", "send_time"],
        postgresql_where=sa.text("purpose = 'marketing'"),
    )
    op.create_table(
        "templates",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("template_code", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "trigger", "channel", "locale", name="pk_templates"),
    )
    op.create_table(
        "spend_daily",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("spent_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("units", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("cap_reached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "day", name="pk_spend_daily"),
    )
    op.create_table(
        "early_receipts",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("provider", "provider_message_id", name="pk_early_receipts"),
    )


def downgrade() -> None:
    op.drop_table("early_receipts")
    op.drop_table("spend_daily")
    op.drop_table("templates")
    op.drop_index("ix_messages_marketing", table_name="messages")
    op.drop_index("ix_messages_provider_id", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_index("ix_messages_trigger", table_name="messages")
    op.drop_constraint("uq_messages_trigger", "messages", type_="unique")
    op.create_unique_constraint(
        "uq_messages_trigger", "messages", ["tenant_id", "trigger_event_id", "channel", "recipient"]
    )
    for column in reversed(_NEW_COLUMNS):
        op.drop_column("messages", column.name)
