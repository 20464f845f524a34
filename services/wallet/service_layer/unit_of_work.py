"""The wallet unit of work: one transaction with every wallet repository bound to it."""

from __future__ import annotations

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
        self.members = MemberDirectory(self.session, self.tenant)

    async def commit(self) -> None:
        await super().commit()
        self.ledger.mark_committed()
