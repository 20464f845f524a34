"""Alembic environment of the booking database."""

from kit.migrations import run_env
from services.booking.adapters.tables import metadata

run_env(metadata)
