"""The paid membership (会员费 / 续费; seeds: "新客户…交纳一定的会员费用").

- **Paying / renewing**: a checkout line of item ``membershipFee`` (quantity = periods, list price
  = the tenant's ``membership_fee_minor``) extends the member's membership by
  ``membership_months`` per period, in the checkout's transaction (statement path): from its
  current end while it runs (a renewal), else from now. One ``membership_periods`` row per
  paying checkout and ``MembershipRenewed``.
- **Renewal due / expired**: the wallet jobs publish ``MembershipRenewalDue`` once per period when
  its end is within ``membership_renewal_notice_days``, and ``MembershipExpired`` once when it
  passes unrenewed (the row remembers the ``paid_until`` it notified for; rows are re-locked
  ``FOR UPDATE SKIP LOCKED``, so replicas notify once).
- **Refund**: refunding fee units of a checkout takes their months off the end of the membership.
- **Renewal rate** (finance): of the periods that ended in a window, the share followed by a
  paid period starting at or after their end.

Lock order: a checkout locks the membership row just before its ledger post; the jobs lock only
membership rows (one at a time), so no cycle can form with the accounts.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from peony.wallet.v1 import events_pb2
from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument
from kit.proto import ts
from services.wallet.adapters import membership_tables as mt
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

MEMBERSHIP_ITEM = "membershipFee"
MAX_PERIODS = 10


def fee_lines(lines) -> list[int]:
    return [i for i, line in enumerate(lines) if line.item == MEMBERSHIP_ITEM]


@dataclass(frozen=True)
class Extension:
    member_id: str
    periods: int
    fee_minor: int
    period_start: datetime
    paid_until: datetime
    renewal: bool


async def plan_extension(
    uow: UoW, *, member_id: str | None, lines, settings, now: datetime
) -> Extension | None:
    """The membership the checkout's fee lines buy, the member's row locked; None without any.
    Refuses a fee line the tenant does not offer or whose price is not its fee."""
    indexes = fee_lines(lines)
    if not indexes:
        return None
    if member_id is None:
        raise InvalidArgument([(f"lines[{indexes[0]}].item", "a membership fee needs a member")])
    fee = settings.membership_fee_minor
    if fee <= 0:
        raise FailedPrecondition("this tenant charges no membership fee", reason="MEMBERSHIP_NOT_OFFERED")
    periods = 0
    for i in indexes:
        line = lines[i]
        if line.list_price != fee or line.use_package:
            raise FailedPrecondition(
                f"a membership fee line is priced at the tenant's fee ({fee})",
                reason="MEMBERSHIP_FEE_MISMATCH",
                metadata={"membership_fee_minor": str(fee), "line": str(i)},
            )
        periods += line.quantity
    if periods > MAX_PERIODS:
        raise InvalidArgument([(f"lines[{indexes[0]}].quantity", f"at most {MAX_PERIODS} periods at once")])
    c = mt.memberships.c
    current = await uow.session.scalar(
        select(c.paid_until).where(c.tenant_id == uow.tenant, c.member_id == member_id).with_for_update()
    )
    renewal = current is not None and current > now
    start = current if renewal else now
    assert start is not None
    until = add_months(start, settings.membership_months * periods)
    return Extension(member_id, periods, fee * periods, start, until, renewal)


async def record_extension(uow: UoW, ext: Extension, *, checkout_id: str, currency: str) -> None:
    await uow.session.execute(
        pg_insert(mt.membership_periods).values(
            tenant_id=uow.tenant,
            checkout_id=checkout_id,
            member_id=ext.member_id,
            period_start=ext.period_start,
            period_end=ext.paid_until,
            periods=ext.periods,
            renewal=ext.renewal,
            fee_minor=ext.fee_minor,
        )
    )
    stmt = pg_insert(mt.memberships).values(
        tenant_id=uow.tenant,
        member_id=ext.member_id,
        paid_until=ext.paid_until,
        periods_paid=ext.periods,
        renewals=int(ext.renewal),
    )
    await uow.session.execute(
        stmt.on_conflict_do_update(
            constraint="pk_memberships",
            set_={
                "paid_until": stmt.excluded.paid_until,
                "periods_paid": mt.memberships.c.periods_paid + stmt.excluded.periods_paid,
                "renewals": mt.memberships.c.renewals + stmt.excluded.renewals,
                "update_time": func.now(),
            },
        )
    )
    event = events_pb2.MembershipRenewed(
        member=f"members/{ext.member_id}",
        checkout=f"checkouts/{checkout_id}",
        renewal=ext.renewal,
        fee_minor=ext.fee_minor,
        currency_code=currency,
    )
    event.period_start.CopyFrom(ts(ext.period_start))
    event.paid_until.CopyFrom(ts(ext.paid_until))
    uow.emit(event, aggregate_type="wallet", aggregate_id=ext.member_id)


def months_between(start: datetime, end: datetime) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


async def shorten(uow: UoW, *, member_id: str, checkout_id: str, periods: int) -> None:
    """A refund of ``periods`` membership-fee units of a checkout takes them off the end of the
    member's paid membership (and off the period that checkout bought); the member's row is
    locked before the refund's ledger post, as at checkout."""
    c, p = mt.memberships.c, mt.membership_periods.c
    paid_until = await uow.session.scalar(
        select(c.paid_until).where(c.tenant_id == uow.tenant, c.member_id == member_id).with_for_update()
    )
    bought = (
        await uow.session.execute(
            select(p.period_start, p.period_end, p.periods).where(
                p.tenant_id == uow.tenant, p.checkout_id == checkout_id
            )
        )
    ).first()
    if paid_until is None or bought is None or bought.periods <= 0:
        return
    months = months_between(bought.period_start, bought.period_end) // bought.periods * periods
    await uow.session.execute(
        update(mt.membership_periods)
        .where(p.tenant_id == uow.tenant, p.checkout_id == checkout_id)
        .values(period_end=add_months(bought.period_end, -months), periods=bought.periods - periods)
    )
    await uow.session.execute(
        update(mt.memberships)
        .where(c.tenant_id == uow.tenant, c.member_id == member_id)
        .values(
            paid_until=add_months(paid_until, -months),
            periods_paid=c.periods_paid - periods,
            update_time=func.now(),
        )
    )


