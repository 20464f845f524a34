"""The wallet's scheduled work, kept in the database (no in-memory timers): monthly bonus
instalments, hold expiry, points expiry, package expiry (deferred revenue left on expired card
items recognised, unused sessions taken off), the "points expiring soon" notice and the monthly
free-care tier benefit.

This worker finds due rows (adapters/scheduled_work.py) and hands each to the service layer
(service_layer/scheduled.py) in its own transaction, which re-locks the row with
`FOR UPDATE SKIP LOCKED` and re-checks its state, so several replicas can run the jobs at once and
every row is acted on exactly once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.wallet.adapters.scheduled_work import DueWork
from services.wallet.service_layer import benefits, membership, packages, scheduled
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

log = get_logger("peony.wallet.jobs")
BATCH = 200


class WalletJobs(PeriodicWorker):
    name = "wallet-jobs"

    def __init__(
        self,
        engine: AsyncEngine,
        uows: UnitOfWorkFactory[WalletUnitOfWork],
        *,
        interval_s: float = 5.0,
        free_care_interval_s: float = 300.0,
    ):
        super().__init__(interval_s=interval_s)
        self._due = DueWork(engine)
        self._engine = engine
        self._uows = uows
        # The free-care pass reads every member of the directory: not every tick.
        self._free_care_interval_s = free_care_interval_s
        self._free_care_next = 0.0

    async def tick(self) -> dict[str, int]:
        now = datetime.now(UTC)
        done = {
            "bonus_released": await self.release_bonuses(now),
            "holds_expired": await self.expire_holds(now),
            "points_expired": await self.expire_points(now),
            "packages_expired": await self.expire_packages(now),
            "expiring_notices": await self.notify_expiring(now),
            "free_care_granted": await self.grant_free_care_when_due(now),
            "membership_notices": await self.membership_notices(now),
        }
        if any(done.values()):
            log.info("wallet jobs", **done)
        return done

    async def membership_notices(self, now: datetime) -> int:
        """MembershipRenewalDue and MembershipExpired, once per member and period."""
        count = 0
        for expired in (False, True):
            async with self._engine.connect() as conn:
                due = await (membership.due_expiries if expired else membership.due_notices)(conn, now, BATCH)
            for row in due:
                count += await self._uows.run(
                    row.tenant_id,
                    lambda uow, m=row.member_id, e=expired: membership.notify(uow, m, now, expired=e),
                )
        return count

    async def grant_free_care_when_due(self, now: datetime) -> int:
        if time.monotonic() < self._free_care_next:
            return 0
        self._free_care_next = time.monotonic() + self._free_care_interval_s
        total = 0
        while True:  # every due member, a batch at a time
            granted = await self.grant_free_care(now)
            total += granted
            if granted < BATCH:
                return total

    async def grant_free_care(self, now: datetime) -> int:
        """This month's free care of every member due (a member another replica is granting is
        found granted: the grant row's primary key decides)."""
        count = 0
        for row in await self._due.free_care(now, BATCH, benefits.DEFAULT_FREE_CARE):
            due = benefits.DueGrant(
                row.member_id, row.home_store_id, row.tier_id, row.sessions, row.month, row.time_zone
            )
            count += await self._uows.run(row.tenant_id, lambda uow, d=due: benefits.grant_free_care(uow, d))
        return count

    async def release_bonuses(self, now: datetime) -> int:
        count = 0
        for tenant, release_id in await self._due.bonus_releases(now, BATCH):
            count += await self._uows.run(tenant, lambda uow, r=release_id: scheduled.release_bonus(uow, r))
        return count

    async def expire_holds(self, now: datetime) -> int:
        count = 0
        for tenant, hold_id in await self._due.holds(now, BATCH):
            count += await self._uows.run(tenant, lambda uow, h=hold_id: scheduled.expire_hold(uow, h, now))
        return count

    async def expire_points(self, now: datetime) -> int:
        count = 0
        for tenant, member_id in await self._due.members_with_expired_points(now, BATCH):
            count += await self._uows.run(
                tenant, lambda uow, m=member_id: scheduled.expire_points(uow, m, now)
            )
        return count

    async def expire_packages(self, now: datetime) -> int:
        """Deferred revenue and unused sessions of expired package items, one card per transaction
        (packages.expire_package_items re-checks under the card's lock: exactly once)."""
        count = 0
        for tenant, package_id in await self._due.expired_package_cards(now, BATCH):
            count += await self._uows.run(
                tenant, lambda uow, p=package_id: packages.expire_package_items(uow, p, now)
            )
        return count

    async def notify_expiring(self, now: datetime) -> int:
        """Pages through every lot due for its notice (keyset on expiry, tenant, lot); a lot
        another replica holds is skipped, not re-read."""
        total = 0
        after: tuple[datetime, str, str] | None = None
        while True:
            due = await self._due.expiring_lots(now, after, BATCH)
            for tenant, lot_id, _ in due:
                total += await self._uows.run(
                    tenant, lambda uow, lot=lot_id: scheduled.notice_expiring_lot(uow, lot, now)
                )
            if len(due) < BATCH:
                return total
            tenant, lot_id, expire_time = due[-1]
            after = (expire_time, tenant, lot_id)
