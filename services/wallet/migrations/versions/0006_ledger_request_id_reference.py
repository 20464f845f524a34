"""ledger transactions record the request that wrote them and the resource they belong to

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07 02:00:00

ledger.proto documents `LedgerTransaction.request_id` (the AIP-155 request id of the mutation,
empty for the service's own jobs) and `reference` (`checkouts/{checkout}`, `holds/{hold}`, …);
both were always returned empty because nothing stored them. Rows written before this migration
keep '' (their request ids are not recoverable).

(Numbered 0006 so that it does not collide with another branch's 0005; when both are merged,
point `down_revision` at that 0005.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005_outbox_parking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ledger_transactions", sa.Column("request_id", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("ledger_transactions", sa.Column("reference", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("ledger_transactions", "reference")
    op.drop_column("ledger_transactions", "request_id")
