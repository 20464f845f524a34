"""The wallet's scheduled work, one due row per call, each in its own tenant transaction
(entrypoints/jobs.py finds the rows and runs these): monthly bonus instalments, hold expiry,
points expiry and the "points expiring soon" notice. Each re-locks its row and re-checks its
state (adapters/scheduled_work.py), so a row another replica has, or one already done, is left
alone; the state change commits together with its ledger transaction and event."""

from __future__ import annotations

from datetime import datetime, timedelta

from peony.wallet.v1 import events_pb2

from kit.proto import ts
from services.wallet.adapters.scheduled_work import ScheduledWorkRepository
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


def _work(uow: UoW) -> ScheduledWorkRepository:
    return ScheduledWorkRepository(uow.session, uow.tenant)


async def release_bonus(uow: UoW, release_id: str) -> bool:
    row = await _work(uow).lock_scheduled_release(release_id)
    if row is None:  # another replica has it, or it is done
        return False
    await sv.release_due_bonus(uow, row)
    return True


async def expire_hold(uow: UoW, hold_id: str, now: datetime | None = None) -> bool:
    """Voids one hold past its expiry; re-locked and re-checked, expiry included (an `ExtendHold`
    may have moved it after the job listed it)."""
    if not await _work(uow).lock_authorized_hold(hold_id, now):
        return False
    await sv.void_hold(uow, None, hold_id, state="expired")
    return True


async def expire_points(uow: UoW, member_id: str, now: datetime) -> bool:
    posted = await pts.expire_lots(uow, member_id, now)
    if posted is None:
        return False
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
    return True


async def notice_expiring_lot(uow: UoW, lot_id: str, now: datetime) -> bool:
    """`PointsExpiring` once per lot, `expiring_notice_days` ahead (tenant setting)."""
    settings = await uow.settings.get()
    work = _work(uow)
    lot = await work.lock_unnoticed_lot(lot_id)
    if lot is None or lot.expire_time > now + timedelta(days=settings.expiring_notice_days):
        return False
    await work.mark_lot_noticed(lot_id)
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
    return True
