"""The booking's projection of the members service: stores' time zones, members' booking windows
and the tenant's tier ladder. Same rules as the wallet's member directory
(``services.wallet.adapters.member_directory``), which is the pattern:

- ``apply_store`` upserts ``store_zones``; among events of one store the later occurred-at wins,
  so a StoreCreated redelivered after a StoreUpdated does not take the zone back;
- ``apply_registered`` inserts the member (or fills in the placeholder a booking inserted to lock
  on); a second copy refreshes the tier fields only while no TierChanged has been applied;
- ``apply_tier_changed`` needs the registration: when it overtook MemberRegistered it raises
  :class:`MemberNotYetRegistered`, the consumer rolls back and naks and the change is applied on a
  later delivery. A tier change supersedes the registration; among changes the later occurred-at
  wins;
- ``apply_ladder`` keeps the highest ladder ``version`` only; the newest ladder is authoritative for
  the booking window of every tier it lists.

``lock`` is the booking side: the member's row ``FOR UPDATE`` (inserted as a placeholder when the
projection has not seen the member), so concurrent bookings of one member count their open
appointments one after the other.

``require`` answers "does this member exist" for every request that names one: a member the
projection has not seen registered (no row, or a placeholder) is read through to the members
service (``kit.members_client``) and the snapshot fills the row — only an absent row or a
placeholder, stamped with the member record's own update time, so what the consumer wrote is never
overwritten and a late registration copy cannot take a changed tier back. Unknown to members too:
NOT_FOUND ``MEMBER_NOT_FOUND``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit.errors import InvalidArgument, NotFound
from kit.ids import is_resource_id
from kit.member_projection import MemberNotYetRegistered, MemberRows, Registration
from kit.members_client import MemberFacts
from kit.store_projection import StoreProjection
from services.booking.adapters.tables import member_windows as mw
from services.booking.adapters.tables import store_zones as sz
from services.booking.adapters.tables import tier_ladders as tl

__all__ = ["MemberNotYetRegistered", "MemberProjection", "MemberWindow"]


@dataclass(frozen=True)
class MemberWindow:
    member_id: str
    tier_id: str | None
    # the tier's booking window in days; None when the member is unknown or the tier sets none
    booking_window_days: int | None


# What a second copy of a registration (or one filling a placeholder) refreshes.
_REGISTRATION_REFRESH = ("tier_id", "booking_window_days", "registered_time", "update_time")


class MemberProjection(MemberRows):
    members = mw
    ladders = tl

    # ---------------------------------------------------------------- writes (from events)

    async def erase_member(self, member_id: str) -> None:
        """MemberErased: the booking history stays (times, services, prices, states: the member is
        its opaque id), every free text that may describe the person goes — appointment notes and
        staff reasons, feedback comments, complaint descriptions, replies and resolutions."""
        params = {"tenant": self.tenant, "member": member_id}
        for statement in (
            "UPDATE appointments SET notes = '', cancel_reason = NULL, override_reason = NULL"
            " WHERE tenant_id = :tenant AND member_id = :member"
            " AND (notes <> '' OR cancel_reason IS NOT NULL OR override_reason IS NOT NULL)",
            "UPDATE feedback SET comment = ''"
            " WHERE tenant_id = :tenant AND member_id = :member AND comment <> ''",
            "UPDATE complaints SET description = '', replies = '[]'::jsonb, resolution = NULL"
            " WHERE tenant_id = :tenant AND member_id = :member",
        ):
            await self.db.execute(text(statement), params)

    async def apply_store(self, store_id: str, time_zone: str, occurred_at: datetime) -> bool:
        """Record a store's zone; False when a later event of the store is applied already."""
        return await StoreProjection(self.db, self.tenant, sz).apply(store_id, time_zone, occurred_at)

    async def apply_stores(self, stores: Sequence[tuple[str, str, datetime]]) -> None:
        """:meth:`apply_store` for a batch of ``(store_id, time_zone, occurred_at)``, in one round trip."""
        await StoreProjection(self.db, self.tenant, sz).apply_many(stores)

    @staticmethod
    def registration(
        member_id: str, tier_id: str, booking_window_days: int, registered_time: datetime
    ) -> Registration:
        """A MemberRegistered as :meth:`apply_registrations` takes it."""
        return Registration(
            member_id, {"tier_id": tier_id, "booking_window_days": booking_window_days}, registered_time
        )

    async def apply_registered(  # type: ignore[override]
        self, member_id: str, tier_id: str, booking_window_days: int, registered_time: datetime
    ) -> bool:
        """Record a registration (filling a booking's placeholder); True when the row was written."""
        r = self.registration(member_id, tier_id, booking_window_days, registered_time)
        return await super().apply_registered(
            r.member_id, r.values, r.registered_time, refresh=_REGISTRATION_REFRESH
        )

    async def apply_registrations(self, registrations: Sequence[Registration]) -> None:  # type: ignore[override]
        """:meth:`apply_registered` for a batch of registrations (stream order), in one round trip."""
        await super().apply_registrations(registrations, refresh=_REGISTRATION_REFRESH)

    async def apply_tier_changed(  # type: ignore[override]
        self,
        member_id: str,
        tier_id: str,
        booking_window_days: int,
        *,
        changed_time: datetime | None = None,
    ) -> bool:
        """Move the member to ``tier_id``; False when a newer change is applied already. Raises
        :class:`MemberNotYetRegistered` when the registration has not been applied yet."""
        return await super().apply_tier_changed(
            member_id,
            {"tier_id": tier_id, "booking_window_days": booking_window_days},
            changed_time=changed_time,
        )

    async def fill(self, facts: MemberFacts) -> None:  # type: ignore[override]
        """Write a read-through snapshot into an absent row or a booking's placeholder."""
        await super().fill(
            facts.member_id,
            {"tier_id": facts.tier_id, "booking_window_days": facts.booking_window_days},
            registered_time=facts.create_time,
            update_time=facts.update_time,
        )

    # ---------------------------------------------------------------- reads

    async def _ladder(self) -> list[dict[str, Any]]:
        tiers = await self.db.scalar(select(tl.c.tiers).where(tl.c.tenant_id == self.tenant))
        return list(tiers or [])

    async def _view(self, member_id: str, tier_id: str | None, carried: int | None) -> MemberWindow:
        tiers = await self._ladder() if tier_id is not None else []
        return _window(member_id, tier_id, carried, tiers)

    async def find(self, member_id: str) -> MemberWindow:
        """The member's booking window (a read; a booking uses :meth:`lock`)."""
        row = (
            await self.db.execute(
                select(mw.c.tier_id, mw.c.booking_window_days).where(
                    mw.c.tenant_id == self.tenant, mw.c.member_id == member_id
                )
            )
        ).first()
        if row is None:
            return MemberWindow(member_id, None, None)
        return await self._view(member_id, row.tier_id, row.booking_window_days)

    async def require(self, member_id: str, field: str = "member") -> MemberWindow:
        """The member's booking window; INVALID_ARGUMENT for a malformed id, NOT_FOUND
        ``MEMBER_NOT_FOUND`` when neither the projection nor the members service knows the member."""
        if not is_resource_id(member_id):
            raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
        # One round trip for a registered member: the row and the tenant's ladder together.
        row = (
            await self.db.execute(_WINDOW_AND_LADDER, {"tenant": self.tenant, "member": member_id})
        ).first()
        if row is not None and row.registered_time is not None:
            return _window(member_id, row.tier_id, row.booking_window_days, list(row.tiers or []))
        facts = await self.source.get_member(self.tenant, member_id) if self.source else None
        if facts is None:
            raise NotFound(f"members/{member_id} not found", reason="MEMBER_NOT_FOUND")
        await self.fill(facts)
        return await self.find(member_id)

    async def lock(self, member_id: str) -> MemberWindow:
        """Lock the member's row for the rest of the transaction (inserting a placeholder when the
        projection has not seen the member) and return the member's booking window."""
        await self.db.execute(
            pg_insert(mw)
            .values(tenant_id=self.tenant, member_id=member_id)
            .on_conflict_do_nothing(index_elements=[mw.c.tenant_id, mw.c.member_id])
        )
        row = (
            await self.db.execute(
                select(mw.c.tier_id, mw.c.booking_window_days)
                .where(mw.c.tenant_id == self.tenant, mw.c.member_id == member_id)
                .with_for_update()
            )
        ).one()
        return await self._view(member_id, row.tier_id, row.booking_window_days)


# Every booking reads it: built once (building it per call cost more Python than running it).
_WINDOW_AND_LADDER = select(
    mw.c.registered_time,
    mw.c.tier_id,
    mw.c.booking_window_days,
    select(tl.c.tiers).where(tl.c.tenant_id == bindparam("tenant")).scalar_subquery().label("tiers"),
).where(mw.c.tenant_id == bindparam("tenant"), mw.c.member_id == bindparam("member"))


def _window(
    member_id: str, tier_id: str | None, carried: int | None, tiers: list[dict[str, Any]]
) -> MemberWindow:
    """The member's booking window: the newest ladder's for the member's tier when it lists one,
    else the one the member's last event carried."""
    days = carried
    if tier_id is not None:
        entry = next((t for t in tiers if t.get("tier_id") == tier_id), None)
        if entry is not None and "booking_window_days" in entry:
            days = int(entry["booking_window_days"])
    return MemberWindow(member_id, tier_id, days or None)
