"""notify: the send queue index also holds claims ('sending' rows, due when their lease runs out)

Revision ID: 0004_sending_claims
Revises: 0003_send_queue
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sending_claims"
down_revision: str | Sequence[str] | None = "0003_send_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _due_index(states: str) -> None:
    op.drop_index("ix_messages_due", table_name="messages")
    op.create_index(
        "ix_messages_due", "messages", ["due_time"], postgresql_where=sa.text(f"state IN ({states})")
    )


def upgrade() -> None:
    _due_index("'queued', 'deferred', 'sending'")


def downgrade() -> None:
    _due_index("'queued', 'deferred'")
