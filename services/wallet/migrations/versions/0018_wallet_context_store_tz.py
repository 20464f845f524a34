"""wallet_context also returns the store's time zone (member day: the store-local day of a checkout)

Revision ID: 0018_wallet_context_store_tz
Revises: 0017_wallet_import_openings
Create Date: 2026-12-07 14:05:00

The one-call checkout reads everything in one ``wallet_context`` call; the member day needs the
checkout store's local date, so the zone joins that read instead of costing a second query.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0018_wallet_context_store_tz"
down_revision: str | Sequence[str] | None = "0017_wallet_import_openings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _wallet_context_0011() -> str:
    spec = importlib.util.spec_from_file_location(
        "wallet_apply_0011", Path(__file__).with_name("0011_wallet_apply_function.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WALLET_CONTEXT


_STORE_0011 = """    'store', EXISTS (SELECT 1 FROM store_directory s
                     WHERE s.tenant_id = p_tenant AND s.store_id = p_store_id),
"""
_STORE_WITH_ZONE = (
    _STORE_0011
    + """    'store_time_zone', (SELECT s.time_zone FROM store_directory s
                        WHERE s.tenant_id = p_tenant AND s.store_id = p_store_id),
"""
)


def wallet_context_with_store_zone() -> str:
    sql = _wallet_context_0011()
    assert sql.count(_STORE_0011) == 1
    return sql.replace(_STORE_0011, _STORE_WITH_ZONE)


def upgrade() -> None:
    op.execute(wallet_context_with_store_zone())


def downgrade() -> None:
    op.execute(_wallet_context_0011())
