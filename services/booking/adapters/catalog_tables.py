"""Tables of per-store service overrides and staff schedule exceptions.

On the booking metadata of tables.py, which imports this module to register them."""

from __future__ import annotations

from services.booking.adapters.tables import metadata  # noqa: F401
