"""A service's projection of the members service's members and tier ladder: the ordering rules.

The wallet (``member_directory``) and booking (``member_windows``) each keep one row per member —
``(tenant_id, member_id, <the tier fields the service needs>, registered_time, update_time)`` —
and one ``tier_ladders`` row per tenant, fed by members' events. A failed delivery is nak'ed and
retried *after* later events of the same member, so the writes do not rely on arrival order:

- :meth:`MemberRows.apply_registered` (:meth:`MemberRows.apply_registrations` for many members
  in one executemany, the consumer's batch) inserts the member; a second copy of the registration (or a
  registration arriving after a service's own placeholder row, ``registered_time`` NULL) refreshes
  the ``refresh`` columns only while no TierChanged has been applied (``update_time ==
  registered_time``): a member's tier changes only after the registration, so a late copy must not
  take it back to the entry tier;
- :meth:`MemberRows.apply_tier_changed` needs the registration: when TierChanged overtook
  MemberRegistered it raises :class:`MemberNotYetRegistered`, the consumer rolls back (inbox row
  included) and naks, and the change is applied on a later delivery. A tier change always
  supersedes the registration; among changes the later occurred-at wins;
- :meth:`MemberRows.fill` writes a read-through snapshot (``kit.members_client``) only into an
  absent row or a placeholder, stamped with the member record's own update time, so what the
  consumer wrote is never overwritten;
- :meth:`MemberRows.apply_ladder` keeps the highest ladder ``version`` only.

Services subclass :class:`MemberRows` with their tables and reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.members_client import MembersClient

__all__ = ["MemberNotYetRegistered", "MemberRows", "Registration"]

Db = AsyncSession | AsyncConnection


class MemberNotYetRegistered(RuntimeError):
    """A member event arrived before the member's registration; retry it later (the consumer naks)."""


_REGISTERED_UPSERTS: dict[tuple[Table, tuple[str, ...]], Any] = {}


class Registration(NamedTuple):
    """One MemberRegistered, as :meth:`MemberRows.apply_registrations` takes it."""

    member_id: str
    values: Mapping[str, Any]  # the service's columns
    registered_time: datetime


class MemberRows:
    """The tenant-scoped writes of a member projection; ``members`` / ``ladders`` are the tables."""

    members: ClassVar[Table]
    ladders: ClassVar[Table]

    def __init__(self, db: Db, tenant: str, source: MembersClient | None = None):
        if not tenant:
            raise ValueError("a member projection needs a tenant")
        self.db, self.tenant, self.source = db, tenant, source

    def _registered_upsert(self, refresh: Sequence[str]) -> Any:
        key = (self.members, tuple(refresh))
        stmt = _REGISTERED_UPSERTS.get(key)
        if stmt is None:
            # Built once per table: constructing the statement costs more than running it.
            m = self.members.c
            insert = pg_insert(self.members)
            stmt = _REGISTERED_UPSERTS[key] = insert.on_conflict_do_update(
                index_elements=[m.tenant_id, m.member_id],
                set_={column: insert.excluded[column] for column in refresh},
                # A placeholder, or a row holding only the registration: a TierChanged applied since wins.
                where=or_(m.registered_time.is_(None), m.update_time == m.registered_time),
            )
        return stmt

    def _registered_row(self, registration: Registration) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant,
            "member_id": registration.member_id,
            "registered_time": registration.registered_time,
            "update_time": registration.registered_time,
            **registration.values,
        }

    async def apply_registered(
        self, member_id: str, values: Mapping[str, Any], registered_time: datetime, *, refresh: Sequence[str]
    ) -> bool:
        """Record a registration (``values``: the service's columns); True when the row was written
        (inserted, or its ``refresh`` columns refreshed)."""
        row = self._registered_row(Registration(member_id, values, registered_time))
        stmt = self._registered_upsert(refresh).values(**row).returning(self.members.c.member_id)
        return (await self.db.execute(stmt)).first() is not None

    async def apply_registrations(
        self, registrations: Sequence[Registration], *, refresh: Sequence[str]
    ) -> None:
        """:meth:`apply_registered` for each of ``registrations`` (stream order), as ONE executemany
        of the same upsert (a constant statement, prepared once, its rows sent in one round trip).

        The outcome is the same as one call each, in order: a member's first registration gives the
        inserted row, a later copy in the batch only its ``refresh`` columns (the upsert cannot
        touch one row twice, so the copies are merged here first).
        """
        rows: dict[str, dict[str, Any]] = {}
        for registration in registrations:
            row = self._registered_row(registration)
            first = rows.get(registration.member_id)
            if first is None:
                rows[registration.member_id] = row
            else:
                first.update({column: row[column] for column in refresh})
        if rows:
            await self.db.execute(self._registered_upsert(refresh), list(rows.values()))

    async def apply_tier_changed(
        self, member_id: str, values: Mapping[str, Any], *, changed_time: datetime | None = None
    ) -> bool:
        """Apply a tier change (``values``: the service's tier columns); False when a newer change
        is applied already. ``changed_time`` is the event's occurred-at; without it the change is
        applied unconditionally and stamped with the database's clock.

        Raises :class:`MemberNotYetRegistered` when the registration has not been applied yet.
        """
        m = self.members.c
        registered = (m.tenant_id == self.tenant, m.member_id == member_id, m.registered_time.is_not(None))
        stmt = (
            update(self.members)
            .where(*registered)
            .values(update_time=changed_time if changed_time is not None else func.now(), **values)
            .returning(m.member_id)
        )
        if changed_time is not None:
            # Supersedes the registration always, an earlier tier change only.
            stmt = stmt.where(or_(m.update_time == m.registered_time, m.update_time <= changed_time))
        if (await self.db.execute(stmt)).first() is not None:
            return True
        if (await self.db.execute(select(m.member_id).where(*registered))).first() is None:
            raise MemberNotYetRegistered(f"member {member_id} of tenant {self.tenant} is not registered yet")
        return False  # stale: a newer change of this member was applied first

    async def fill(
        self, member_id: str, values: Mapping[str, Any], *, registered_time: datetime, update_time: datetime
    ) -> None:
        """Write a read-through snapshot into an absent row or a placeholder (never over what the
        consumer wrote)."""
        m = self.members.c
        row = {"registered_time": registered_time, "update_time": update_time, **values}
        stmt = pg_insert(self.members).values(tenant_id=self.tenant, member_id=member_id, **row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[m.tenant_id, m.member_id],
            set_={column: stmt.excluded[column] for column in row},
            where=m.registered_time.is_(None),
        )
        await self.db.execute(stmt)

    async def apply_ladder(self, version: int, tiers: list[dict[str, Any]]) -> bool:
        """Store the tenant's ladder when ``version`` is newer than the stored one; True when stored."""
        t = self.ladders.c
        stmt = pg_insert(self.ladders).values(tenant_id=self.tenant, version=version, tiers=list(tiers))
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tenant_id],
            set_={"version": stmt.excluded.version, "tiers": stmt.excluded.tiers, "update_time": func.now()},
            where=t.version < stmt.excluded.version,
        ).returning(t.version)
        return (await self.db.execute(stmt)).first() is not None
