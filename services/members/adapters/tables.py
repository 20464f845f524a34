"""The members database schema.

SQLAlchemy Core tables rather than ORM-mapped classes: repositories translate rows to the plain
domain dataclasses themselves, which keeps the domain free of persistence and the hot read path
free of ORM identity-map overhead. Uniqueness rules (phone per tenant, card numbers, one live
card per member) are constraints here, so concurrent requests cannot break them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kit.db import kit_metadata_tables

metadata = MetaData()
kit_metadata_tables(metadata)

# Member numbers come from one sequence: unique (per tenant and globally) with no row lock to
# serialise registrations; gaps after a rollback are harmless.
member_number_seq = Sequence("member_number_seq", metadata=metadata, start=1)

stores = Table(
    "stores",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("time_zone", Text, nullable=False),
    Column("opening_hours", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "store_id", name="pk_stores"),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("tier_ladder", JSONB, nullable=False),
    Column("ladder_version", Integer, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

members = Table(
    "members",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("member_number", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("gender", Text, nullable=False),
    Column("email", Text, nullable=False, server_default=""),
    Column("address", Text, nullable=False, server_default=""),
    Column("photo_uri", Text, nullable=False, server_default=""),
    Column("home_store_id", Text, nullable=False),
    Column("registration_channel", Text, nullable=False),
    Column("agreement_version", Text, nullable=False, server_default=""),
    Column("consent", JSONB, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("custom_attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("care_profile", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("referral_code", Text, nullable=False),
    Column("referrer_id", UUID(as_uuid=False), nullable=True),
    Column("tier_id", Text, nullable=False),
    Column("tier_since", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("tier_override", Boolean, nullable=False, server_default=text("false")),
    Column("tier_override_reason", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default="active"),
    # Personal data: a per-member data key wrapped by the tenant key, and the fields under it.
    Column("dek_wrapped", LargeBinary, nullable=True),
    Column("phone_ct", LargeBinary, nullable=True),
    Column("phone_bidx", LargeBinary, nullable=True),
    Column("birthday_ct", LargeBinary, nullable=True),
    # Keyed blind index of the birthday's month-day ("MM-DD"), so segments can select birthday
    # months and windows in SQL (an IN list of indexes) while the birthday stays encrypted.
    Column("birthday_md_bidx", LargeBinary, nullable=True),
    Column("id_number_ct", LargeBinary, nullable=True),
    Column("email_ct", LargeBinary, nullable=True),  # `email` above only holds rows written before it
    # The name, under the member's key like the phone (`display_name` above is '' once encrypted),
    # and keyed blind indexes of its first NAME_PREFIX_INDEXED prefixes for ListMembers' prefix search.
    Column("display_name_ct", LargeBinary, nullable=True),
    Column("name_prefix_bidx", ARRAY(LargeBinary), nullable=True),
    Column("care_profile_ct", LargeBinary, nullable=True),  # JSON; `care_profile` is '{}' once encrypted
    Column("wechat_openid_ct", LargeBinary, nullable=True),
    Column("push_tokens_ct", LargeBinary, nullable=True),  # a JSON list, encrypted as one field
    Column("locale", Text, nullable=False, server_default="zh-CN"),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Segment facts other services own, copied from ``member_activity`` / the package-session
    # totals by the engagement consumers in the same transaction (service_layer/activity.py,
    # package_sessions.py), so lapse / balance / package criteria are predicates on this row alone.
    Column("last_visit_at", DateTime(timezone=True), nullable=True),
    Column("points_available", BigInteger, nullable=False, server_default=text("0")),
    Column("stored_value_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("package_sessions_remaining", BigInteger, nullable=False, server_default=text("0")),
    # The latest checkout in ``member_spend`` (set by the spend consumer with the row, under the
    # member's lock): nobody without a checkout in a window has spend or visits in it.
    Column("last_checkout_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_members"),
    UniqueConstraint("tenant_id", "phone_bidx", name="uq_members_phone"),
    UniqueConstraint("tenant_id", "member_number", name="uq_members_number"),
    UniqueConstraint("tenant_id", "referral_code", name="uq_members_referral_code"),
    # INCLUDE: a segment's home-store candidates (active, with a checkout in the window) index-only
    Index(
        "ix_members_home_store",
        "tenant_id",
        "home_store_id",
        "member_id",
        postgresql_include=["state", "last_checkout_at"],
    ),
    Index("ix_members_tier", "tenant_id", "tier_id", "member_id"),
    Index("ix_members_name_prefix_bidx", "name_prefix_bidx", postgresql_using="gin"),
    Index("ix_members_birthday_md", "tenant_id", "birthday_md_bidx"),
    # Rows saved before the month-day index existed, for the birthday programme's backfill.
    Index(
        "ix_members_birthday_md_missing",
        "tenant_id",
        "member_id",
        postgresql_where=text("birthday_ct IS NOT NULL AND birthday_md_bidx IS NULL"),
    ),
    Index("ix_members_create_time", "tenant_id", "create_time"),
    # lapse criteria (tier and last visit), index-only: never-visited members need create_time,
    # and every segment filters on state
    Index(
        "ix_members_segment_last_visit",
        "tenant_id",
        "tier_id",
        "last_visit_at",
        postgresql_include=["create_time", "state"],
    ),
    # the active members of a tenant, index-only: what a segment joins a fact table's matches with
    # (e.g. one service's package sessions) without visiting the wide members heap
    Index("ix_members_active", "tenant_id", "member_id", postgresql_where=text("state = 'active'")),
    # the all-services package criterion (cards are held by a minority: a short range scan)
    Index(
        "ix_members_package_sessions",
        "tenant_id",
        "package_sessions_remaining",
        postgresql_where=text("package_sessions_remaining > 0"),
    ),
    Index("ix_members_tags", "tags", postgresql_using="gin"),
    Index(
        "ix_members_display_name",
        "tenant_id",
        "display_name",
        "member_id",
        postgresql_ops={"display_name": "text_pattern_ops"},  # prefix LIKE under any collation
    ),
)

cards = Table(
    "cards",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("card_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("card_number", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("replaced_by", UUID(as_uuid=False), nullable=True),
    Column("replaces", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "card_id", name="pk_cards"),
    Index("ix_cards_member", "tenant_id", "member_id", "card_id"),
    # A member holds at most one live (active or frozen) card at a time.
    Index(
        "uq_cards_one_live_per_member",
        "tenant_id",
        "member_id",
        unique=True,
        postgresql_where=text("state IN ('active', 'frozen')"),
    ),
)

# Every number that finds a card, current or legacy (一卡通号), unique per tenant.
card_numbers = Table(
    "card_numbers",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("number", Text, nullable=False),
    Column("card_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),  # 'card' or 'legacy'
    PrimaryKeyConstraint("tenant_id", "number", name="pk_card_numbers"),
    Index("ix_card_numbers_card", "tenant_id", "card_id"),
)

tier_changes = Table(
    "tier_changes",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("change_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("from_tier_id", Text, nullable=False),
    Column("to_tier_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # TierChangeReason without its prefix (UPGRADE_SPEND, MANUAL, IMPORT ...); '' before 0018.
    Column("reason_code", Text, nullable=False, server_default=""),
    Column("actor", Text, nullable=False),
    Column("staff_override", Boolean, nullable=False),
    Column("change_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "change_id", name="pk_tier_changes"),
    Index("ix_tier_changes_member", "tenant_id", "member_id", "change_id"),
)

# Erasures (right to erasure): who erased which member, when and why. The member row keeps its
# id and number; everything personal about it is gone (see MemberRepository.erase).
member_erasures = Table(
    "member_erasures",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("erase_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_erasures"),
)

# Every read of unmasked personal data (who, which member, through which call). Appended in
# batches by PiiAuditTrail; never updated.
pii_access_log = Table(
    "pii_access_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("member_id", UUID(as_uuid=False), nullable=False),
    Column("rpc", Text, nullable=False),
    Column("trace_id", Text, nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
    Index("ix_pii_access_log_member", "tenant_id", "member_id", "read_at"),
    Index("ix_pii_access_log_actor", "tenant_id", "actor", "read_at"),
)

# Spend and referral tables, and the tier re-evaluation jobs, live in modules of their own;
# importing them here puts them on `metadata`.
from services.members.adapters import (  # noqa: E402, F401
    campaign_reward_tables,
    import_tables,
    segment_tables,
    spend_tables,
    tier_jobs,
    tier_reviews,
)
