"""Tables of segments (客群) and of the engagement facts they filter on, on the members ``metadata``.

- ``segments``: saved segments; the filter is the serialized ``peony.members.v1.SegmentFilter``
  (the typed filter is the contract, so the stored form is that message, not a string DSL).
- ``member_activity``: one row per member with the facts other services own (last visit, points
  and stored-value balances), a projection of the wallet's events kept by the
  ``members-engagement-facts`` consumer. Each balance carries the time of the event that set it,
  so a late, older event never overwrites a newer balance.

Spend and visits in a window are read from ``member_spend`` (the tier feature's per-checkout
rows), through ``ix_member_spend_window`` (an index-only scan over the window), declared with
that table in spend_tables.py (importing it here made a cycle: spend_tables -> tables -> here).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from services.members.adapters.tables import metadata

segments = Table(
    "segments",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("filter", LargeBinary, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "segment_id", name="pk_segments"),
    UniqueConstraint("tenant_id", "display_name", name="uq_segments_display_name"),
)

member_activity = Table(
    "member_activity",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("last_visit_at", DateTime(timezone=True), nullable=True),
    Column("points_available", BigInteger, nullable=False, server_default=text("0")),
    Column("points_as_of", DateTime(timezone=True), nullable=True),
    Column("stored_value_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("stored_value_as_of", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_activity"),
    Index("ix_member_activity_last_visit", "tenant_id", "last_visit_at"),
    Index("ix_member_activity_points", "tenant_id", "points_available"),
    Index("ix_member_activity_stored_value", "tenant_id", "stored_value_minor"),
)

# Unused sessions per package card item (the wallet's package events, projected by the
# engagement-facts consumer for the ``package_sessions_remaining`` segment criterion). A card is one
# member's; each row carries the time of the event that set it, so an older event never overwrites
# a newer count. ``ix_member_package_sessions_member`` serves the per-member sums.
member_package_sessions = Table(
    "member_package_sessions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("package_id", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("sessions_remaining", BigInteger, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "package_id", "service_id", name="pk_member_package_sessions"),
    CheckConstraint("sessions_remaining >= 0", name="ck_member_package_sessions_remaining"),
    Index(
        "ix_member_package_sessions_member",
        "tenant_id",
        "member_id",
        "service_id",
        postgresql_include=["sessions_remaining"],
    ),
    # one service's items only (the usual criterion): a range scan of that service, by member
    Index(
        "ix_member_package_sessions_service",
        "tenant_id",
        "service_id",
        "member_id",
        postgresql_include=["sessions_remaining"],
    ),
)

# Unused sessions per (member, service) over all the member's cards: the sum of the rows above,
# recomputed by the consumer in the same transaction whenever one of them changes, so the
# one-service criterion is a range scan of ``ix_member_service_sessions_range`` (no aggregation).
# The all-services total is ``members.package_sessions_remaining``.
member_service_sessions = Table(
    "member_service_sessions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("service_id", Text, nullable=False),
    Column("sessions_remaining", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "member_id", "service_id", name="pk_member_service_sessions"),
    CheckConstraint("sessions_remaining >= 0", name="ck_member_service_sessions_remaining"),
    Index("ix_member_service_sessions_range", "tenant_id", "service_id", "sessions_remaining", "member_id"),
)

# One row per (programme, member, period) that has run: the primary key is what makes a
# programme fire exactly once per member and period (birthday: the year), across replicas and
# crashes — the row, the programme's events and nothing else commit in one transaction.
programme_runs = Table(
    "programme_runs",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("programme", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("period", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "programme", "member_id", "period", name="pk_programme_runs"),
)

# Campaigns (营销活动) and their recipients. A campaign's recipients are materialised when it
# starts (the segment evaluated once); the primary key of ``campaign_recipients`` makes every
# member a recipient at most once, and a recipient's status changes from ``pending`` together
# with the ``CampaignMessageDue`` it produces (one transaction): at most one message and reward.
campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("campaign_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("message_body", Text, nullable=False),
    Column("reward_points", BigInteger, nullable=False, server_default=text("0")),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("throttle_per_minute", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("next_send_at", DateTime(timezone=True), nullable=True),
    Column("targeted_count", BigInteger, nullable=False, server_default=text("0")),
    Column("sent_count", BigInteger, nullable=False, server_default=text("0")),
    Column("suppressed_no_consent_count", BigInteger, nullable=False, server_default=text("0")),
    Column("suppressed_inactive_count", BigInteger, nullable=False, server_default=text("0")),
    Column("estimated_member_count", BigInteger, nullable=False, server_default=text("0")),
    Column("estimated_sms_cost_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # approval (院长/HQ 审批) and holdout: see service_layer/campaign_approval.py
    Column("holdout_percent", Integer, nullable=False, server_default=text("0")),
    Column("holdout_count", BigInteger, nullable=False, server_default=text("0")),
    Column("created_by", Text, nullable=True),
    Column("reviewed_by", Text, nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
    Column("rejection_reason", Text, nullable=True),
    PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaigns"),
    CheckConstraint(
        "state IN ('scheduled', 'running', 'paused', 'completed', 'cancelled',"
        " 'pending_approval', 'rejected')",
        name="ck_campaigns_state",
    ),
    CheckConstraint("holdout_percent BETWEEN 0 AND 50", name="ck_campaigns_holdout_percent"),
    CheckConstraint("throttle_per_minute BETWEEN 1 AND 10000", name="ck_campaigns_throttle"),
    CheckConstraint("reward_points BETWEEN 0 AND 100000", name="ck_campaigns_reward_points"),
    # the worker's two scans: scheduled campaigns by start time, running ones by next send
    Index("ix_campaigns_due", "state", "start_time"),
    Index("ix_campaigns_sending", "state", "next_send_at"),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("campaign_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("suppression_reason", Text, nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "campaign_id", "member_id", name="pk_campaign_recipients"),
    CheckConstraint(
        "status IN ('pending', 'sent', 'suppressed', 'holdout')", name="ck_campaign_recipients_status"
    ),
)

# Per-tenant campaign settings; no row: the defaults (campaign_approval.DEFAULT_APPROVAL_THRESHOLD_MINOR).
campaign_settings = Table(
    "campaign_settings",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("approval_threshold_minor", BigInteger, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", name="pk_campaign_settings"),
    CheckConstraint(
        "approval_threshold_minor BETWEEN 0 AND 100000000", name="ck_campaign_settings_threshold"
    ),
)

# The tenant's programme rewards (``UpdateProgrammeSettings``): the membership anniversary's
# points and voucher, the lapse message's voucher. No row: the deployment's environment defaults.
programme_settings = Table(
    "programme_settings",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("anniversary_points", BigInteger, nullable=False),
    Column("anniversary_voucher_template_id", Text, nullable=False, server_default=""),
    Column("lapse_voucher_template_id", Text, nullable=False, server_default=""),
    Column("lapse_days", ARRAY(Integer), nullable=True),  # NULL: the deployment's thresholds
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", name="pk_programme_settings"),
    CheckConstraint("anniversary_points BETWEEN 0 AND 100000", name="ck_programme_settings_points"),
)
