"""Service plans ("after service X, remind for service Y after N days") and their follow-ups."""

from __future__ import annotations

from datetime import datetime

from services.booking.service_layer.policy import BookingPolicy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


async def on_completed(uow: BookingUnitOfWork, appointment, now: datetime, policy: BookingPolicy) -> None:
    """Called in the transaction that completes `appointment` (its row): schedules the follow-ups
    of the active service plans its services trigger."""
