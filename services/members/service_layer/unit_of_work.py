"""The members unit of work: one transaction with every members repository bound to it."""

from __future__ import annotations

from kit.crypto import PiiCipher
from kit.uow import UnitOfWork
from services.members.adapters.repository import (
    CardRepository,
    MemberRepository,
    SettingsRepository,
    StoreRepository,
    TierChangeRepository,
)
from services.members.adapters.tier_jobs import TierReevaluationRepository


class MembersUnitOfWork(UnitOfWork):
    members: MemberRepository
    stores: StoreRepository
    settings: SettingsRepository
    cards: CardRepository
    tier_changes: TierChangeRepository
    tier_jobs: TierReevaluationRepository

    def _bind(self) -> None:
        cipher: PiiCipher = self.deps["cipher"]
        self.members = MemberRepository(self.session, self.tenant, cipher)
        self.stores = StoreRepository(self.session, self.tenant)
        self.settings = SettingsRepository(self.session, self.tenant)
        self.cards = CardRepository(self.session, self.tenant)
        self.tier_changes = TierChangeRepository(self.session, self.tenant)
        self.tier_jobs = TierReevaluationRepository(self.session, self.tenant)
