"""The booking unit of work: one transaction with every booking repository bound to it."""

from __future__ import annotations

from kit.uow import UnitOfWork
from services.booking.adapters.appointment_repository import AppointmentRepository
from services.booking.adapters.catalog_repository import CatalogRepository
from services.booking.adapters.member_projection import MemberProjection


class BookingUnitOfWork(UnitOfWork):
    catalog: CatalogRepository
    appointments: AppointmentRepository
    members: MemberProjection

    def _bind(self) -> None:
        self.catalog = CatalogRepository(self.session, self.tenant)
        self.appointments = AppointmentRepository(self.session, self.tenant)
        self.members = MemberProjection(self.session, self.tenant)
