"""Tables of the booking policy and members' no-show standing.

On the booking metadata of tables.py, which imports this module to register them."""

from __future__ import annotations

from services.booking.adapters.tables import metadata  # noqa: F401
