"""Wallet holds of appointments: a deposit (stored value) or package sessions, authorised through
the wallet's gRPC API when booking and settled (captured or voided) when the appointment ends.

Called by the appointment lifecycle (appointments.py) inside its transaction.
"""

from __future__ import annotations

from datetime import datetime

from peony.booking.v1 import appointments_pb2

from services.booking.service_layer.policy import BookingPolicy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


async def authorize(
    uow: BookingUnitOfWork,
    *,
    appointment_id: str,
    member_id: str,
    store_id: str,
    spec: appointments_pb2.WalletHoldSpec | None,
    end_utc: datetime,
    policy: BookingPolicy,
    request_key: str,
) -> None:
    """Authorises the hold `spec` asks for (nothing when it is None) for the appointment."""
    if spec is None:
        return
    raise NotImplementedError("wallet holds are not wired yet")


async def settle(uow: BookingUnitOfWork, appointment_id: str, *, capture: bool, reason: str) -> None:
    """Settles the appointment's hold, if it has one: captured (`capture`) or voided."""
