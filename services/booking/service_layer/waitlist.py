"""The waitlist: members waiting for a service on a day (optionally with one staff member); time
freed by a cancellation, reschedule or no-show is offered to one waiting member at a time."""

from __future__ import annotations

from datetime import datetime

from services.booking.service_layer.unit_of_work import BookingUnitOfWork


async def on_time_freed(uow: BookingUnitOfWork, appointment, now: datetime) -> None:
    """Called in the transaction that frees `appointment`'s (its row, as it was) resources."""
