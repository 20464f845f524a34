"""Tables of the wallet's checkout records (registered on the wallet's shared MetaData)."""

from __future__ import annotations

from services.wallet.adapters.tables import metadata  # noqa: F401  (tables below register on it)
