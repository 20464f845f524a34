"""booking_config_versions: a tenant's booking configuration, versioned for in-process caches

Revision ID: 0012_booking_config_version
Revises: 0011_apply_booking
Create Date: 2026-12-07 04:40:00

A booking plans from the tenant's policy, its stores' zones and its services (with the stores'
overrides). These change rarely, so the booking service keeps them in process
(service_layer/config_cache.py) instead of reading them on every booking. Every change to one of
those tables bumps the tenant's version here (a row trigger, in the changing transaction), and
`apply_booking` compares the version the plan was made with against the committed one: a plan
made from an outdated copy is stale (SQLSTATE 40001) and re-planned from the database.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_booking_config_version"
down_revision: str | Sequence[str] | None = "0011_apply_booking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("booking_policies", "services", "service_overrides", "store_zones")

BUMP = r"""
CREATE OR REPLACE FUNCTION bump_booking_config_version() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO booking_config_versions AS v (tenant_id, version)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$fn$
"""

# The plan's version against the committed one (0 while the tenant never changed anything).
CHECK = r"""
CREATE OR REPLACE FUNCTION booking_config_version(tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT version FROM booking_config_versions WHERE tenant_id = tenant), 0)
$fn$
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE booking_config_versions ("
        " tenant_id text CONSTRAINT booking_config_versions_pkey PRIMARY KEY,"
        " version bigint NOT NULL)"
    )
    op.execute(BUMP)
    op.execute(CHECK)
    for table in VERSIONED:
        op.execute(
            f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION bump_booking_config_version()"
        )


def downgrade() -> None:
    for table in VERSIONED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
    op.execute("DROP FUNCTION IF EXISTS booking_config_version(text)")
    op.execute("DROP FUNCTION IF EXISTS bump_booking_config_version()")
    op.execute("DROP TABLE IF EXISTS booking_config_versions")
