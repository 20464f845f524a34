"""The booking unit of work: one transaction with every booking repository bound to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kit.logging import get_logger
from kit.uow import UnitOfWork
from services.booking.adapters.aftercare_repository import AftercareRepository
from services.booking.adapters.appointment_repository import AppointmentRepository
from services.booking.adapters.catalog_repository import CatalogRepository
from services.booking.adapters.hold_tables import HoldRepository
from services.booking.adapters.member_projection import MemberProjection
from services.booking.adapters.policy_repository import PolicyRepository
from services.booking.adapters.waitlist_repository import WaitlistRepository
from services.booking.adapters.wallet_client import WalletClient

log = get_logger("peony.booking.uow")


class BookingUnitOfWork(UnitOfWork):
    catalog: CatalogRepository
    appointments: AppointmentRepository
    members: MemberProjection

    def _bind(self) -> None:
        # Read-through to the members service on a projection miss (None in tests without one).
        members_client = self.deps.get("members_client")
        self.catalog = CatalogRepository(self.session, self.tenant, members_client)
        self.appointments = AppointmentRepository(self.session, self.tenant)
        self.members = MemberProjection(self.session, self.tenant, members_client)
        self.holds = HoldRepository(self.session, self.tenant)
        self._undo_if_rolled_back: list[Callable[[], Awaitable[None]]] = []
        self.aftercare = AftercareRepository(self.session, self.tenant)
        self.policy = PolicyRepository(self.session, self.tenant)
        self.waitlist = WaitlistRepository(self.session, self.tenant)

    # --- the wallet (holds.py) ------------------------------------------------------------------
    @property
    def wallet(self) -> WalletClient | None:
        """The wallet's gRPC client (a dependency wired by app.py; None in tests without one)."""
        return self.deps.get("wallet")

    def on_rollback(self, undo: Callable[[], Awaitable[None]]) -> None:
        """Runs `undo` (best effort) when this transaction ends without committing: e.g. voiding
        a wallet hold authorised for a booking that was then rolled back."""
        self._undo_if_rolled_back.append(undo)

    async def commit(self) -> None:
        await super().commit()
        self._undo_if_rolled_back = []

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            undo, self._undo_if_rolled_back = self._undo_if_rolled_back, []
            for fn in undo:
                try:
                    await fn()
                except Exception as err:  # best effort: what it undoes also expires by itself
                    log.warning("undo after rollback failed", error=str(err))
