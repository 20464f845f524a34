"""Tables of per-store service overrides and staff schedule exceptions.

On the booking metadata of tables.py, which imports this module to register them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.booking.adapters.tables import metadata

# A store's deviation from a tenant-level service. NULL = inherit the service's value;
# `requirements` ({"skill", "room_type", "equipment_kind"}) replaces the service's as a whole.
service_overrides = Table(
    "service_overrides",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("offered", Boolean, nullable=True),
    Column("duration_minutes", Integer, nullable=True),
    Column("buffer_before_minutes", Integer, nullable=True),
    Column("buffer_after_minutes", Integer, nullable=True),
    Column("list_price_minor", BigInteger, nullable=True),
    Column("requirements", JSONB, nullable=True),
    Column("online_bookable", Boolean, nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "store_id", "service_id", name="pk_service_overrides"),
    CheckConstraint(
        "duration_minutes IS NULL OR duration_minutes BETWEEN 1 AND 1440",
        name="ck_service_overrides_duration",
    ),
    CheckConstraint(
        "buffer_before_minutes IS NULL OR buffer_before_minutes BETWEEN 0 AND 720",
        name="ck_service_overrides_buffer_before",
    ),
    CheckConstraint(
        "buffer_after_minutes IS NULL OR buffer_after_minutes BETWEEN 0 AND 720",
        name="ck_service_overrides_buffer_after",
    ),
    CheckConstraint(
        "list_price_minor IS NULL OR list_price_minor >= 0", name="ck_service_overrides_price_not_negative"
    ),
)

# Dated changes to a staff member's weekly hours over local dates start_date..end_date
# (inclusive), each date's [start_time, end_time) local wall time, or the whole date when both
# are NULL (absences only).
schedule_exceptions = Table(
    "schedule_exceptions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("exception_id", Text, nullable=False),
    Column("store_id", Text, nullable=False),
    Column("staff_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # leave | sick_leave | training | blocked | extra_shift
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("start_time", Text, nullable=True),
    Column("end_time", Text, nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "exception_id", name="pk_schedule_exceptions"),
    CheckConstraint("end_date >= start_date", name="ck_schedule_exceptions_dates"),
    CheckConstraint(
        "kind IN ('leave', 'sick_leave', 'training', 'blocked', 'extra_shift')",
        name="ck_schedule_exceptions_kind",
    ),
    CheckConstraint(
        "(start_time IS NULL) = (end_time IS NULL) AND (kind <> 'extra_shift' OR start_time IS NOT NULL)",
        name="ck_schedule_exceptions_times",
    ),
    Index("ix_schedule_exceptions_staff", "tenant_id", "store_id", "staff_id", "start_date"),
)
