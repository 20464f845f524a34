"""The tenant's booking configuration kept in process: its policy, its stores' zones and its
services with the stores' overrides — what every booking plans from and what rarely changes.

Versioned in the database (`booking_config_versions`, migration 0012: a row trigger bumps the
tenant's version on every change to those tables, in the changing transaction). An entry is made
by reading the version first and the data after it, lazily, so what it holds is never older than
its version says. A booking planned from an entry names the version in its plan and
`apply_booking` re-checks it against the committed one: an entry that fell behind makes the plan
stale (SQLSTATE 40001), the transaction is re-run without the cache (`uow.attempt` > 0) and the
entry is dropped, to be made again by the next booking. Staleness therefore costs one re-planned
booking per change, never a booking planned from outdated rules.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select

from services.booking.adapters.catalog_repository import ServiceRecord, refuse_not_offered
from services.booking.service_layer import policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

# Tenants kept (least recently used dropped first); an entry is a policy, zones and service records.
DEFAULT_MAX_TENANTS = 1024


@dataclass
class TenantConfig:
    """One tenant's configuration as of `version`, filled as bookings need it."""

    version: int
    rules: policy.BookingPolicy | None = None
    zones: dict[str, str] = field(default_factory=dict)
    # (store, service) -> the store's record of the service; None: no such service
    services: dict[tuple[str, str], ServiceRecord | None] = field(default_factory=dict)

    async def load_policy(self, uow: BookingUnitOfWork) -> policy.BookingPolicy:
        """As `policy.load_policy`."""
        if self.rules is None:
            self.rules = await policy.load_policy(uow)
        return self.rules

    async def store_zone(self, uow: BookingUnitOfWork, store: str) -> str | None:
        """As `CatalogRepository.store_zone`; an unknown store is not kept (it may appear)."""
        zone = self.zones.get(store)
        if zone is None:
            zone = await uow.catalog.store_zone(store)
            if zone is not None:
                self.zones[store] = zone
        return zone

    async def services_at(
        self, uow: BookingUnitOfWork, service_ids: Sequence[str], store: str
    ) -> dict[str, ServiceRecord]:
        """As `CatalogRepository.services(service_ids, store_id=store)`."""
        missing = [s for s in service_ids if (store, s) not in self.services]
        if missing:
            found = await uow.catalog.services_at(store, missing)
            for s in missing:
                self.services[(store, s)] = found.get(s)
        records = {s: self.services[(store, s)] for s in service_ids}
        return refuse_not_offered(store, service_ids, {s: r for s, r in records.items() if r is not None})


class ConfigCache:
    """Process-wide; one `TenantConfig` per tenant."""

    def __init__(self, max_tenants: int = DEFAULT_MAX_TENANTS):
        self._max = max_tenants
        self._entries: OrderedDict[str, TenantConfig] = OrderedDict()

    async def of(self, uow: BookingUnitOfWork) -> TenantConfig:
        """The tenant's entry; a new one starts from the committed version (one read)."""
        entry = self._entries.get(uow.tenant)
        if entry is None:
            version = await uow.session.scalar(select(func.booking_config_version(uow.tenant)))
            entry = self._entries[uow.tenant] = TenantConfig(int(version))
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(uow.tenant)
        return entry

    def forget(self, tenant: str) -> None:
        """Drop the tenant's entry (its plan was found stale)."""
        self._entries.pop(tenant, None)
