"""Alembic environment of the members database."""

from kit.migrations import run_env
from services.members.adapters.tables import metadata

run_env(metadata)
