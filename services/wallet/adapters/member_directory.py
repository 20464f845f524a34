"""The wallet's projection of members: who is a member, their home store and their tier benefits.

Fed by the members service's events (``services.wallet.entrypoints.consumers``) and read by
checkout on every call, so the wallet keeps working when the members service is slow or down.
Every statement is scoped to the tenant the directory was built for.

Ordering. Events of one member share an aggregate and reach the consumer in stream order, but a
failed delivery is nak'ed and retried *after* later events of the same member, so the writes here
do not rely on arrival order:

- ``apply_registered`` inserts the member; a second copy of the registration refreshes only the
  tier fields, and only while no TierChanged has been applied to the row (a member's tier changes
  only after the registration, so a late copy must not take them back to the entry tier);
- ``apply_tier_changed`` needs the row: when TierChanged overtook MemberRegistered it raises
  :class:`MemberNotYetRegistered`, the consumer rolls back (inbox row included) and naks, and the
  change is applied on a later delivery, after the registration;
- ``update_time`` is the occurred-at time of the last event applied to the row (= ``registered_time``
  while only the registration is). A TierChanged always supersedes the registration; among tier
  changes the later occurred-at wins, so a retried TierChanged that lost the race to a newer one is
  skipped. The members service stamps its events at commit, under the member's row lock, so for
  one member this time follows commit order (up to clock skew between its replicas, which only
  matters for two changes of one member within that skew);
- ``apply_ladder`` keeps the highest ladder ``version`` only.

Read-through. A member registered a moment ago may not have reached the consumer yet; ``require``
then asks the members service (``kit.members_client``, as the wallet itself) and, when members
knows the member, inserts the snapshot — only while the row is absent, with ``update_time`` = the
member record's own update time, so the consumer's rows are never overwritten, and a late
registration copy (``update_time == registered_time`` no longer holds once the member changed) or
an older TierChanged cannot take the tier back. Members' NOT_FOUND is ``MEMBER_NOT_FOUND``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.errors import InvalidArgument, NotFound
from kit.members_client import MemberFacts, MembersClient
from services.wallet.adapters.tables import member_directory as md
from services.wallet.adapters.tables import tier_ladders as tl

__all__ = ["MemberDirectory", "MemberNotYetRegistered", "MemberTierView"]

Db = AsyncSession | AsyncConnection


class MemberNotYetRegistered(RuntimeError):
    """A member event arrived before the member's registration; retry it later (the consumer naks)."""


@dataclass(frozen=True)
class MemberTierView:
    member_id: str
    home_store_id: str
    tier_id: str
    discount_bps: int
    points_multiplier_permille: int


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


