"""The wallet unit of work: one transaction with every wallet repository bound to it."""

from __future__ import annotations

from kit.store_projection import StoreProjection
from kit.uow import UnitOfWork
from services.wallet.adapters.ledger_repository import LedgerRepository
from services.wallet.adapters.repository import (
    BonusReleaseRepository,
    HoldRepository,
    LotRepository,
    PinRepository,
    PlanRepository,
    SettingsRepository,
)
from services.wallet.adapters.sv_lot_repository import StoredValueLotRepository
from services.wallet.adapters.tables import store_directory


class WalletUnitOfWork(UnitOfWork):
    ledger: LedgerRepository
    settings: SettingsRepository
    pins: PinRepository
    plans: PlanRepository
    releases: BonusReleaseRepository
    holds: HoldRepository
    lots: LotRepository
    sv_lots: StoredValueLotRepository

    def _bind(self) -> None:
        from services.wallet.adapters.member_directory import MemberDirectory  # written alongside

        self.ledger = LedgerRepository(self.session, self.tenant, lambda: self.request_id)
        self.settings = SettingsRepository(self.session, self.tenant)
        self.pins = PinRepository(self.session, self.tenant)
        self.plans = PlanRepository(self.session, self.tenant)
        self.releases = BonusReleaseRepository(self.session, self.tenant)
        self.holds = HoldRepository(self.session, self.tenant)
        self.lots = LotRepository(self.session, self.tenant)
        self.sv_lots = StoredValueLotRepository(self.session, self.tenant)
        # Read-through to the members service on a projection miss (None in tests without one).
        self.members = MemberDirectory(self.session, self.tenant, self.deps.get("members_client"))
        self.stores = StoreProjection(
            self.session, self.tenant, store_directory, self.deps.get("members_client")
        )

    async def commit(self) -> None:
        await super().commit()
        if not self.is_joined:  # joined: the owner's transaction may still roll back
            self.ledger.mark_committed()
