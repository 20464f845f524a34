"""Tables of the booking policy and members' no-show standing.

On the booking metadata of tables.py, which imports this module to register them.

- `booking_policies`: the tenant's policy, one row per tenant, written by `UpdateBookingPolicy`; a
  tenant without a row has the defaults of `BookingPolicy` (service_layer/policy.py).
- `member_no_shows`: every no-show (and late cancel) counted against the no-show policy, one row
  per appointment and kind, so counting the same appointment twice is impossible.
- `member_standings`: what the no-show policy decided for a member: the current restriction and
  the last lift. Written under the member's projection row lock (`member_windows`).
- `booking_restriction_lifts`: the audit trail of `LiftBookingRestriction` (who, when, why).
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
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from services.booking.adapters.tables import metadata

booking_policies = Table(
    "booking_policies",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("cancel_free_minutes_before", Integer, nullable=False),
    Column("no_show_limit", Integer, nullable=False),
    Column("no_show_window_days", Integer, nullable=False),
    Column("no_show_restriction_days", Integer, nullable=False),
    Column("count_late_cancels_as_no_shows", Boolean, nullable=False),
    Column("reminder_minutes_before", ARRAY(Integer), nullable=False),
    Column("waitlist_offer_minutes", Integer, nullable=False),
    Column("complaint_first_response_minutes", Integer, nullable=False),
    Column("max_open_appointments", Integer, nullable=False),
    Column("default_booking_window_days", Integer, nullable=False),
    Column("min_lead_minutes", Integer, nullable=False),
    Column("slot_step_minutes", Integer, nullable=False),
    Column("no_show_grace_minutes", Integer, nullable=False),
    Column("capture_deposit_on_late_cancel", Boolean, nullable=False),
    Column("capture_deposit_on_no_show", Boolean, nullable=False),
    Column("capture_session_on_late_cancel", Boolean, nullable=False),
    Column("capture_session_on_no_show", Boolean, nullable=False),
    Column("hold_grace_hours", Integer, nullable=False),
    Column("follow_up_remind_time", Text, nullable=False),
    Column("feedback_window_days", Integer, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", name="pk_booking_policies"),
    CheckConstraint("slot_step_minutes BETWEEN 5 AND 240", name="ck_booking_policies_slot_step"),
    CheckConstraint("no_show_limit >= 0", name="ck_booking_policies_no_show_limit"),
    CheckConstraint("max_open_appointments >= 0", name="ck_booking_policies_max_open"),
)

member_no_shows = Table(
    "member_no_shows",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),  # no_show | late_cancel
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    # when it was counted (marked a no-show / cancelled late): the rolling window is over this
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "appointment_id", "kind", name="pk_member_no_shows"),
    CheckConstraint("kind IN ('no_show', 'late_cancel')", name="ck_member_no_shows_kind"),
    Index("ix_member_no_shows_member", "tenant_id", "member_id", "occurred_at"),
)

member_standings = Table(
    "member_standings",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    # online / mini-program booking is refused before this instant; NULL = not restricted
    Column("restricted_until", DateTime(timezone=True), nullable=True),
    # the appointment whose no-show set `restricted_until`
    Column("restricted_by", UUID(as_uuid=False), nullable=True),
    # the last LiftBookingRestriction: no-shows counted before it no longer count
    Column("restriction_lift_time", DateTime(timezone=True), nullable=True),
    Column("restriction_lift_reason", Text, nullable=True),
    Column("restriction_lifted_by", Text, nullable=True),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_standings"),
)

booking_restriction_lifts = Table(
    "booking_restriction_lifts",
    metadata,
    Column("id", BigInteger, Identity(), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    # the caller's subject, e.g. user:alice
    Column("lifted_by", Text, nullable=False),
    Column("lift_time", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    # the restriction that was lifted
    Column("restricted_until", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("id", name="pk_booking_restriction_lifts"),
    Index("ix_booking_restriction_lifts_member", "tenant_id", "member_id", "lift_time"),
)