async def get(uow: UoW, caller: Principal, member_id: str):
    caller.require(auth.WALLET_READ)
    caller.require_member(f"members/{member_id}")
    await uow.members.require(member_id)
    c = mt.memberships.c
    return (
        await uow.session.execute(
            select(mt.memberships).where(c.tenant_id == uow.tenant, c.member_id == member_id)
        )
    ).first()


async def renewal_rate(uow: UoW, caller: Principal, *, start: datetime, end: datetime) -> tuple[int, int]:
    """(due, renewed): periods ending in [start, end) and those followed by a later paid period."""
    caller.require(auth.WALLET_FINANCE)
    if end <= start:
        raise InvalidArgument([("end_time", "must be after start_time")])
    p = mt.membership_periods.alias("p")
    later = mt.membership_periods.alias("later")
    followed = exists().where(
        later.c.tenant_id == p.c.tenant_id,
        later.c.member_id == p.c.member_id,
        later.c.period_start >= p.c.period_end,
    )
    row = (
        await uow.session.execute(
            select(func.count().label("due"), func.count().filter(followed).label("renewed")).where(
                and_(p.c.tenant_id == uow.tenant, p.c.period_end >= start, p.c.period_end < end)
            )
        )
    ).one()
    return int(row.due), int(row.renewed)


# --- the jobs: renewal due and expired, once per period --------------------------------------
_DUE_NOTICES = text(
    """
    SELECT m.tenant_id, m.member_id::text AS member_id
    FROM memberships m
    LEFT JOIN wallet_settings w ON w.tenant_id = m.tenant_id
    WHERE m.paid_until > :now
      AND m.paid_until <= :now + make_interval(
              days => coalesce((w.settings ->> 'membership_renewal_notice_days')::int, 30))
      AND m.due_notice_for IS DISTINCT FROM m.paid_until
    LIMIT :limit
    """
)
_EXPIRED = text(
    """
    SELECT m.tenant_id, m.member_id::text AS member_id FROM memberships m
    WHERE m.paid_until <= :now AND m.expired_notice_for IS DISTINCT FROM m.paid_until
    LIMIT :limit
    """
)


async def due_notices(conn, now: datetime, limit: int) -> list:
    return list((await conn.execute(_DUE_NOTICES, {"now": now, "limit": limit})).all())


async def due_expiries(conn, now: datetime, limit: int) -> list:
    return list((await conn.execute(_EXPIRED, {"now": now, "limit": limit})).all())


async def notify(uow: UoW, member_id: str, now: datetime, *, expired: bool) -> int:
    """One notice of one member's period, re-checked under the row's lock (SKIP LOCKED)."""
    c = mt.memberships.c
    column = c.expired_notice_for if expired else c.due_notice_for
    row = (
        await uow.session.execute(
            select(c.paid_until, column.label("sent_for"))
            .where(c.tenant_id == uow.tenant, c.member_id == member_id)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if row is None or row.sent_for == row.paid_until:
        return 0
    if expired and row.paid_until > now:
        return 0
    if not expired:
        notice_days = (await uow.settings.get()).membership_renewal_notice_days
        if not now < row.paid_until <= now + timedelta(days=notice_days):
            return 0
    await uow.session.execute(
        update(mt.memberships)
        .where(c.tenant_id == uow.tenant, c.member_id == member_id)
        .values({column.name: row.paid_until, "update_time": func.now()})
    )
    message = events_pb2.MembershipExpired if expired else events_pb2.MembershipRenewalDue
    event = message(member=f"members/{member_id}")
    event.paid_until.CopyFrom(ts(row.paid_until))
    uow.emit(event, aggregate_type="wallet", aggregate_id=member_id)
    return 1


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; the month's last day when it has no such day
    (31 January + 1 month = 28/29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
