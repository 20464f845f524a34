"""package-session holds: held sessions on card items and holds, a package_item_held account kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00

A session hold moves sessions from the item's `package_item` account to its `package_item_held`
account (member-owned, so it joins the never-overdrawn CHECK and the stored balances of the
`account_balances` view); the item row counts them in `sessions_held`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out (not derived from the code) so the migration stays what it was when written.
_GUARDED_BEFORE = "'sv_principal', 'sv_bonus', 'sv_held', 'points', 'package_item'"
_GUARDED_AFTER = "'sv_principal', 'sv_bonus', 'sv_held', 'points', 'package_item', 'package_item_held'"


def _balances_view(guarded: str) -> str:
    return f"""
        CREATE OR REPLACE VIEW account_balances AS
        SELECT a.tenant_id, a.account_id, a.kind, a.owner, a.unit,
               CASE WHEN a.kind IN ({guarded}) THEN a.balance
                    ELSE COALESCE((SELECT sum(p.amount) FROM postings p
                                   WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id), 0)
               END AS balance
        FROM accounts a
        """


def _accounts_check(guarded: str) -> None:
    op.drop_constraint("ck_accounts_member_not_overdrawn", "accounts", type_="check")
    op.create_check_constraint(
        "ck_accounts_member_not_overdrawn", "accounts", f"kind NOT IN ({guarded}) OR balance <= 0"
    )


def upgrade() -> None:
    _accounts_check(_GUARDED_AFTER)
    op.execute(_balances_view(_GUARDED_AFTER))
    op.add_column("holds", sa.Column("package_id", postgresql.UUID(as_uuid=False), nullable=True))
    op.add_column("holds", sa.Column("service", sa.Text(), nullable=True))
    op.add_column(
        "holds", sa.Column("sessions", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "holds", sa.Column("captured_sessions", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.create_check_constraint(
        "ck_holds_kind",
        "holds",
        "(package_id IS NULL AND service IS NULL AND sessions = 0 AND amount_minor > 0)"
        " OR (package_id IS NOT NULL AND service IS NOT NULL AND sessions > 0 AND amount_minor = 0"
        " AND principal_minor = 0 AND bonus_minor = 0)",
    )
    op.create_check_constraint(
        "ck_holds_captured", "holds", "captured_sessions >= 0 AND captured_sessions <= sessions"
    )
    op.add_column(
        "member_package_items",
        sa.Column("sessions_held", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        "ck_member_package_items_held",
        "member_package_items",
        "sessions_held >= 0 AND sessions_held <= sessions_remaining",
    )


def downgrade() -> None:
    op.drop_constraint("ck_member_package_items_held", "member_package_items", type_="check")
    op.drop_column("member_package_items", "sessions_held")
    op.drop_constraint("ck_holds_captured", "holds", type_="check")
    op.drop_constraint("ck_holds_kind", "holds", type_="check")
    op.drop_column("holds", "captured_sessions")
    op.drop_column("holds", "sessions")
    op.drop_column("holds", "service")
    op.drop_column("holds", "package_id")
    op.execute(_balances_view(_GUARDED_BEFORE))
    _accounts_check(_GUARDED_BEFORE)
