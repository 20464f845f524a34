"""Tables of appointments' wallet holds and their settlement.

On the booking metadata of tables.py, which imports this module to register them."""

from __future__ import annotations

from services.booking.adapters.tables import metadata  # noqa: F401
