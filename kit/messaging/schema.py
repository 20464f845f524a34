"""Schema changes of the kit's messaging tables, shared by every service's Alembic history.

Each function is called from one migration per service and must stay as it was when those
migrations were written: a later change to the tables gets a new function (and new migrations).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade_outbox_parking", "upgrade_outbox_parking"]


def upgrade_outbox_parking() -> None:
    """``outbox.rejections`` and ``outbox.parked_at``: poison rows are parked, not retried forever."""
    op.add_column(
        "outbox", sa.Column("rejections", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade_outbox_parking() -> None:
    op.drop_column("outbox", "parked_at")
    op.drop_column("outbox", "rejections")
