"""The booking database schema: the service menu, stores' time zones, staff, rooms, equipment,
appointments and the resource reservations that guard against double booking.

The database decides who gets a slot: every reservation of a staff member, room seat or piece
of equipment is a row of `appointment_resources` whose `during` range (buffers included) may not
overlap another active row of the same resource and seat (a GiST exclusion constraint added by
hand in migration 0001, which autogenerate does not emit). A room of capacity N has seats 1..N;
a booking takes the first free seat.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, UUID

from kit.db import kit_metadata_tables
from kit.store_projection import store_table

metadata = MetaData()
kit_metadata_tables(metadata)

# Store -> IANA zone, projected from the members service's StoreCreated / StoreUpdated
# (`update_time` = the event's occurred-at, so a late StoreCreated never undoes a StoreUpdated).
# `CatalogRepository.put_store_zone` writes it directly for tools and tests.
# Read through to members on a miss (kit/store_projection.py).
store_zones = store_table("store_zones", metadata)

services = Table(
    "services",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("category", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("duration_minutes", Integer, nullable=False),
    Column("buffer_before_minutes", Integer, nullable=False, server_default=text("0")),
    Column("buffer_after_minutes", Integer, nullable=False, server_default=text("0")),
    Column("skill", Text, nullable=True),
    Column("room_type", Text, nullable=True),
    Column("equipment_kind", Text, nullable=True),
    Column("list_price_minor", BigInteger, nullable=False),
    Column("currency_code", Text, nullable=False),
    Column("online_bookable", Boolean, nullable=False, server_default=text("true")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("display_order", Integer, nullable=False, server_default=text("0")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "service_id", name="pk_services"),
    CheckConstraint("duration_minutes > 0", name="ck_services_duration_positive"),
    CheckConstraint("list_price_minor >= 0", name="ck_services_price_not_negative"),
)

staff = Table(
    "staff",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("staff_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("skills", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # [{"day": 1..7, "start": "HH:MM", "end": "HH:MM"}], local wall time of the store
    Column("weekly_hours", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("position", Text, nullable=False, server_default=""),
    Column("level", Integer, nullable=False, server_default=text("0")),
    # weekly breaks taken out of weekly_hours, same shape
    Column("breaks", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("online_bookable", Boolean, nullable=False, server_default=text("true")),
    Column("principal", Text, nullable=False, server_default=""),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "store_id", "staff_id", name="pk_staff"),
)

rooms = Table(
    "rooms",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("room_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("room_type", Text, nullable=False),
    Column("capacity", Integer, nullable=False, server_default=text("1")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "store_id", "room_id", name="pk_rooms"),
    CheckConstraint("capacity >= 1", name="ck_rooms_capacity_positive"),
)

equipment = Table(
    "equipment",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("equipment_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "store_id", "equipment_id", name="pk_equipment"),
)

appointments = Table(
    "appointments",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # booked | checked_in | completed | cancelled | no_show
    Column("channel", Integer, nullable=False),  # BookingChannel value
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("local_start", Text, nullable=False),
    Column("local_end", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    # the request as booked: [{"service", "display_name", "staff", "room", "equipment", "start", "end",
    # "reserved_start", "reserved_end"}]
    Column("services", JSONB, nullable=False),
    Column("list_price_minor", BigInteger, nullable=False),
    Column("currency_code", Text, nullable=False),
    Column("notes", Text, nullable=False, server_default=""),
    Column("cancel_reason", Text, nullable=True),
    # reason codes of the member rules staff overrode (`staff_override`), and why
    Column("overridden_rules", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("override_reason", Text, nullable=True),
    # the lifecycle (migration 0004): who booked it (the token's subject), the waitlist entry it
    # came from (`waitlistEntries/{entry}`), and when and by whom (Actor value) it moved on
    Column("booked_by", Text, nullable=False, server_default=""),
    Column("waitlist_entry", Text, nullable=True),
    Column("reschedule_count", Integer, nullable=False, server_default=text("0")),
    Column("check_in_time", DateTime(timezone=True), nullable=True),
    Column("complete_time", DateTime(timezone=True), nullable=True),
    Column("cancel_time", DateTime(timezone=True), nullable=True),
    Column("cancelled_by", Integer, nullable=True),
    Column("late_cancel", Boolean, nullable=False, server_default=text("false")),
    Column("late_cancel_waived", Boolean, nullable=False, server_default=text("false")),
    Column("no_show_time", DateTime(timezone=True), nullable=True),
    Column("hold", JSONB, nullable=True),  # the wallet hold (AppointmentHold as a dict; hold_tables.py)
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "appointment_id", name="pk_appointments"),
    CheckConstraint("start_time < end_time", name="ck_appointments_start_before_end"),
    CheckConstraint(
        "state IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')", name="ck_appointments_state"
    ),
    CheckConstraint("reschedule_count >= 0", name="ck_appointments_reschedule_count_not_negative"),
    Index("ix_appointments_member", "tenant_id", "member_id", "start_time"),
    Index("ix_appointments_store", "tenant_id", "store_id", "start_time"),
)

appointment_resources = Table(
    "appointment_resources",
    metadata,
    Column("id", BigInteger, Identity(), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    # the resource name, e.g. stores/s1/staff/anna, stores/s1/rooms/r1
    Column("resource_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # staff | room | equipment
    Column("seat", Integer, nullable=False, server_default=text("1")),
    Column("during", TSTZRANGE, nullable=False),  # reserved time, buffers included, '[)'
    Column("active", Boolean, nullable=False, server_default=text("true")),
    PrimaryKeyConstraint("id", name="pk_appointment_resources"),
    CheckConstraint("seat >= 1", name="ck_appointment_resources_seat_positive"),
    CheckConstraint("NOT isempty(during)", name="ck_appointment_resources_during_not_empty"),
    Index("ix_appointment_resources_appointment", "tenant_id", "appointment_id"),
    # EXCLUDE USING gist (tenant_id WITH =, resource_id WITH =, seat WITH =, during WITH &&)
    # WHERE (active): hand-written in migration 0001.
)

# The booking's projection of members (from the members service's events): the member's tier and
# the booking window it carries. Also the row a booking locks (`SELECT ... FOR UPDATE`) to count the
# member's open appointments, so a booking of a member the projection has not seen yet inserts a
# placeholder (`registered_time` NULL, no tier) that the registration fills in later.
member_windows = Table(
    "member_windows",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("tier_id", Text, nullable=True),
    # TierBenefits.booking_window_days as carried by the member's last event; 0 = the tier sets none
    Column("booking_window_days", Integer, nullable=True),
    Column("registered_time", DateTime(timezone=True), nullable=True),
    # occurred-at of the last member event applied (= registered_time while only the registration is)
    Column("update_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_windows"),
)

# The tenant's newest tier ladder (TierLadderUpdated; the highest `version` wins): authoritative
# for the booking window of every tier it lists.
tier_ladders = Table(
    "tier_ladders",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("tiers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", name="pk_tier_ladders"),
)

# A tenant's booking configuration version (migration 0012): a row trigger bumps it on every change
# to booking_policies, services, service_overrides and store_zones; a booking planned from the
# in-process copy (service_layer/config_cache.py) is re-planned when it moved.
booking_config_versions = Table(
    "booking_config_versions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="booking_config_versions_pkey"),
)

# Appointment reminders (ReminderDue), kept in the database so they survive restarts: one row per
# `BookingPolicy.reminder_minutes_before` offset, written with the booking, cancelled with the
# appointment and fired once by `BookingJobs` (state scheduled -> fired | cancelled; `skipped` when
# already due at booking). `due_utc` is an exact UTC instant (start - minutes_before);
# `local_start` / `time_zone` are the appointment's store-local wall time and zone, carried by the
# event. A reschedule cancels the scheduled rows and writes a new `generation` (= the
# appointment's reschedule_count), so at most one row per kind is ever scheduled.
scheduled_reminders = Table(
    "scheduled_reminders",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("generation", Integer, nullable=False, server_default=text("0")),
    Column("kind", Text, nullable=False),  # "<minutes_before>m", e.g. 1440m, 120m
    Column("minutes_before", Integer, nullable=False),
    Column("due_utc", DateTime(timezone=True), nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("local_start", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("state", Text, nullable=False),  # scheduled | fired | cancelled | skipped
    Column("fired_at", DateTime(timezone=True), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "appointment_id", "generation", "kind", name="pk_scheduled_reminders"),
    CheckConstraint(
        "state IN ('scheduled', 'fired', 'cancelled', 'skipped')", name="ck_scheduled_reminders_state"
    ),
    # the job's scan of what is due
    Index("ix_scheduled_reminders_due", "due_utc", postgresql_where=text("state = 'scheduled'")),
)

# Each area's tables live in a module of their own, on this same metadata; importing them here
# registers them with it (for Alembic and the drift test).
from services.booking.adapters import (  # noqa: E402, F401
    aftercare_tables,
    catalog_tables,
    hold_tables,
    policy_tables,
    waitlist_tables,
)
