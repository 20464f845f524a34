"""The wallet's scheduled work, kept in the database (no in-memory timers): monthly bonus
instalments, hold expiry, points expiry and the "points expiring soon" notice.

Each due row is handled in its own transaction that re-locks it with `FOR UPDATE SKIP LOCKED`
and re-checks its state, so several replicas can run the jobs at once and every row is acted on
exactly once; the state change commits together with its ledger transaction and event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peony.wallet.v1 import events_pb2
from sqlalchemy import DateTime, cast, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.proto import ts
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.wallet.adapters import tables as t
from services.wallet.domain.settings import WalletSettings
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

log = get_logger("peony.wallet.jobs")
BATCH = 200


class WalletJobs(PeriodicWorker):
    name = "wallet-jobs"

    def __init__(
        self, engine: AsyncEngine, uows: UnitOfWorkFactory[WalletUnitOfWork], *, interval_s: float = 5.0
    ):
        super().__init__(interval_s=interval_s)
        self._engine = engine
        self._uows = uows

    async def tick(self) -> dict[str, int]:
        now = datetime.now(UTC)
        done = {
            "bonus_released": await self.release_bonuses(now),
            "holds_expired": await self.expire_holds(now),
            "points_expired": await self.expire_points(now),
            "expiring_notices": await self.notify_expiring(now),
        }
        if any(done.values()):
            log.info("wallet jobs", **done)
        return done

    async def _due(self, stmt) -> list:
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    async def release_bonuses(self, now: datetime) -> int:
        c = t.bonus_releases.c
        due = await self._due(
            select(c.tenant_id, c.release_id).where(c.state == "scheduled", c.due_time <= now).limit(BATCH)
        )
        count = 0
        for tenant, release_id in due:

            async def one(uow: WalletUnitOfWork, release_id=release_id) -> bool:
                row = (
                    await uow.session.execute(
                        select(t.bonus_releases)
                        .where(c.tenant_id == uow.tenant, c.release_id == release_id, c.state == "scheduled")
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if row is None:  # another replica has it, or it is done
                    return False
                await sv.release_due_bonus(uow, row)
                return True

            count += await self._uows.run(tenant, one)
        return count

    async def expire_holds(self, now: datetime) -> int:
        c = t.holds.c
        due = await self._due(
            select(c.tenant_id, c.hold_id).where(c.state == "authorized", c.expire_time <= now).limit(BATCH)
        )
        count = 0
        for tenant, hold_id in due:

            async def one(uow: WalletUnitOfWork, hold_id=hold_id) -> bool:
                locked = (
                    await uow.session.execute(
                        select(c.hold_id)
                        .where(c.tenant_id == uow.tenant, c.hold_id == hold_id, c.state == "authorized")
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if locked is None:
                    return False
                await sv.void_hold(uow, None, hold_id, state="expired")
                return True

            count += await self._uows.run(tenant, one)
        return count

    async def expire_points(self, now: datetime) -> int:
        c = t.point_lots.c
        due = await self._due(
            select(c.tenant_id, c.member_id)
            .where(c.remaining > 0, c.expire_time <= now)
            .group_by(c.tenant_id, c.member_id)
            .limit(BATCH)
        )
        count = 0
        for tenant, member_id in due:

            async def one(uow: WalletUnitOfWork, member_id=member_id) -> int:
                posted = await pts.expire_lots(uow, member_id, now)
                if posted is None:
                    return 0
                # the member's points account is debited by exactly what expired
                expired = sum(p.amount for p in posted.postings if p.account == pts.member_points(member_id))
                uow.emit(
                    events_pb2.PointsExpired(
                        member=f"members/{member_id}",
                        points=expired,
                        transaction=sv.transaction_name(posted),
                    ),
                    aggregate_type="wallet",
                    aggregate_id=member_id,
                )
                return 1

            count += await self._uows.run(tenant, one)
        return count

    async def notify_expiring(self, now: datetime) -> int:
        """`PointsExpiring` once per lot, `expiring_notice_days` ahead (tenant setting; default 30).

        Only lots due by their tenant's setting are selected, soonest-expiring first, and the job
        pages through all of them (keyset on expiry, tenant, lot): lots not due yet can never fill
        a batch and starve due ones, and a lot another replica holds is skipped, not re-read."""
        total = 0
        after: tuple[datetime, str, str] | None = None
        while True:
            due = await self._due(self._expiring_page(now, after))
            total += await self._notify_lots(now, [(tenant, lot_id) for tenant, lot_id, _ in due])
            if len(due) < BATCH:
                return total
            tenant, lot_id, expire_time = due[-1]
            after = (expire_time, tenant, lot_id)

    @staticmethod
    def _expiring_page(now: datetime, after: tuple[datetime, str, str] | None):
        c = t.point_lots.c
        notice_days = func.coalesce(
            t.wallet_settings.c.settings["expiring_notice_days"].as_integer(),
            WalletSettings().expiring_notice_days,
        )
        stmt = (
            select(c.tenant_id, c.lot_id, c.expire_time)
            .outerjoin(t.wallet_settings, t.wallet_settings.c.tenant_id == c.tenant_id)
            .where(
                c.remaining > 0,
                c.expiring_notified.is_(False),
                c.expire_time <= now + timedelta(days=366),  # the setting's maximum: uses the index
                c.expire_time <= literal(now) + func.make_interval(0, 0, 0, notice_days),
            )
            .order_by(c.expire_time, c.tenant_id, c.lot_id)
            .limit(BATCH)
        )
        if after is not None:
            stmt = stmt.where(
                tuple_(c.expire_time, c.tenant_id, c.lot_id)
                > tuple_(literal(after[0], DateTime(timezone=True)), literal(after[1]), cast(after[2], UUID))
            )
        return stmt

    async def _notify_lots(self, now: datetime, due: list[tuple[str, str]]) -> int:
        c = t.point_lots.c
        count = 0
        for tenant, lot_id in due:

            async def one(uow: WalletUnitOfWork, lot_id=lot_id) -> int:
                settings = await uow.settings.get()
                lot = (
                    await uow.session.execute(
                        select(t.point_lots)
                        .where(c.tenant_id == uow.tenant, c.lot_id == lot_id, c.expiring_notified.is_(False))
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if lot is None or lot.expire_time > now + timedelta(days=settings.expiring_notice_days):
                    return 0
                await uow.session.execute(
                    update(t.point_lots)
                    .where(c.tenant_id == uow.tenant, c.lot_id == lot_id)
                    .values(expiring_notified=True)
                )
                uow.emit(
                    events_pb2.PointsExpiring(
                        member=f"members/{lot.member_id}",
                        points=lot.remaining,
                        expire_time=ts(lot.expire_time),
                        point_lot=f"members/{lot.member_id}/pointLots/{lot_id}",
                    ),
                    aggregate_type="wallet",
                    aggregate_id=lot.member_id,
                )
                return 1

            count += await self._uows.run(tenant, one)
        return count
