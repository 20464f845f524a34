"""engagement: segment facts on the member's row and per-(member, service) package totals

Last visit, points and stored-value balances are copied from ``member_activity`` onto ``members``
(and kept there by the engagement consumers), unused package sessions are totalled per member
(``members.package_sessions_remaining``) and per member and service (``member_service_sessions``),
and the latest checkout (``members.last_checkout_at``, the spend-window pre-filter) is kept, so
those segment criteria are single-table predicates with matching indexes. Existing rows are
backfilled from ``member_activity`` and ``member_package_sessions``.

Revision ID: 0020_segment_facts_on_members
Revises: 0019_campaign_reward_restores
Create Date: 2026-12-07 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_segment_facts_on_members"
down_revision: str | Sequence[str] | None = "0019_campaign_reward_restores"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True))
    for column in ("points_available", "stored_value_minor", "package_sessions_remaining"):
        op.add_column(
            "members", sa.Column(column, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    op.add_column("members", sa.Column("last_checkout_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "member_service_sessions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("sessions_remaining", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", "service_id", name="pk_member_service_sessions"),
        sa.CheckConstraint("sessions_remaining >= 0", name="ck_member_service_sessions_remaining"),
    )
    # backfill before the indexes: one pass each, then the indexes are built once
    op.execute(
        """
        UPDATE members m
        SET last_visit_at = a.last_visit_at, points_available = a.points_available,
            stored_value_minor = a.stored_value_minor
        FROM member_activity a
        WHERE a.tenant_id = m.tenant_id AND a.member_id = m.member_id
        """
    )
    op.execute(
        """
        UPDATE members m SET last_checkout_at = s.latest
        FROM (SELECT tenant_id, member_id, max(occurred_at) AS latest FROM member_spend
              WHERE kind = 'checkout' GROUP BY tenant_id, member_id) s
        WHERE s.tenant_id = m.tenant_id AND s.member_id = m.member_id
        """
    )
    op.execute(
        """
        INSERT INTO member_service_sessions (tenant_id, member_id, service_id, sessions_remaining)
        SELECT tenant_id, member_id, service_id, sum(sessions_remaining)
        FROM member_package_sessions GROUP BY tenant_id, member_id, service_id
        """
    )
    op.execute(
        """
        UPDATE members m SET package_sessions_remaining = s.total
        FROM (SELECT tenant_id, member_id, sum(sessions_remaining) AS total
              FROM member_package_sessions GROUP BY tenant_id, member_id) s
        WHERE s.tenant_id = m.tenant_id AND s.member_id = m.member_id
        """
    )
    op.create_index(
        "ix_member_service_sessions_range",
        "member_service_sessions",
        ["tenant_id", "service_id", "sessions_remaining", "member_id"],
    )
    op.drop_index("ix_members_home_store", table_name="members")
    op.create_index(
        "ix_members_home_store",
        "members",
        ["tenant_id", "home_store_id", "member_id"],
        postgresql_include=["state", "last_checkout_at"],
    )
    op.create_index(
        "ix_members_segment_last_visit",
        "members",
        ["tenant_id", "tier_id", "last_visit_at"],
        postgresql_include=["create_time", "state"],
    )
    op.create_index(
        "ix_members_active",
        "members",
        ["tenant_id", "member_id"],
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "ix_members_package_sessions",
        "members",
        ["tenant_id", "package_sessions_remaining"],
        postgresql_where=sa.text("package_sessions_remaining > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_members_home_store", table_name="members")
    op.create_index("ix_members_home_store", "members", ["tenant_id", "home_store_id", "member_id"])
    op.drop_index("ix_members_package_sessions", table_name="members")
    op.drop_index("ix_members_active", table_name="members")
    op.drop_index("ix_members_segment_last_visit", table_name="members")
    op.drop_index("ix_member_service_sessions_range", table_name="member_service_sessions")
    op.drop_table("member_service_sessions")
    for column in (
        "last_checkout_at",
        "package_sessions_remaining",
        "stored_value_minor",
        "points_available",
        "last_visit_at",
    ):
        op.drop_column("members", column)
