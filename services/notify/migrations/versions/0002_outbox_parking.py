"""outbox parking: rows the relay cannot ever publish are parked instead of blocking their aggregate

Revision ID: 0002_outbox_parking
Revises: 0001
Create Date: 2026-12-07 02:00:00

"""

from collections.abc import Sequence

from kit.messaging.schema import downgrade_outbox_parking, upgrade_outbox_parking

revision: str = "0002_outbox_parking"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_outbox_parking()


def downgrade() -> None:
    downgrade_outbox_parking()
