"""Tables of service plans, follow-ups, visit feedback and complaints.

On the booking metadata of tables.py, which imports this module to register them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from services.booking.adapters.tables import metadata

# "After service X, remind for service Y after N days" (服务计划), tenant-wide.
service_plans = Table(
    "service_plans",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("plan_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("trigger_service_id", Text, nullable=False),
    Column("follow_up_service_id", Text, nullable=False),
    Column("follow_up_after_days", Integer, nullable=False),
    Column("remind_days_before", Integer, nullable=False, server_default=text("1")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "plan_id", name="pk_service_plans"),
    CheckConstraint("follow_up_after_days BETWEEN 1 AND 730", name="ck_service_plans_after_days"),
    CheckConstraint("remind_days_before BETWEEN 0 AND 30", name="ck_service_plans_remind_days"),
    Index("ix_service_plans_trigger", "tenant_id", "trigger_service_id"),
)

# One follow-up per (completed appointment, plan), written in the completing transaction and fired
# once by the job step (state scheduled -> fired | skipped). `remind_utc` is the exact UTC instant
# of the store-local remind time on `due_date - remind_days_before`; `time_zone` is the zone it
# was computed in. `complete_time` is when the source appointment was completed (a booking of
# the follow-up service starting at or after it skips the reminder).
follow_ups = Table(
    "follow_ups",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("follow_up_id", UUID(as_uuid=False), nullable=False),
    Column("plan_id", Text, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("follow_up_service_id", Text, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("remind_utc", DateTime(timezone=True), nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("complete_time", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False, server_default="scheduled"),
    Column("resolve_time", DateTime(timezone=True), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # what came of the follow-up call (ResolveFollowUp): state fired -> resolved
    Column("outcome", Text, nullable=True),  # reached | booked | declined | unreachable
    Column("outcome_time", DateTime(timezone=True), nullable=True),
    Column("resolved_by", Text, nullable=True),  # the staff caller's subject
    Column("booked_appointment_id", UUID(as_uuid=False), nullable=True),
    PrimaryKeyConstraint("tenant_id", "follow_up_id", name="pk_follow_ups"),
    UniqueConstraint("tenant_id", "appointment_id", "plan_id", name="uq_follow_ups_appointment_plan"),
    CheckConstraint("state IN ('scheduled', 'fired', 'skipped', 'resolved')", name="ck_follow_ups_state"),
    CheckConstraint(
        "(state = 'resolved') = (outcome IS NOT NULL)"
        " AND (outcome IS NULL OR outcome IN ('reached', 'booked', 'declined', 'unreachable'))"
        " AND (booked_appointment_id IS NULL OR outcome = 'booked')",
        name="ck_follow_ups_outcome",
    ),
    Index("ix_follow_ups_member", "tenant_id", "member_id", "remind_utc"),
    Index("ix_follow_ups_plan", "tenant_id", "plan_id", "state"),
    # the job's scan of what is due
    Index("ix_follow_ups_due", "remind_utc", postgresql_where=text("state = 'scheduled'")),
    # a store's work list of calls to make (ListDueFollowUps), in its page order
    Index(
        "ix_follow_ups_work_list",
        "tenant_id",
        "store_id",
        "due_date",
        "remind_utc",
        "follow_up_id",
        postgresql_where=text("state = 'fired'"),
    ),
)

# A member's rating of a completed visit; the primary key makes it once per appointment.
feedback = Table(
    "feedback",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("staff", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # resource names
    Column("services", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # service ids
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "appointment_id", name="pk_feedback"),
    CheckConstraint("rating BETWEEN 1 AND 5", name="ck_feedback_rating"),
    Index("ix_feedback_store", "tenant_id", "store_id", "create_time"),
    Index("ix_feedback_time", "tenant_id", "create_time"),
)

# Complaints (投诉) with their first-response SLA. State open -> in_progress -> resolved;
# `sla_breached` is set exactly once (with ComplaintSlaBreached), by the job step or by a late
# first response. `replies`: [{"message", "author", "create_time"}], oldest first.
complaints = Table(
    "complaints",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=False), nullable=False),
    Column("member_id", Text, nullable=False),
    Column("store_id", Text, nullable=True),
    Column("appointment_id", UUID(as_uuid=False), nullable=True),
    Column("staff", Text, nullable=True),
    Column("category", Integer, nullable=False),  # ComplaintCategory value
    Column("description", Text, nullable=False),
    Column("channel", Integer, nullable=False),  # BookingChannel value
    Column("state", Text, nullable=False, server_default="open"),
    Column("first_response_due_time", DateTime(timezone=True), nullable=False),
    Column("first_response_time", DateTime(timezone=True), nullable=True),
    Column("sla_breached", Boolean, nullable=False, server_default=text("false")),
    Column("replies", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("resolution", Text, nullable=True),
    Column("resolve_time", DateTime(timezone=True), nullable=True),
    Column("opened_by", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "complaint_id", name="pk_complaints"),
    CheckConstraint("state IN ('open', 'in_progress', 'resolved')", name="ck_complaints_state"),
    Index("ix_complaints_time", "tenant_id", "create_time"),
    Index("ix_complaints_member", "tenant_id", "member_id", "create_time"),
    # the job's scan of open complaints whose deadline may pass
    Index(
        "ix_complaints_sla_due",
        "first_response_due_time",
        postgresql_where=text("state = 'open' AND NOT sla_breached"),
    ),
)