class MemberDirectory:
    def __init__(self, db: Db, tenant: str, source: MembersClient | None = None):
        if not tenant:
            raise ValueError("a member directory needs a tenant")
        self.db, self.tenant, self.source = db, tenant, source

    # ---------------------------------------------------------------- writes (from events)

    async def apply_registered(
        self,
        member_id: str,
        home_store_id: str,
        tier_id: str,
        discount_bps: int,
        multiplier_permille: int,
        registered_time: datetime,
    ) -> bool:
        """Record a registration; True when the row was written (inserted, or its tier refreshed)."""
        stmt = pg_insert(md).values(
            tenant_id=self.tenant,
            member_id=member_id,
            home_store_id=home_store_id,
            tier_id=tier_id,
            discount_bps=discount_bps,
            points_multiplier_permille=multiplier_permille,
            registered_time=registered_time,
            update_time=registered_time,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[md.c.tenant_id, md.c.member_id],
            set_={
                "tier_id": stmt.excluded.tier_id,
                "discount_bps": stmt.excluded.discount_bps,
                "points_multiplier_permille": stmt.excluded.points_multiplier_permille,
            },
            # Only while the row still holds the registration: a TierChanged applied since wins.
            where=md.c.update_time == md.c.registered_time,
        ).returning(md.c.member_id)
        return (await self.db.execute(stmt)).first() is not None

    async def apply_tier_changed(
        self,
        member_id: str,
        tier_id: str,
        discount_bps: int,
        multiplier_permille: int,
        *,
        changed_time: datetime | None = None,
    ) -> bool:
        """Move the member to ``tier_id``; False when a newer change is applied already.

        ``changed_time`` is when the change happened (the event's occurred-at); without it the
        change is applied unconditionally and stamped with the database's clock.

        Raises :class:`MemberNotYetRegistered` when the member is not in the directory yet.
        """
        stmt = (
            update(md)
            .where(md.c.tenant_id == self.tenant, md.c.member_id == member_id)
            .values(
                tier_id=tier_id,
                discount_bps=discount_bps,
                points_multiplier_permille=multiplier_permille,
                update_time=changed_time if changed_time is not None else func.now(),
            )
            .returning(md.c.member_id)
        )
        if changed_time is not None:
            # Supersedes the registration always, an earlier tier change only.
            stmt = stmt.where(or_(md.c.update_time == md.c.registered_time, md.c.update_time <= changed_time))
        if (await self.db.execute(stmt)).first() is not None:
            return True
        exists = await self.db.execute(
            select(md.c.member_id).where(md.c.tenant_id == self.tenant, md.c.member_id == member_id)
        )
        if exists.first() is None:
            raise MemberNotYetRegistered(f"member {member_id} of tenant {self.tenant} is not registered yet")
        return False  # stale: a newer event for this member was applied first

    async def fill(self, facts: MemberFacts) -> None:
        """Insert a read-through snapshot of a member the consumer has not delivered yet."""
        await self.db.execute(
            pg_insert(md)
            .values(
                tenant_id=self.tenant,
                member_id=facts.member_id,
                home_store_id=facts.home_store_id,
                tier_id=facts.tier_id,
                discount_bps=facts.discount_bps,
                points_multiplier_permille=facts.points_multiplier_permille,
                registered_time=facts.create_time,
                update_time=facts.update_time,
            )
            .on_conflict_do_nothing(index_elements=[md.c.tenant_id, md.c.member_id])
        )

    async def apply_ladder(self, version: int, tiers: list[dict[str, Any]]) -> bool:
        """Store the tenant's ladder when ``version`` is newer than the stored one; True when stored."""
        stmt = pg_insert(tl).values(tenant_id=self.tenant, version=version, tiers=list(tiers))
        stmt = stmt.on_conflict_do_update(
            index_elements=[tl.c.tenant_id],
            set_={"version": stmt.excluded.version, "tiers": stmt.excluded.tiers, "update_time": func.now()},
            where=tl.c.version < stmt.excluded.version,
        ).returning(tl.c.version)
        return (await self.db.execute(stmt)).first() is not None

    # ---------------------------------------------------------------- reads

    async def find(self, member_id: str) -> MemberTierView | None:
        """The member's tier and effective benefits, or None when the member is unknown."""
        if not _is_uuid(member_id):
            return None
        row = (
            await self.db.execute(
                select(
                    md.c.member_id,
                    md.c.home_store_id,
                    md.c.tier_id,
                    md.c.discount_bps,
                    md.c.points_multiplier_permille,
                    tl.c.tiers,
                )
                .select_from(md.outerjoin(tl, tl.c.tenant_id == md.c.tenant_id))
                .where(md.c.tenant_id == self.tenant, md.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        discount, multiplier = row.discount_bps, row.points_multiplier_permille
        # The newest ladder is authoritative for its tiers' benefits; a tier it no longer lists
        # keeps the benefits carried by the member's last event.
        entry = next((t for t in row.tiers or [] if t.get("tier_id") == row.tier_id), None)
        if entry is not None:
            discount = int(entry.get("discount_bps", discount))
            multiplier = int(entry.get("points_multiplier_permille", multiplier))
        return MemberTierView(
            member_id=str(row.member_id),
            home_store_id=row.home_store_id,
            tier_id=row.tier_id,
            discount_bps=discount,
            points_multiplier_permille=multiplier,
        )

    async def require(self, member_id: str, field: str = "member") -> MemberTierView:
        """Like :meth:`find`, reading through to the members service on a miss; a malformed id is
        ``InvalidArgument``, an unknown member ``NotFound`` (reason ``MEMBER_NOT_FOUND``)."""
        if not _is_uuid(member_id):
            raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
        view = await self.find(member_id)
        if view is None and self.source is not None:
            facts = await self.source.get_member(self.tenant, member_id)
            if facts is not None:
                await self.fill(facts)
                view = await self.find(member_id)
        if view is None:
            raise NotFound(f"member {member_id!r} not found", reason="MEMBER_NOT_FOUND")
        return view
