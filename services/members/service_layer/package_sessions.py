"""The ``member_package_sessions`` projection: unused sessions per package card item.

Fed by the engagement-facts consumer from the wallet's events:

- ``PackageSold``: the card's items (``items``) with all their sessions;
- ``PackageSessionConsumed`` / ``PackageSessionsRestored``: the item's ``sessions_remaining``;
- ``PackageTransferred``: the source card's items to 0, the new card's (``to_items``) as sold;
- ``PackageRefunded``: every item of the card to 0.

Every write is by event time: a row keeps the count of the latest event that set it, so
redelivered or reordered events change nothing (the consumer's inbox dedupes copies as well).
A ``PackageSold`` from before the items were carried on it (no ``items``) projects nothing.

After each change the member's totals are recomputed from those rows in the same transaction:
per service (``member_service_sessions``) and over every service
(``members.package_sessions_remaining``), so the segment criterion reads one row per member and
aggregates nothing. Recomputing (rather than adding deltas) keeps them exact whatever the order of
events. Lock order: the ``members`` row first (as in activity.py), then the card rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.ids import parse_name
from services.members.adapters import segment_tables as sg
from services.members.adapters import tables as t
from services.members.service_layer.activity import MemberActivity
from services.members.service_layer.spend import InvalidWalletEvent, resource_id


def package_id(name: str) -> str:
    return resource_id(name, "members/{uuid}/packages/{id}", "package")


def service_id(name: str) -> str:
    sid = parse_name(name, "services")
    if sid is None:
        raise InvalidWalletEvent(f"service {name!r} is not a services/{{service}} name")
    return sid


class PackageSessions:
    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant

    async def set_items(self, member_id: str, package: str, items, at: datetime) -> None:
        """Sets each (service, sessions_remaining) of card ``package`` unless a newer event did."""
        p = sg.member_package_sessions
        items = list(items)
        if not items:
            return
        await MemberActivity(self.session, self.tenant).lock_member(member_id)
        for item in items:
            if item.sessions_remaining < 0:
                raise InvalidWalletEvent("sessions_remaining must not be negative")
            stmt = pg_insert(p).values(
                tenant_id=self.tenant,
                package_id=package_id(package),
                service_id=service_id(item.service),
                member_id=member_id,
                sessions_remaining=item.sessions_remaining,
                as_of=at,
            )
            newer = p.c.as_of <= stmt.excluded.as_of
            stmt = stmt.on_conflict_do_update(
                constraint="pk_member_package_sessions",
                set_={
                    "sessions_remaining": case(
                        (newer, stmt.excluded.sessions_remaining), else_=p.c.sessions_remaining
                    ),
                    "as_of": case((newer, stmt.excluded.as_of), else_=p.c.as_of),
                },
            )
            await self.session.execute(stmt)
        await self._recount(member_id, {service_id(item.service) for item in items})

    async def empty(self, package: str, at: datetime) -> None:
        """Every item of card ``package`` to 0 (refunded, or moved to another card)."""
        p = sg.member_package_sessions.c
        rows = (
            await self.session.execute(
                select(p.member_id, p.service_id).where(
                    p.tenant_id == self.tenant, p.package_id == package_id(package)
                )
            )
        ).all()
        if not rows:
            return
        member_id = rows[0].member_id  # a card is one member's
        await MemberActivity(self.session, self.tenant).lock_member(member_id)
        await self.session.execute(
            sg.member_package_sessions.update()
            .where(p.tenant_id == self.tenant, p.package_id == package_id(package), p.as_of <= at)
            .values(sessions_remaining=0, as_of=at)
        )
        await self._recount(member_id, {r.service_id for r in rows})

    async def _recount(self, member_id: str, services: set[str]) -> None:
        """The member's totals from their card rows: for each of ``services`` and over all."""
        p, s = sg.member_package_sessions.c, sg.member_service_sessions
        for service in sorted(services):
            total = (
                select(func.coalesce(func.sum(p.sessions_remaining), 0))
                .where(p.tenant_id == self.tenant, p.member_id == member_id, p.service_id == service)
                .scalar_subquery()
            )
            stmt = pg_insert(s).values(
                tenant_id=self.tenant, member_id=member_id, service_id=service, sessions_remaining=total
            )
            stmt = stmt.on_conflict_do_update(
                constraint="pk_member_service_sessions",
                set_={"sessions_remaining": stmt.excluded.sessions_remaining},
            )
            await self.session.execute(stmt)
        everything = (
            select(func.coalesce(func.sum(p.sessions_remaining), 0))
            .where(p.tenant_id == self.tenant, p.member_id == member_id)
            .scalar_subquery()
        )
        m = t.members.c
        await self.session.execute(
            t.members.update()
            .where(m.tenant_id == self.tenant, m.member_id == member_id)
            .values(package_sessions_remaining=everything)
        )
