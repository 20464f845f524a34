"""Campaign rewards beyond points, and their redemptions (attribution), on the members ``metadata``.

- ``campaigns`` gains the reward's voucher template / free sessions and ``rewards_refused_count``
  (columns appended here, so the campaign table's own module stays as it is);
- ``campaign_rewards``: what the wallet granted each recipient (the voucher id, the free-session
  card id), from its ``ProgrammeRewardSettled`` (programme ``campaign``);
- ``campaign_reward_uses``: the wallet's ``VoucherRedeemed`` and ``PackageSessionConsumed`` of any
  voucher or card (keyed by event id, so a redelivery counts once). Joined with
  ``campaign_rewards`` at query time, so the order the two events arrive in does not matter.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from services.members.adapters.segment_tables import campaigns
from services.members.adapters.tables import metadata

for _column in (
    Column("reward_voucher_template_id", Text, nullable=True),
    Column("reward_free_service", Text, nullable=True),
    Column("reward_free_sessions", Integer, nullable=False, server_default=text("0")),
    Column("reward_free_sessions_valid_days", Integer, nullable=False, server_default=text("0")),
    Column("rewards_refused_count", BigInteger, nullable=False, server_default=text("0")),
):
    campaigns.append_column(_column)
campaigns.append_constraint(
    CheckConstraint("reward_free_sessions BETWEEN 0 AND 100", name="ck_campaigns_reward_free_sessions")
)

VOUCHER, PACKAGE = "voucher", "package"

campaign_rewards = Table(
    "campaign_rewards",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # voucher | package
    Column("reward_id", Text, nullable=False),  # the voucher id or the card (package) id
    Column("campaign_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    PrimaryKeyConstraint("tenant_id", "kind", "reward_id", name="pk_campaign_rewards"),
    CheckConstraint("kind IN ('voucher', 'package')", name="ck_campaign_rewards_kind"),
    Index("ix_campaign_rewards_campaign", "tenant_id", "campaign_id"),
)

campaign_reward_uses = Table(
    "campaign_reward_uses",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),  # voucher | package
    Column("reward_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("sessions", BigInteger, nullable=False),  # 1 for a voucher, negative for a restore
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    # the checkout that used it (a refund's restore finds the use it undoes by it); NULL before
    # 0019_campaign_reward_restores. A restore is a row with negative ``sessions``.
    Column("checkout", Text, nullable=True),
    PrimaryKeyConstraint("tenant_id", "event_id", name="pk_campaign_reward_uses"),
    CheckConstraint("kind IN ('voucher', 'package')", name="ck_campaign_reward_uses_kind"),
    Index("ix_campaign_reward_uses_reward", "tenant_id", "kind", "reward_id"),
)
