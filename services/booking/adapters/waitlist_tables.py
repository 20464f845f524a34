"""Tables of the waitlist.

On the booking metadata of tables.py, which imports this module to register them.

- `waitlist_entries`: a member waiting for a service at a store on a store-local date (optionally
  with one staff member and a time-of-day window). Queue order is (`create_time`, `entry_id`). A
  member has at most one waiting or offered entry per store, service and date (partial unique
  index), so a duplicate join is refused by the database, not by a read.
- `waitlist_offers`: every offer made. Freed time (one staff member's freed span, from one
  cancellation / reschedule / no-show) is a `release_id`; it is offered to one entry at a time
  (at most one open offer per release), an entry holds at most one open offer, and an entry is
  never offered the same release twice (unique per release and entry): all database constraints.
  While an offer is open its slot's staff, room and equipment are held by reservation rows in
  `appointment_resources` whose `appointment_id` is the `offer_id`, so the exclusion constraint
  keeps everybody else off them and availability reads them as busy.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.booking.adapters.tables import metadata

ENTRY_STATES = ("waiting", "offered", "booked", "cancelled", "expired")
OFFER_STATES = ("open", "accepted", "declined", "expired", "withdrawn")

waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("entry_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("wanted_date", Date, nullable=False),  # store-local
    Column("staff", Text, nullable=True),  # stores/{s}/staff/{id}; NULL = anyone qualified
    Column("earliest_start", Text, nullable=True),  # HH:MM store-local
    Column("latest_start", Text, nullable=True),
    Column("channel", Integer, nullable=False),  # BookingChannel value
    Column("state", Text, nullable=False),
    Column("offers_made", Integer, nullable=False, server_default=text("0")),
    Column("appointment_id", UUID(as_uuid=False), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "entry_id", name="pk_waitlist_entries"),
    CheckConstraint(
        "state IN ('waiting', 'offered', 'booked', 'cancelled', 'expired')", name="ck_waitlist_entries_state"
    ),
    CheckConstraint("offers_made >= 0", name="ck_waitlist_entries_offers_made"),
    Index(
        "ux_waitlist_entries_live",
        "tenant_id",
        "member_id",
        "store_id",
        "service_id",
        "wanted_date",
        unique=True,
        postgresql_where=text("state IN ('waiting', 'offered')"),
    ),
    # the queue of a store's day
    Index("ix_waitlist_entries_queue", "tenant_id", "store_id", "wanted_date", "create_time", "entry_id"),
    Index("ix_waitlist_entries_member", "tenant_id", "member_id", "create_time"),
    # the job's scan for entries whose date has ended
    Index("ix_waitlist_entries_waiting_date", "wanted_date", postgresql_where=text("state = 'waiting'")),
)

waitlist_offers = Table(
    "waitlist_offers",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("offer_id", UUID(as_uuid=False), nullable=False),
    Column("entry_id", UUID(as_uuid=False), nullable=False),
    # the freed time this offer comes from: one staff member's freed span
    Column("release_id", UUID(as_uuid=False), nullable=False),
    # the release first freed (by a cancellation, reschedule or no-show) that this one is part of:
    # the unused rest of an accepted offer is released again under the same origin
    Column("origin_release_id", UUID(as_uuid=False), nullable=False),
    Column("store_id", Text, nullable=False),
    Column("freed_staff", Text, nullable=False),
    Column("freed_start", DateTime(timezone=True), nullable=False),
    Column("freed_end", DateTime(timezone=True), nullable=False),
    # the offered slot: [{"service", "staff", "room", "equipment", "start", "end", "reserved_start",
    # "reserved_end"}] (ISO instants), as availability returns it
    Column("slot", JSONB, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("local_start", Text, nullable=False),
    Column("local_end", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("offer_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    Column("close_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "offer_id", name="pk_waitlist_offers"),
    CheckConstraint(
        "state IN ('open', 'accepted', 'declined', 'expired', 'withdrawn')", name="ck_waitlist_offers_state"
    ),
    CheckConstraint("offer_time <= expire_time", name="ck_waitlist_offers_expire_after_offer"),
    UniqueConstraint("tenant_id", "release_id", "entry_id", name="uq_waitlist_offers_release_entry"),
    Index(
        "ux_waitlist_offers_open_entry",
        "tenant_id",
        "entry_id",
        unique=True,
        postgresql_where=text("state = 'open'"),
    ),
    Index(
        "ux_waitlist_offers_open_release",
        "tenant_id",
        "release_id",
        unique=True,
        postgresql_where=text("state = 'open'"),
    ),
    # the expiry job's scan
    Index("ix_waitlist_offers_due", "expire_time", postgresql_where=text("state = 'open'")),
    # "was this entry ever offered time of this origin?"
    Index("ix_waitlist_offers_origin_entry", "tenant_id", "origin_release_id", "entry_id"),
)
